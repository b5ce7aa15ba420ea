"""Failover time of an inbound mapping's reader: from the moment the reader holding the mapping's
lease stops to the moment the other reader has read a change made just then.

The emulator (its own process, HTTPS) is seeded with ``--contacts`` contacts; two
``crmsync run --role reader`` and one ``--role writer`` share a PostgreSQL store (the local one,
``CRMSYNC_BENCH_POSTGRES_URL``) and a SQLite queue. Once the contacts are loaded, each trial stops
the reader holding ``inbound:contacts`` and at once updates a contact in the CRM, then times:

- ``taken``: until the other reader holds the lease (read from ``crmsync_leases``);
- ``read``: until the change is readable in the store (taken, read by the new holder, written).

Two ways of stopping it: ``kill`` (SIGKILL: its pid is gone from this machine, so the lease is
taken at the next try) and ``pause`` (SIGSTOP, as a reader cut off from the store or on a machine
that went away: the lease is taken once it expires). A killed reader is replaced by a new one; a
paused one is resumed, finds its lease lost and becomes the standby::

    .venv/bin/python -m bench.failover --contacts 2000 --trials 5
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa

from bench._emulator_process import dataverse_emulator
from bench._inbound_setup import (
    PG_SCHEMA,
    POSTGRES_URL,
    RESOURCE,
    SECRET,
    SECRET_ENV,
    connector,
    contact_ids,
    crmsync,
    loaded_postgres,
    reset_postgres,
    write_config,
)
from crmsync.connectors.base import WriteOp
from crmsync.state.store import StateStore
from crmsync.store import create_engine_for

LEASE = "inbound:contacts"
#: (seconds until the lease is taken, seconds until the change is in the store)
Timing = tuple[float, float]
#: The emulator's URL, its CA file and the contact a trial updates.
Crm = tuple[str, Path, str]


class Deployment:
    """The readers and the writer, started as ``crmsync run`` processes."""

    def __init__(self, config: Path) -> None:
        self.config = config
        self.env = {**os.environ, SECRET_ENV: SECRET}
        self.readers: dict[int, subprocess.Popen[bytes]] = {}
        self.others: list[subprocess.Popen[bytes]] = []

    def start(self, role: str) -> subprocess.Popen[bytes]:
        command = crmsync("run", "--config", str(self.config), "--no-progress", "--role", role)
        if role == "writer":
            command += ["--writer-processes", "0"]
        process = subprocess.Popen(command, env=self.env, stdout=subprocess.DEVNULL)
        if role == "reader":
            self.readers[process.pid] = process
        else:
            self.others.append(process)
        return process

    def stop(self) -> None:
        for process in [*self.readers.values(), *self.others]:
            os.kill(process.pid, signal.SIGCONT)
            process.send_signal(signal.SIGTERM)
        for process in [*self.readers.values(), *self.others]:
            process.wait(timeout=60)


def _holder(state: StateStore) -> int | None:
    """The pid of the worker holding the contacts' lease now."""
    lease = next((held for held in state.leases.held() if held.name == LEASE), None)
    if lease is None:
        return None
    found = state.workers.get(lease.holder)
    return None if found is None else found.pid


def _wait_until(done: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not happen in time")
        time.sleep(0.01)


async def _update(url: str, ca: Path, target: str, name: str) -> None:
    async with connector(url, ca) as crm:
        await crm.write([WriteOp("update", "contact", {"firstname": name}, id=target)])


def trial(deployment: Deployment, state: StateStore, crm: Crm, n: int, how: str) -> Timing:
    """Stop the holder (``how``: kill or pause), update a contact; (taken, read) seconds."""
    _wait_until(lambda: _holder(state) is not None, "a reader taking the contacts")
    holder = _holder(state)
    assert holder is not None
    table = sa.table(RESOURCE, sa.column("crm_id"), sa.column("firstname"))
    url, ca, target = crm
    name = f"Failover{how}{n}"
    process = deployment.readers[holder]
    started = time.perf_counter()
    process.send_signal(signal.SIGKILL if how == "kill" else signal.SIGSTOP)
    asyncio.run(_update(url, ca, target, name))
    _wait_until(lambda: _holder(state) not in (None, holder), "the take-over")
    taken = time.perf_counter() - started
    check = sa.select(sa.func.count()).where(table.c.crm_id == target, table.c.firstname == name)

    def written() -> bool:
        with state.engine.connect() as conn:
            return bool(conn.scalar(check))

    _wait_until(written, "the change reaching the store")
    read = time.perf_counter() - started
    if how == "kill":
        process.wait(timeout=10)
        del deployment.readers[holder]
        deployment.start("reader")
    else:
        process.send_signal(signal.SIGCONT)
    time.sleep(3)  # the standby settles (a new one registers, a resumed one is fenced)
    return taken, read


def measure(url: str, ca: Path, deployment: Deployment, trials: int) -> dict[str, list[Timing]]:
    engine = create_engine_for(POSTGRES_URL, schema=PG_SCHEMA)
    results: dict[str, list[Timing]] = {"kill": [], "pause": []}
    try:
        state = StateStore(engine)
        ids = asyncio.run(contact_ids(url, ca))
        for n in range(trials):
            for how, timings in results.items():
                timings.append(trial(deployment, state, (url, ca, ids[n]), n, how))
    finally:
        engine.dispose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--contacts", type=int, default=2000)
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--poll", type=float, default=1.0, help="poll interval, seconds")
    args = parser.parse_args()
    reset_postgres()
    with tempfile.TemporaryDirectory(prefix="crmsync-failover-") as tmp:
        folder = Path(tmp)
        with dataverse_emulator(contacts=args.contacts, tls_dir=folder) as (url, ca):
            assert ca is not None
            config = write_config(folder, url, ca, "postgresql", poll=args.poll)
            deployment = Deployment(config)
            for role in ("reader", "reader", "writer"):
                deployment.start(role)
            try:
                deadline = time.monotonic() + 600
                while loaded_postgres() < args.contacts:
                    if time.monotonic() > deadline:
                        raise TimeoutError("the contacts were not loaded in time")
                    time.sleep(0.2)
                results = measure(url, ca, deployment, args.trials)
            finally:
                deployment.stop()
    print(f"{args.contacts:,} contacts, poll interval {args.poll} s, {args.trials} trials each")
    for how, timings in results.items():
        taken = sorted(t for t, _ in timings)
        read = sorted(r for _, r in timings)
        print(
            f"{how:>5}: lease taken p50 {statistics.median(taken):.2f} s, max {taken[-1]:.2f} s;"
            f" change read and written p50 {statistics.median(read):.2f} s, max {read[-1]:.2f} s"
        )


if __name__ == "__main__":
    main()
