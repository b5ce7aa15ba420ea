"""What Campaign → CRM rounds sent is kept per round (SQLite and PostgreSQL): a CRM change that
holds one round's values settles that round alone, never one still writing."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from crmsync.state import ensure_store_schema
from crmsync.store.types import CampaignType
from crmsync.twoway.sent import forget_rounds, landed, load_sent, save_sent, with_sent

FIELDS = {"city": CampaignType.STRING, "last": CampaignType.STRING}


@pytest.fixture
def store(store_engine: sa.Engine) -> sa.Engine:
    ensure_store_schema(store_engine)
    return store_engine


def test_each_round_is_kept_and_settled_on_its_own(store: sa.Engine) -> None:
    with store.begin() as conn:
        killed = save_sent(conn, "contacts", {"C-1": {"city": "Paris"}}, FIELDS)
        writing = save_sent(
            conn, "contacts", {"C-1": {"city": "Oslo"}, "C-2": {"last": "Byron"}}, FIELDS
        )
    assert killed != writing
    with store.connect() as conn:
        sent = load_sent(conn, "contacts", ["C-1", "C-2", "C-3"])
    assert set(sent) == {"C-1", "C-2"}
    assert [each.round for each in sent["C-1"]] == [killed, writing]
    assert dict(sent["C-1"][0].values.values) == {"city": "Paris"}

    crm = {"city": "Paris", "last": "Lovelace"}  # the killed round's write is in the CRM
    assert landed(sent["C-1"], crm, FIELDS) == [killed]
    assert with_sent(None, sent["C-1"], crm, FIELDS) == {"city": "Paris"}
    with store.begin() as conn:
        forget_rounds(conn, "contacts", [("C-1", killed)])
    with store.connect() as conn:
        left = load_sent(conn, "contacts", ["C-1", "C-2"])
    assert [each.round for each in left["C-1"]] == [writing]  # the round still writing stays
    assert [each.round for each in left["C-2"]] == [writing]

    with store.begin() as conn:
        forget_rounds(conn, "contacts", [("C-1", writing), ("C-2", writing)])
        forget_rounds(conn, "contacts", [])
    with store.connect() as conn:
        assert load_sent(conn, "contacts", ["C-1", "C-2"]) == {}


def test_a_crm_that_holds_none_of_a_rounds_values_settles_nothing(store: sa.Engine) -> None:
    with store.begin() as conn:
        save_sent(conn, "contacts", {"C-1": {"city": "Paris", "last": "Byron"}}, FIELDS)
    with store.connect() as conn:
        sent = load_sent(conn, "contacts", ["C-1"])["C-1"]
    assert landed(sent, {"city": "Rome", "last": "Lovelace"}, FIELDS) == []
    assert with_sent(None, sent, {"city": "Rome", "last": "Lovelace"}, FIELDS) is None
    # One value of the round is enough: the write was made, and another change followed it.
    assert landed(sent, {"city": "Paris", "last": "Shelley"}, FIELDS) == [sent[0].round]
