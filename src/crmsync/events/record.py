"""Recording events in the store: idempotent on the event id (per type)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from crmsync.config.models import EventType
from crmsync.events.model import EVENT_TYPES, Event
from crmsync.events.tables import EVENT_TABLES, ensure_tables

__all__ = ["RecordResult", "record_events"]

_CHUNK = 500


@dataclass(frozen=True, slots=True)
class RecordResult:
    """``added`` new events; ``duplicates``: events whose id (of that type) was already held."""

    added: int
    duplicates: int


def _row(event: Event, now: datetime) -> dict[str, Any]:
    row: dict[str, Any] = {
        "event_id": event.id,
        "profile_id": event.profile_id,
        "delivery_id": event.delivery_id,
        "delivery_name": event.delivery_name,
        "occurred_at": event.occurred_at,
        "recorded_at": now,
    }
    if event.type == "click":
        row["url"] = event.url
    if event.type == "bounce":
        row["bounce_type"] = event.bounce_type.value if event.bounce_type else None
        row["reason"] = event.reason
    return row


def record_events(
    engine: sa.Engine, events: Iterable[Event], *, now: datetime | None = None
) -> RecordResult:
    """Add ``events`` in one transaction; an event whose id is already recorded adds nothing.

    The first recording of an id wins: a later event with the same type and id (even with other
    values) is counted as a duplicate and dropped, so that re-importing a file is harmless.
    """
    ensure_tables(engine)
    stamp = now or datetime.now(UTC)
    by_type: dict[EventType, dict[str, dict[str, Any]]] = {name: {} for name in EVENT_TYPES}
    total = 0
    for event in events:
        total += 1
        by_type[event.type].setdefault(event.id, _row(event, stamp))
    added = 0
    with engine.begin() as conn:
        dialect = sqlite if conn.dialect.name == "sqlite" else postgresql
        for event_type, rows in by_type.items():
            table = EVENT_TABLES[event_type]
            values = list(rows.values())
            for start in range(0, len(values), _CHUNK):
                chunk = values[start : start + _CHUNK]
                stmt = dialect.insert(table).values(chunk)
                stmt = stmt.on_conflict_do_nothing(index_elements=[table.c.event_id])
                added += len(conn.execute(stmt.returning(table.c.seq)).all())
    return RecordResult(added=added, duplicates=total - added)
