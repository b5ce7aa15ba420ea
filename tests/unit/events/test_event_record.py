"""Recording events in the store: idempotent on (type, event id)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from crmsync.events import Event, record_events
from crmsync.events.tables import EVENT_TABLES
from crmsync.store import create_engine_for

AT = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[sa.Engine]:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'store.db'}")
    yield engine
    engine.dispose()


def event(type_: str, id_: str, **extra: object) -> Event:
    return Event.model_validate(
        {
            "type": type_,
            "id": id_,
            "profile_id": 7,
            "delivery_id": "D1",
            "occurred_at": AT,
            **extra,
        }
    )


def rows(engine: sa.Engine, type_: str) -> list[dict[str, object]]:
    table = EVENT_TABLES[type_]  # type: ignore[index]
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.select(table).order_by(table.c.seq)).mappings()]


def test_each_type_lands_in_its_table_with_its_details(engine: sa.Engine) -> None:
    result = record_events(
        engine,
        [
            event("send", "e1"),
            event("open", "e1"),
            event("click", "e1", url="https://x.test/"),
            event("bounce", "e1", bounce_type="soft", reason="full"),
        ],
    )
    assert (result.added, result.duplicates) == (4, 0)
    assert rows(engine, "click")[0]["url"] == "https://x.test/"
    bounce = rows(engine, "bounce")[0]
    assert (bounce["bounce_type"], bounce["reason"]) == ("soft", "full")
    send = rows(engine, "send")[0]
    assert send["occurred_at"] == AT
    assert send["sent_at"] is None


def test_recording_again_adds_nothing_and_the_first_recording_wins(engine: sa.Engine) -> None:
    record_events(engine, [event("send", "e1", delivery_name="first")])
    again = record_events(
        engine,
        [event("send", "e1", delivery_name="second"), event("send", "e2"), event("send", "e2")],
    )
    assert (again.added, again.duplicates) == (1, 2)
    assert [(r["event_id"], r["delivery_name"]) for r in rows(engine, "send")] == [
        ("e1", "first"),
        ("e2", None),
    ]


def test_many_events_in_chunks(engine: sa.Engine) -> None:
    result = record_events(engine, (event("open", f"o{i}") for i in range(1_234)))
    assert result.added == 1_234
    assert record_events(engine, [event("open", "o1233")]).added == 0
