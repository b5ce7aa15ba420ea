"""Schema work at start-up, on both stores: workflows that start together on a fresh store each
create their tables (and publish the resources) while the others do, and none fails."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
import sqlalchemy as sa

from crmsync.state import ensure_store_schema
from crmsync.state.store import StateStore
from crmsync.store import create_engine_for, publish
from crmsync.workflows.revisions import RevisionStore

Start = Callable[[sa.Engine], None]


def inbound(engine: sa.Engine) -> None:
    StateStore(engine)
    publish(engine, [])


def outbound(engine: sa.Engine) -> None:
    publish(engine, [])
    ensure_store_schema(engine)


def optinout(engine: sa.Engine) -> None:
    publish(engine, [])
    ensure_store_schema(engine)


def supervisor(engine: sa.Engine) -> None:
    RevisionStore(engine).seed("inbound", "version: 1\n")
    StateStore(engine)


def start_together(url: str, schema: str | None, starts: list[Start]) -> list[str]:
    """Run every start in its own thread, each on its own engine; the errors they raised."""
    errors: list[str] = []
    barrier = threading.Barrier(len(starts))

    def run(start: Start) -> None:
        engine = create_engine_for(url, schema=schema)
        try:
            barrier.wait()
            start(engine)
        except Exception as exc:
            errors.append(f"{start.__name__}: {exc}")
        finally:
            engine.dispose()

    threads = [threading.Thread(target=run, args=(start,)) for start in starts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


@pytest.mark.parametrize("attempt", range(8))
def test_workflows_starting_together_all_create_their_tables(
    store_location: tuple[str, str | None], attempt: int
) -> None:
    url, schema = store_location
    assert start_together(url, schema, [inbound, outbound, optinout, supervisor]) == []
    engine = create_engine_for(url, schema=schema)
    with engine.connect() as conn:
        tables = set(sa.inspect(conn).get_table_names())
    engine.dispose()
    expected = {"profile", "crmsync_optout_outbox", "crmsync_event_click", "crmsync_cursors"}
    assert expected <= tables
