"""Two ``crmsync run`` processes on one configuration: outbound runs in one at a time (the holder
of its lease) and the other takes it over when the first is killed; the CRM ends with each event
once, and each event is counted written once."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import sqlalchemy as sa
from events_support import ENV, Crm, add_profiles, config_data, make_event
from test_outbound_sigkill import settled

from crmsync.events import record_events
from crmsync.events.outbound import lifetime_counts
from crmsync.state.store import StateStore
from crmsync.store import create_engine_for

COUNT = 400


def holder(store: sa.Engine) -> int | None:
    """The pid of the worker holding the outbound lease now."""
    state = StateStore(store)
    pids = {view.id: view.pid for view in state.workers.alive()}
    return next((pids.get(x.holder) for x in state.leases.held() if x.name == "outbound"), None)


def test_outbound_runs_in_one_worker_and_moves_when_it_is_killed(crm: Crm, tmp_path: Path) -> None:
    store = create_engine_for(f"sqlite:///{tmp_path / 'store.db'}")
    contacts = asyncio.run(crm.contact_ids())
    (linked,) = add_profiles(store, [contacts[0]])
    record_events(store, [make_event("open", f"open-{i:04d}", linked) for i in range(COUNT)])
    config = tmp_path / "crmsync.yaml"
    config.write_text(json.dumps(config_data(crm, tmp_path, events={"open": True}, batch_size=10)))
    command = [sys.executable, "-m", "crmsync", "run", "--config", str(config), "--no-progress"]
    processes = {}
    try:
        for n in range(2):
            with (tmp_path / f"worker-{n}.log").open("wb") as log:
                process = subprocess.Popen(command, env=os.environ | ENV, stderr=log)
            processes[process.pid] = process
        deadline = time.monotonic() + 60
        while (first := holder(store)) is None or settled(store) < 30:
            assert time.monotonic() < deadline, "outbound did not start sending"
            time.sleep(0.02)
        processes[first].send_signal(signal.SIGKILL)
        processes.pop(first).wait(10)
        assert settled(store) < COUNT, "killed too late to test a take-over"
        (other,) = processes
        deadline = time.monotonic() + 60
        while settled(store) < COUNT:
            assert time.monotonic() < deadline, "the other worker did not take outbound over"
            time.sleep(0.05)
        assert holder(store) == other
    finally:
        for process in processes.values():
            process.send_signal(signal.SIGTERM)
            assert process.wait(30) == 0
    written = Counter(e["event_id"] for e in asyncio.run(crm.events("open")))
    assert len(written) == COUNT
    assert set(written.values()) == {1}
    assert lifetime_counts(store)["open"]["written"] == COUNT
    store.dispose()
