"""Processes that open a store at the same moment (several workers of one PostgreSQL store, or
commands beside a running one) upgrade it once between them, and none fails."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
import sqlalchemy as sa

from crmsync.state import store_schema
from crmsync.store import create_engine_for

#: Imports first, then waits for the agreed moment, then opens the store as every face does.
START = """
import sys, time
from crmsync.store import create_engine_for
from crmsync.state.store import StateStore
from crmsync.workflows.revisions import RevisionStore

url, schema, at = sys.argv[1], sys.argv[2] or None, float(sys.argv[3])
engine = create_engine_for(url, schema=schema)
time.sleep(max(0.0, at - time.time()))
StateStore(engine).statuses.set("inbound", "STOPPED")
RevisionStore(engine).seed("inbound", "version: 1\\n")
engine.dispose()
"""

PROCESSES = 3
#: What a process says while another holds the SQLite file's write lock (it then goes on).
WAITING = "the SQLite file is locked by another connection: waiting"


def _problems(stderr: str) -> list[str]:
    """What a process wrote on stderr, but for its notes that it waited for the lock."""
    return [line for line in stderr.splitlines() if not line.startswith(WAITING)]


@pytest.mark.parametrize("attempt", range(2))
def test_processes_starting_together_upgrade_the_store_once(
    store_location: tuple[str, str | None], attempt: int
) -> None:
    url, schema = store_location
    at = time.time() + 3.0  # after every process has imported crmsync
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", START, url, schema or "", str(at)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(PROCESSES)
    ]
    outcomes = [(p.wait(timeout=60), _problems(p.communicate()[1])) for p in processes]
    assert outcomes == [(0, [])] * PROCESSES
    engine = create_engine_for(url, schema=schema)
    try:
        found = store_schema(engine)
        assert (found.current, found.pending) == (found.head, ())
        assert len(found.upgrades) == 1
        with engine.connect() as conn:
            revisions = conn.execute(sa.text("SELECT count(*) FROM crmsync_config_revisions"))
            assert revisions.scalar_one() == 1
    finally:
        engine.dispose()
