"""Unsubscribes recorded at the same moment on a store without the event and outbox tables yet:
every caller creates what is missing, none fails, nothing is lost (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import sqlalchemy as sa

from crmsync.events import RecordResult, Unsubscribe, record_events
from crmsync.optout.tables import OUTBOX
from crmsync.store import build_metadata, definitions_with_profile, publish

CALLERS = 6
NOW = datetime(2026, 5, 2, tzinfo=UTC)


def test_concurrent_first_unsubscribes_create_the_outbox_once(store_engine: sa.Engine) -> None:
    publish(store_engine, ())
    profile = build_metadata(definitions_with_profile(())).tables["profile"]
    with store_engine.begin() as conn:
        conn.execute(
            sa.insert(profile),
            [
                {"id": n, "external_id": f"C-{n}", "created_at": NOW, "modified_at": NOW}
                for n in range(1, CALLERS + 1)
            ],
        )
    start = threading.Barrier(CALLERS)

    def record(n: int) -> RecordResult:
        event = Unsubscribe.model_validate(
            {"type": "unsubscribe", "id": f"u-{n}", "profile_id": n, "occurred_at": NOW}
        )
        start.wait()
        return record_events(store_engine, [event], now=NOW)

    with ThreadPoolExecutor(CALLERS) as pool:
        results = list(pool.map(record, range(1, CALLERS + 1)))
    assert results == [RecordResult(added=1, duplicates=0, opted_out=1)] * CALLERS
    with store_engine.connect() as conn:
        queued = conn.execute(sa.select(OUTBOX.c.external_id).order_by(OUTBOX.c.external_id))
        assert [row[0] for row in queued] == [f"C-{n}" for n in range(1, CALLERS + 1)]
