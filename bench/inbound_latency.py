"""Steady-state latency of one CRM change to the Campaign store.

The emulator (its own process, HTTPS) is seeded with ``--contacts`` contacts; ``crmsync run``
(its own process, the default poll interval of 1 s unless ``--poll``) loads them, then keeps
polling. One at a time, with a random pause between them, ``--changes`` contacts are updated in
the CRM through the Web API; each is timed from just before the CRM write to the moment its new
value can be read from the store (checked every 10 ms)::

    .venv/bin/python -m bench.inbound_latency --contacts 10000 --changes 50
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

from bench._emulator_process import dataverse_emulator
from bench._inbound_setup import (
    RESOURCE,
    SECRET,
    SECRET_ENV,
    connector,
    crmsync,
    store_url,
    write_config,
)
from crmsync.connectors.base import WriteOp
from crmsync.store import create_engine_for


def _wait_for(check: sa.Select[tuple[int]], engine: sa.Engine, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with engine.connect() as conn:
                if conn.scalar(check):
                    return
        except sa.exc.OperationalError:
            pass  # crmsync run has not created the table yet
        time.sleep(0.01)
    raise TimeoutError("the change did not reach the store in time")


async def measure(url: str, ca: Path, store: sa.Engine, contacts: int, changes: int) -> list[float]:
    table = sa.table(RESOURCE, sa.column("crm_id"), sa.column("firstname"))
    _wait_for(sa.select(sa.func.count() >= contacts).select_from(table), store, 600)
    latencies: list[float] = []
    rng = random.Random(7)
    async with connector(url, ca) as crm:
        ids = [
            record.id async for page in crm.read_all("contact", ["contactid"]) for record in page
        ]
        for n in range(changes):
            target, name = rng.choice(ids), f"Latency{n}"
            started = time.perf_counter()
            await crm.write([WriteOp("update", "contact", {"firstname": name}, id=target)])
            check = sa.select(sa.func.count()).where(
                table.c.crm_id == target, table.c.firstname == name
            )
            await asyncio.to_thread(_wait_for, check, store, 30)
            latencies.append(time.perf_counter() - started)
            await asyncio.sleep(rng.uniform(0, 1.0))  # changes land anywhere in a poll interval
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--contacts", type=int, default=10_000)
    parser.add_argument("--changes", type=int, default=50)
    parser.add_argument("--poll", type=float, default=1.0, help="poll interval, seconds")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="crmsync-latency-") as tmp:
        folder = Path(tmp)
        with dataverse_emulator(contacts=args.contacts, tls_dir=folder) as (url, ca):
            assert ca is not None
            config = write_config(folder, url, ca, "sqlite", poll=args.poll)
            env = {**os.environ, SECRET_ENV: SECRET}
            command = crmsync("run", "--config", str(config), "--no-progress")
            process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
            store = create_engine_for(store_url("sqlite", folder))
            try:
                latencies = asyncio.run(measure(url, ca, store, args.contacts, args.changes))
            finally:
                process.send_signal(signal.SIGINT)
                process.wait(timeout=60)
                store.dispose()
    ordered = sorted(latencies)
    p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
    print(
        f"{len(ordered)} changes, poll interval {args.poll} s: p50 {statistics.median(ordered):.2f}"
        f" s, p95 {p95:.2f} s, max {ordered[-1]:.2f} s (CRM write → readable in the store)"
    )


if __name__ == "__main__":
    main()
