"""The conflict log of the two-way merge: written in the caller's transaction, listed newest
first per mapping and record, counted, and shown beside the Campaign edits waiting for the merge
(SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from crmsync.config.models import InboundMapping
from crmsync.state import ensure_store_schema
from crmsync.store.publish import publish
from crmsync.twoway import (
    ConflictEntry,
    TwoWayFigures,
    count_conflicts,
    crmsync_writes,
    install_capture,
    list_conflicts,
    record_conflicts,
    two_way_figures,
    waiting_edits,
)
from crmsync.twoway.rule import Conflict, Reason, Winner

CAMPAIGN_AT = datetime(2025, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
CRM_AT = CAMPAIGN_AT + timedelta(seconds=1)
DECIDED = CAMPAIGN_AT + timedelta(minutes=1)


@pytest.fixture
def store(store_engine: sa.Engine) -> sa.Engine:
    ensure_store_schema(store_engine)
    return store_engine


def test_a_conflict_is_kept_with_both_values_and_times_the_winner_and_why(
    store: sa.Engine,
) -> None:
    conflicts = [
        Conflict(
            "email", "ada@campaign", "ada@crm", CAMPAIGN_AT, CRM_AT, Winner.CRM, Reason.CRM_NEWER
        ),
        Conflict(
            "score",
            Decimal("1.50"),
            float("nan"),
            None,
            CRM_AT,
            Winner.CRM,
            Reason.TIME_UNKNOWN_TO_CRM,
        ),
        Conflict(
            "born", date(1815, 12, 10), None, CAMPAIGN_AT, None, Winner.CRM, Reason.NO_BASE_TO_CRM
        ),
    ]
    with store.begin() as conn:
        written = record_conflicts(conn, "contacts", "C-1", conflicts, found_by="crm", at=DECIDED)
    assert written == 3
    with store.connect() as conn:
        found = list_conflicts(conn, "contacts")
    assert [e.field for e in found] == ["born", "score", "email"]
    born, score, email = found
    assert email == ConflictEntry(
        id=email.id,
        mapping="contacts",
        record_key="C-1",
        field="email",
        campaign_value="ada@campaign",
        crm_value="ada@crm",
        campaign_changed_at=CAMPAIGN_AT,
        crm_changed_at=CRM_AT,
        winner="crm",
        reason="crm_newer",
        found_by="crm",
        decided_at=DECIDED,
    )
    assert email.decided_at.tzinfo is UTC
    assert (score.campaign_value, score.crm_value) == ("1.50", "nan")
    assert (score.campaign_changed_at, score.reason) == (None, "time_unknown_to_crm")
    assert (born.campaign_value, born.crm_value, born.crm_changed_at) == ("1815-12-10", None, None)


def test_conflicts_are_listed_newest_first_per_mapping_and_record(store: sa.Engine) -> None:
    def one(field: str) -> Conflict:
        return Conflict(field, 1, 2, CRM_AT, CAMPAIGN_AT, Winner.CAMPAIGN, Reason.CAMPAIGN_NEWER)

    with store.begin() as conn:
        record_conflicts(conn, "contacts", "C-1", [one("a"), one("b")], found_by="campaign")
        record_conflicts(conn, "contacts", "C-2", [one("c")], found_by="crm")
        record_conflicts(conn, "leads", "C-1", [one("d")], found_by="crm")
        record_conflicts(conn, "contacts", "C-1", [one("e")], found_by="crm")
    with store.connect() as conn:
        assert [e.field for e in list_conflicts(conn, "contacts")] == ["e", "c", "b", "a"]
        assert [e.field for e in list_conflicts(conn, "contacts", limit=2)] == ["e", "c"]
        assert [e.field for e in list_conflicts(conn, "contacts", record_key="C-1")] == [
            "e",
            "b",
            "a",
        ]
        assert [e.found_by for e in list_conflicts(conn, "contacts", record_key="C-1")] == [
            "crm",
            "campaign",
            "campaign",
        ]
        assert list_conflicts(conn, "contacts", record_key="C-9") == []
        assert [e.field for e in list_conflicts(conn, "leads")] == ["d"]
        assert (count_conflicts(conn, "contacts"), count_conflicts(conn, "leads")) == (4, 1)
        assert count_conflicts(conn, "orders") == 0
    now = datetime.now(UTC)
    assert all(abs(e.decided_at - now) < timedelta(minutes=1) for e in list_conflicts_of(store))


def list_conflicts_of(store: sa.Engine) -> list[ConflictEntry]:
    with store.connect() as conn:
        return list_conflicts(conn, "contacts")


def test_a_rolled_back_merge_logs_no_conflict(store: sa.Engine) -> None:
    conflict = Conflict("a", 1, 2, None, None, Winner.CRM, Reason.TIME_UNKNOWN_TO_CRM)
    with store.connect() as conn:
        with conn.begin() as transaction:
            record_conflicts(conn, "contacts", "C-1", [conflict], found_by="crm")
            assert count_conflicts(conn, "contacts") == 1
            transaction.rollback()
        assert count_conflicts(conn, "contacts") == 0


def test_two_way_mappings_show_their_conflicts_and_the_campaign_edits_waiting(
    store: sa.Engine,
) -> None:
    publish(store, [])
    install_capture(store, "profile", ["email"], key="external_id")
    insert = sa.text(
        "INSERT INTO profile (external_id, email, created_at, modified_at)"
        " VALUES (:key, :email, :at, :at)"
    ).bindparams(sa.bindparam("at", type_=sa.DateTime(timezone=True)))
    with store.begin() as conn, crmsync_writes(conn):
        conn.execute(insert, [{"key": "C-1", "email": "a@crm", "at": CAMPAIGN_AT}])
    with store.begin() as conn:  # two edits made in Campaign, one of them a new record
        conn.execute(sa.text("UPDATE profile SET email = 'a@campaign' WHERE external_id = 'C-1'"))
        conn.execute(insert, {"key": "C-2", "email": "b@campaign", "at": CAMPAIGN_AT})
        conflict = Conflict("email", "x", "y", None, None, Winner.CRM, Reason.TIE_TO_CRM)
        record_conflicts(conn, "contacts", "C-1", [conflict], found_by="crm")
    mapping = {
        "connection": "dynamics",
        "primary_key": {"campaign": "external_id"},
        "fields": [{"crm": "emailaddress1", "campaign": "email"}],
    }
    contacts = InboundMapping.model_validate(
        mapping
        | {"name": "contacts", "crm_table": "contact", "resource": "profile", "two_way": True}
    )
    leads = InboundMapping.model_validate(
        mapping | {"name": "leads", "crm_table": "lead", "resource": "lead"}
    )
    with store.connect() as conn:
        assert waiting_edits(conn, "profile") == 2
        assert waiting_edits(conn, "lead") == 0
        figures = two_way_figures(conn, [contacts, leads])
    assert figures == {"contacts": TwoWayFigures(conflicts=1, waiting_edits=2)}
