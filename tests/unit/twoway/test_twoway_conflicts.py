"""The conflict log keeps each Campaign value as JSON a person reads as it is, and refuses what
it cannot log before writing anything."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from crmsync.state import ensure_store_schema
from crmsync.store import create_engine_for
from crmsync.twoway.conflicts import json_value, list_conflicts, record_conflicts
from crmsync.twoway.rule import Conflict, Reason, Winner

AT = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
PARIS = timezone(timedelta(hours=1))


@pytest.mark.parametrize(
    ("value", "kept"),
    [
        (None, None),
        ("é\nline", "é\nline"),
        ("", ""),
        (-(2**63), -(2**63)),
        (True, True),
        (False, False),
        (0.1, 0.1),
        (1e100, 1e100),
        (float("nan"), "nan"),
        (float("inf"), "inf"),
        (float("-inf"), "-inf"),
        (Decimal("12.50"), "12.50"),
        (Decimal("NaN"), "nan"),
        (Decimal("sNaN"), "nan"),
        (Decimal("-Infinity"), "-inf"),
        (date(1815, 12, 10), "1815-12-10"),
        (datetime(2025, 1, 2, 4, 4, 5, 6, tzinfo=PARIS), "2025-01-02T03:04:05.000006+00:00"),
    ],
)
def test_each_campaign_value_is_kept_readable(value: Any, kept: Any) -> None:
    assert json_value(value) == kept
    assert type(json_value(value)) is type(kept)


def test_what_is_no_campaign_value_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        json_value(datetime(2025, 1, 2))
    with pytest.raises(TypeError, match="bytes"):
        json_value(b"x")


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sa.Connection]:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'store.db'}")
    ensure_store_schema(engine)
    with engine.begin() as connection:
        yield connection
    engine.dispose()


def conflict(campaign_value: Any = "a", crm_value: Any = "b", **times: Any) -> Conflict:
    return Conflict(
        field="email",
        campaign_value=campaign_value,
        crm_value=crm_value,
        campaign_changed_at=times.get("campaign_at", AT),
        crm_changed_at=times.get("crm_at", AT),
        winner=Winner.CRM,
        reason=Reason.TIE_TO_CRM,
    )


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"record_key": ""}, "record key"),
        ({"found_by": "plan"}, "found_by must be one of crm, campaign, not 'plan'"),
        ({"at": datetime(2025, 1, 2)}, "naive decision time"),
        ({"conflicts": [conflict(crm_at=datetime(2025, 1, 2))]}, "naive change time"),
        ({"conflicts": [conflict(b"x")]}, r"contacts record 'C-1', field 'email'.*bytes"),
        ({"conflicts": [conflict(2**64)]}, r"contacts record 'C-1', field 'email'"),
    ],
)
def test_what_cannot_be_logged_is_refused_before_anything_is_written(
    conn: sa.Connection, arguments: dict[str, Any], message: str
) -> None:
    call: dict[str, Any] = {"record_key": "C-1", "conflicts": [conflict()], "found_by": "crm"}
    call |= arguments
    with pytest.raises(ValueError, match=message):
        record_conflicts(
            conn,
            "contacts",
            call.pop("record_key"),
            [conflict(), *call.pop("conflicts")],
            **call,
        )
    assert list_conflicts(conn, "contacts") == []


def test_no_conflict_writes_nothing(conn: sa.Connection) -> None:
    assert record_conflicts(conn, "contacts", "C-1", [], found_by="campaign") == 0
    assert list_conflicts(conn, "contacts") == []
    with pytest.raises(ValueError, match="limit"):
        list_conflicts(conn, "contacts", limit=0)
