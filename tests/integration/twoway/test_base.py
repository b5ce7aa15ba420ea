"""The base of the two-way merge round-trips every Campaign type, is written in the caller's
transaction (upserted, rolled back with it) and is forgotten per record or per mapping (SQLite
and PostgreSQL)."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
import sqlalchemy as sa

from crmsync.state import ensure_store_schema
from crmsync.store.types import CampaignType
from crmsync.twoway import Base, forget_bases, forget_mapping, load_bases, save_bases
from crmsync.twoway.tables import BASES

AT = datetime(2025, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
TYPES = {
    "email": CampaignType.STRING,
    "notes": CampaignType.TEXT,
    "level": CampaignType.INTEGER,
    "active": CampaignType.BOOLEAN,
    "score": CampaignType.DOUBLE,
    "ratio": CampaignType.FLOAT,
    "born": CampaignType.DATE,
    "seen_at": CampaignType.DATETIME,
}


def base(**values: object) -> Base:
    return Base(values, {name: TYPES[name] for name in values}, "v1", AT)


@pytest.fixture
def store(store_engine: sa.Engine) -> sa.Engine:
    ensure_store_schema(store_engine)
    return store_engine


def test_every_campaign_type_round_trips(store: sa.Engine) -> None:
    paris = timezone(timedelta(hours=1))
    full = base(
        email="ada@example.com",
        notes="é\nline",
        level=-(2**63),
        active=False,
        score=Decimal("12345678.901"),
        ratio=0.1,
        born=date(1815, 12, 10),
        seen_at=datetime(2025, 1, 2, 4, 4, 5, 6, tzinfo=paris),
    )
    empty = base(**dict.fromkeys(TYPES))
    special = base(active=True, score=float("nan"), ratio=float("-inf"), level=2**63 - 1)
    with store.begin() as conn:
        save_bases(conn, "contacts", {"C-1": full, "C-2": empty, "C-3": special})
    with store.connect() as conn:
        found = load_bases(conn, "contacts", ["C-1", "C-2", "C-3", "C-9"])
    assert set(found) == {"C-1", "C-2", "C-3"}
    one = found["C-1"]
    assert dict(one.values) == {
        "email": "ada@example.com",
        "notes": "é\nline",
        "level": -(2**63),
        "active": False,
        "score": 12345678.901,
        "ratio": 0.1,
        "born": date(1815, 12, 10),
        "seen_at": AT,
    }
    assert one.values["seen_at"].tzinfo is UTC
    assert type(one.values["score"]) is float
    assert type(one.values["active"]) is bool
    assert dict(one.types) == TYPES
    assert (one.crm_version, one.crm_modified_at) == ("v1", AT)
    assert one.updated_at is not None
    assert one.updated_at.tzinfo is UTC
    assert dict(found["C-2"].values) == dict.fromkeys(TYPES)
    odd = found["C-3"].values
    assert odd["active"] is True
    assert odd["level"] == 2**63 - 1
    assert math.isnan(odd["score"])
    assert odd["ratio"] == float("-inf")


def test_saving_again_keeps_one_row_with_the_newer_values(store: sa.Engine) -> None:
    with store.begin() as conn:
        save_bases(conn, "contacts", {"C-1": base(email="old@example.com", level=1)})
    newer = Base({"email": "new@example.com"}, {"email": CampaignType.STRING}, "v2", None)
    with store.begin() as conn:
        save_bases(conn, "contacts", {"C-1": newer})
        save_bases(conn, "contacts", {"C-1": newer})
    with store.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(BASES)) == 1
        found = load_bases(conn, "contacts", ["C-1"])["C-1"]
    assert dict(found.values) == {"email": "new@example.com"}
    assert (found.crm_version, found.crm_modified_at) == ("v2", None)


def test_a_crm_time_in_any_zone_is_kept_as_its_instant_and_a_save_has_one_time(
    store: sa.Engine,
) -> None:
    paris = timezone(timedelta(hours=1))
    local = Base(
        {"level": 1}, {"level": CampaignType.INTEGER}, "v1", datetime(2025, 1, 2, 4, 4, 5, 6, paris)
    )
    with store.begin() as conn:
        save_bases(conn, "contacts", {"C-1": local, "C-2": base(level=2)})
    with store.connect() as conn:
        found = load_bases(conn, "contacts", ["C-1", "C-2"])
    moment = found["C-1"].crm_modified_at
    assert moment == AT
    assert moment is not None
    assert moment.tzinfo is UTC
    assert found["C-1"].updated_at is not None
    assert found["C-1"].updated_at == found["C-2"].updated_at


def test_many_bases_are_saved_in_batches_and_kept_per_mapping(store: sa.Engine) -> None:
    keys = [f"C-{n}" for n in range(1234)]
    with store.begin() as conn:
        save_bases(conn, "contacts", {key: base(level=n) for n, key in enumerate(keys)})
        save_bases(conn, "leads", {"C-1": base(level=-1)})
    with store.connect() as conn:
        found = load_bases(conn, "contacts", keys)
        leads = load_bases(conn, "leads", keys)
    assert {key: b.values["level"] for key, b in found.items()} == {
        key: n for n, key in enumerate(keys)
    }
    assert {key: b.values["level"] for key, b in leads.items()} == {"C-1": -1}


def test_a_rolled_back_transaction_leaves_no_base(store: sa.Engine) -> None:
    with store.connect() as conn:
        with conn.begin() as transaction:
            save_bases(conn, "contacts", {"C-1": base(level=1)})
            assert set(load_bases(conn, "contacts", ["C-1"])) == {"C-1"}
            transaction.rollback()
        assert load_bases(conn, "contacts", ["C-1"]) == {}


def test_bases_are_forgotten_per_record_and_per_mapping(store: sa.Engine) -> None:
    with store.begin() as conn:
        save_bases(conn, "contacts", {key: base(level=1) for key in ("C-1", "C-2", "C-3")})
        save_bases(conn, "leads", {"C-1": base(level=2)})
        assert forget_bases(conn, "contacts", ["C-1", "C-9"]) == 1
    with store.connect() as conn:
        assert set(load_bases(conn, "contacts", ["C-1", "C-2", "C-3"])) == {"C-2", "C-3"}
    with store.begin() as conn:
        assert forget_mapping(conn, "contacts") == 2
    with store.connect() as conn:
        assert load_bases(conn, "contacts", ["C-2", "C-3"]) == {}
        assert set(load_bases(conn, "leads", ["C-1"])) == {"C-1"}


def test_a_value_of_the_wrong_type_is_refused_with_its_record_and_field(
    store: sa.Engine,
) -> None:
    naive = base(seen_at=datetime(2025, 1, 2))
    with store.begin() as conn:
        with pytest.raises(ValueError, match=r"contacts record 'C-1', field 'level'.*str"):
            save_bases(conn, "contacts", {"C-1": base(level="7")})
        with pytest.raises(ValueError, match=r"field 'seen_at'.*naive"):
            save_bases(conn, "contacts", {"C-1": naive})
        with pytest.raises(ValueError, match=r"field 'born'.*datetime"):
            save_bases(conn, "contacts", {"C-1": base(born=AT)})
        with pytest.raises(ValueError, match="record key"):
            save_bases(conn, "contacts", {"": base(level=1)})
        assert load_bases(conn, "contacts", ["C-1"]) == {}


def test_a_field_whose_type_changed_or_is_new_has_no_base() -> None:
    kept = base(email="ada@example.com", level=3)
    now = {"email": CampaignType.STRING, "level": CampaignType.DOUBLE, "city": CampaignType.STRING}
    assert kept.values_for(now) == {"email": "ada@example.com"}
    with pytest.raises(ValueError, match="a type for each value"):
        Base({"email": "x"}, {}, None, None)


def test_the_values_a_round_wrote_over_round_trip_beside_the_values(store: sa.Engine) -> None:
    written = Base(
        {"email": "new@example.com", "level": 2, "born": None},
        {"email": CampaignType.STRING, "level": CampaignType.INTEGER, "born": CampaignType.DATE},
        "v3",
        AT,
        written_over={"email": "old@example.com", "born": date(2000, 1, 1)},
    )
    with store.begin() as conn:
        save_bases(conn, "contacts", {"C-1": written, "C-2": base(level=1)})
    with store.connect() as conn:
        found = load_bases(conn, "contacts", ["C-1", "C-2"])
    assert dict(found["C-1"].written_over) == {
        "email": "old@example.com",
        "born": date(2000, 1, 1),
    }
    assert dict(found["C-1"].values) == dict(written.values)
    assert dict(found["C-2"].written_over) == {}
