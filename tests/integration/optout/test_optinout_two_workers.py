"""Two ``crmsync optout run`` processes on one configuration: optinout runs in one at a time (the
holder of its lease); each Campaign change is sent once; when the holder is killed, the other
takes the workflow over and sends the next changes."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from optout_support import ENV, Crm, add_profiles, config_data, profile_table

from crmsync.optout.changes import set_opt_outs
from crmsync.optout.tables import OUTBOX
from crmsync.state.store import StateStore
from crmsync.store import create_engine_for
from crmsync.store.engine import write_transaction

LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)


def holder(store: sa.Engine) -> int | None:
    """The pid of the worker holding the optinout lease now."""
    state = StateStore(store)
    pids = {view.id: view.pid for view in state.workers.alive()}
    return next((pids.get(x.holder) for x in state.leases.held() if x.name == "optinout"), None)


def sent(store: sa.Engine) -> list[tuple[str, str | None]]:
    with store.connect() as conn:
        rows = conn.execute(sa.select(OUTBOX.c.external_id, OUTBOX.c.outcome).order_by(OUTBOX.c.id))
        return [(e, o) for e, o in rows]


def wait_until(done: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 60
    while not done():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_optinout_runs_in_one_worker_and_moves_when_it_is_killed(crm: Crm, tmp_path: Path) -> None:
    ids = asyncio.run(crm.load_ids())
    for record_id in ids[:3]:  # whatever the seed drew
        asyncio.run(crm.update(record_id, **{crm.email: False, crm.phone: False}))
    store = create_engine_for(f"sqlite:///{tmp_path / 'store.db'}")
    add_profiles(store, ids[:4], LONG_AGO)
    config = tmp_path / "crmsync.yaml"
    config.write_text(json.dumps(config_data(crm, tmp_path, "campaign_to_crm")))
    command = [sys.executable, "-m", "crmsync", "optout", "run", "--config", str(config)]
    processes = {}
    try:
        for _ in range(2):
            process = subprocess.Popen(command, env=os.environ | ENV, stdout=subprocess.DEVNULL)
            processes[process.pid] = process
        wait_until(lambda: holder(store) is not None, "no worker took optinout")
        first = holder(store)
        assert first in processes
        with write_transaction(store) as conn:
            set_opt_outs(conn, profile_table(), ids[0], {"optout_email": True})
            set_opt_outs(conn, profile_table(), ids[1], {"optout_phone": True})
        wait_until(lambda: all(o == "written" for _, o in sent(store)), "not sent")
        assert sent(store) == [(ids[0], "written"), (ids[1], "written")]
        assert holder(store) == first
        processes[first].send_signal(signal.SIGKILL)
        processes.pop(first).wait(10)
        (other,) = processes
        wait_until(lambda: holder(store) == other, "the other worker did not take optinout over")
        with write_transaction(store) as conn:
            set_opt_outs(conn, profile_table(), ids[2], {"optout_email": True})
        wait_until(lambda: len(sent(store)) == 3 and sent(store)[2][1] == "written", "not sent")
    finally:
        for process in processes.values():
            process.send_signal(signal.SIGTERM)
            process.wait(30)
    assert sent(store) == [(ids[0], "written"), (ids[1], "written"), (ids[2], "written")]
    assert asyncio.run(crm.read(ids[2]))[0] is True
    store.dispose()
