"""A worker's registry entry, heartbeat and leases, on a SQLite store: one holder at a time, the
renewal by the heartbeat, the take-over of a lease whose holder is gone from this machine, and
the fence that refuses the saves of a worker that lost its lease."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from crmsync.runtime.workers import LeaseTiming, Worker, mapping_lease, pid_alive
from crmsync.state.errors import LeaseLostError
from crmsync.state.store import StateStore
from crmsync.store import create_engine_for

FAST = LeaseTiming(lease_seconds=0.6, heartbeat_seconds=0.1, retry_seconds=0.05)
LEASE = mapping_lease("contacts")


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[sa.Engine]:
    made = create_engine_for(f"sqlite:///{tmp_path / 'store.db'}")
    yield made
    made.dispose()


def test_one_worker_holds_a_lease_and_another_takes_it_once_released(engine: sa.Engine) -> None:
    with Worker(engine, "reader", timing=FAST) as first, Worker(engine, "reader") as second:
        assert first.take(LEASE)
        assert not second.take(LEASE)
        time.sleep(1.0)  # longer than the lease: the heartbeat renewed it
        assert first.holds(LEASE)
        assert not second.take(LEASE)
        state = StateStore(engine)
        state.cursors.save("contacts", "c1", fence=first.fence(LEASE))
        first.release(LEASE)
        assert not first.holds(LEASE)
        assert second.take(LEASE)
        with pytest.raises(LeaseLostError):
            state.cursors.save("contacts", "c2", fence=first.fence(LEASE))
        state.cursors.save("contacts", "c3", fence=second.fence(LEASE))
        assert state.cursors.load("contacts") == "c3"
        views = {view.id: view for view in state.workers.alive()}
        assert views[second.id].holds == (LEASE,)
        assert views[first.id].role == "reader"
    assert StateStore(engine).workers.alive() == []  # stopped: listed as gone


def test_a_worker_learns_from_its_heartbeat_that_its_lease_was_taken(engine: sa.Engine) -> None:
    with Worker(engine, "reader", timing=FAST) as first:
        assert first.take(LEASE)
        # Another worker broke it (it found the holder gone): the renewal finds it out.
        assert StateStore(engine).leases.take(LEASE, "other", 30, breaking=first.id) == 2
        deadline = time.monotonic() + 5
        while first.holds(LEASE):
            assert time.monotonic() < deadline, "the loss was not noticed"
            time.sleep(0.05)
        assert StateStore(engine).leases.get(LEASE).holder == "other"  # type: ignore[union-attr]


def test_the_lease_of_a_worker_gone_from_this_machine_is_taken_at_once(engine: sa.Engine) -> None:
    dead = Worker(engine, "reader")
    with dead.lock:
        dead.workers.register(dead.id, "reader", dead.host, dead.machine, pid=_exited_pid())
    assert dead.take(LEASE)
    with Worker(engine, "reader") as successor:
        assert successor.take(LEASE)
    elsewhere = Worker(engine, "reader")
    elsewhere.workers.register(elsewhere.id, "reader", "far", "another machine", _exited_pid())
    assert elsewhere.take(LEASE)
    with Worker(engine, "reader") as waiting:
        assert not waiting.take(LEASE)  # another machine's process table says nothing here


def test_a_killed_process_not_yet_reaped_is_gone() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert pid_alive(child.pid)
        child.kill()
        time.sleep(0.3)  # a zombie until waited for
        assert not pid_alive(child.pid)
    finally:
        child.wait()


def test_a_lease_must_last_two_heartbeats() -> None:
    with pytest.raises(ValueError, match="two heartbeats"):
        LeaseTiming(lease_seconds=1.0, heartbeat_seconds=0.6)


def _exited_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid
