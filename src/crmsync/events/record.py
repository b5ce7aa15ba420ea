"""Recording events in the store: idempotent on the event id (per type).

Unsubscribes are recorded in the same transaction and opt their profiles out there (see
:mod:`crmsync.events.unsubscribe`), writing the opt-in/out outbox: its tables are created when
they do not exist yet, so that an unsubscribe can be recorded before the optinout workflow ever
ran.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from crmsync.config.models import EventType
from crmsync.events.model import EVENT_TYPES, AnyEvent, Event, Unsubscribe
from crmsync.events.tables import EVENT_TABLES
from crmsync.events.unsubscribe import check_profile_table, record_unsubscribes
from crmsync.state.upgrade import ensure_store_schema
from crmsync.store import build_metadata, definitions_with_profile
from crmsync.store.engine import write_transaction

__all__ = ["RecordResult", "record_events"]

_CHUNK = 500


@dataclass(frozen=True, slots=True)
class RecordResult:
    """``added`` new events; ``duplicates``: events whose id (of that type) was already held;
    ``opted_out``: new unsubscribes that changed their profile's opt-outs."""

    added: int
    duplicates: int
    opted_out: int = 0


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
    engine: sa.Engine,
    events: Iterable[AnyEvent],
    *,
    now: datetime | None = None,
    profile: sa.Table | None = None,
) -> RecordResult:
    """Add ``events`` in one transaction; an event whose id is already recorded adds nothing.

    The first recording of an id wins: a later event with the same type and id (even with other
    values) is counted as a duplicate and dropped, so that re-importing a file is harmless.
    Unsubscribes change their profile's opt-outs in that transaction; ``profile`` is the
    configured profile table (default: the built-in definition).
    """
    stamp = now or datetime.now(UTC)
    by_type: dict[EventType, dict[str, dict[str, Any]]] = {name: {} for name in EVENT_TYPES}
    unsubscribes: list[Unsubscribe] = []
    total = 0
    for event in events:
        total += 1
        if isinstance(event, Unsubscribe):
            unsubscribes.append(event)
        else:
            by_type[event.type].setdefault(event.id, _row(event, stamp))
    table_of_profiles = profile if profile is not None else _builtin_profile()
    ensure_store_schema(engine)
    if unsubscribes:
        check_profile_table(engine, table_of_profiles)
    added = 0
    with write_transaction(engine) as conn:
        dialect = sqlite if conn.dialect.name == "sqlite" else postgresql
        unsubscribed = record_unsubscribes(
            conn, table_of_profiles, unsubscribes, dialect.insert, now=stamp
        )
        added += unsubscribed.added
        for event_type, rows in by_type.items():
            table = EVENT_TABLES[event_type]
            values = list(rows.values())
            for start in range(0, len(values), _CHUNK):
                chunk = values[start : start + _CHUNK]
                stmt = dialect.insert(table).values(chunk)
                stmt = stmt.on_conflict_do_nothing(index_elements=[table.c.event_id])
                added += len(conn.execute(stmt.returning(table.c.seq)).all())
    return RecordResult(added=added, duplicates=total - added, opted_out=unsubscribed.opted_out)


def _builtin_profile() -> sa.Table:
    return build_metadata(definitions_with_profile(())).tables["profile"]
