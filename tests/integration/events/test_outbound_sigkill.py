"""The outbound workflow killed with SIGKILL mid-stream, then restarted: the CRM ends with each
event exactly once. The workflow runs in a separate ``crmsync events run`` process against the
emulator of this one."""

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

from crmsync.events import record_events
from crmsync.events.tables import EVENT_TABLES
from crmsync.store import create_engine_for

COUNT = 400
CRMSYNC = [sys.executable, "-m", "crmsync"]


def settled(engine: sa.Engine) -> int:
    table = EVENT_TABLES["open"]
    with engine.connect() as conn:
        query = sa.select(sa.func.count()).select_from(table).where(table.c.sent_at.is_not(None))
        return int(conn.execute(query).scalar_one())


def test_each_event_once_after_a_kill_and_a_restart(crm: Crm, tmp_path: Path) -> None:
    store = create_engine_for(f"sqlite:///{tmp_path / 'store.db'}")
    contacts = asyncio.run(crm.contact_ids())
    (linked,) = add_profiles(store, [contacts[0]])
    record_events(store, [make_event("open", f"open-{i:04d}", linked) for i in range(COUNT)])
    config = tmp_path / "crmsync.yaml"
    config.write_text(json.dumps(config_data(crm, tmp_path, events={"open": True}, batch_size=10)))
    env = os.environ | ENV
    command = [*CRMSYNC, "events", "run", "--config", str(config)]
    log = tmp_path / "first-run.log"

    with log.open("wb") as errors:
        process = subprocess.Popen(command, env=env, stderr=errors)
        try:
            deadline = time.monotonic() + 60
            while settled(store) < 30:
                assert process.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "the workflow did not start sending"
                time.sleep(0.02)
            process.send_signal(signal.SIGKILL)
            process.wait(10)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(10)
    assert process.returncode == -signal.SIGKILL
    assert settled(store) < COUNT, "killed too late to test a restart"

    done = subprocess.run(
        [*command, "--once"], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr

    assert settled(store) == COUNT
    written = Counter(e["event_id"] for e in asyncio.run(crm.events("open")))
    assert len(written) == COUNT
    assert set(written.values()) == {1}
    store.dispose()
