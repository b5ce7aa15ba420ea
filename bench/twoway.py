"""Two-way sync of contacts (SPEC §7): latency both ways, CRM calls per 1,000 Campaign edits,
and what a two-way mapping costs an initial load and a replay.

Each CRM's emulator runs in its own process over HTTPS, its data in a SQLite file that this
process reads directly (reading it costs the emulator nothing); ``crmsync run`` runs as a child
process, as users run it. The mapping takes 7 contact fields into ``profile``. For each CRM
(``--crm``, both by default), on SQLite (``--store postgresql``: the local PostgreSQL):

1. **latency**: ``--contacts`` contacts, a two-way mapping, ``crmsync run`` polling every
   ``--poll`` seconds. While it runs, ``--changes`` Campaign edits (an SQL ``UPDATE`` of one
   profile's city, by another client than crmsync) and as many CRM edits (an update of another
   contact's city through the Web API) are made, the two kinds side by side, each one at a time
   with a random pause after it. A Campaign edit is timed from just before its ``UPDATE`` to the
   value being in the emulator's file; a CRM edit from just before its write to the value being
   in the profile row (both checked every 10 ms): p50, p95, max each way.
2. **calls**: ``crmsync run`` stopped, ``--edits`` Campaign edits to distinct profiles in one
   transaction, then ``crmsync run --once``: the requests the emulator served, by what they were
   for (the Campaign → CRM side reads records by id and writes), per 1,000 edits; then another
   ``crmsync run --once``, in which the CRM's copy of those edits comes back and nothing may be
   written to either side.
3. **overhead**: a new emulator seeded with ``--load-contacts`` contacts; for each of
   ``--rounds`` rounds, a one-way and a two-way mapping in turn, each into an empty store:
   ``crmsync run --once`` (initial load), then ``crmsync mapping replay`` and ``crmsync run
   --once`` (the same unchanged records). Medians of the rounds, and two-way / one-way.

::

    .venv/bin/python -m bench.twoway --contacts 10000 --changes 50 --edits 1000 \
        --load-contacts 100000 [--crm dataverse] [--store postgresql] [--phase latency]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import sqlite3
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bench._inbound_setup import SECRET, SECRET_ENV, ChildRun, crmsync, run_child
from bench._twoway_setup import (
    CONTACT,
    EDITED,
    EDITED_COLUMN,
    MAPPING,
    Emulator,
    Store,
    crm_emulator,
    new_store,
    request_kinds,
    request_lines,
    unconditional_window,
    write_config,
)
from crmsync.connectors.base import WriteOp
from crmsync.state.models import Counts
from crmsync.state.store import StateStore

PHASES = ("latency", "calls", "overhead")
_PROFILE = sa.table("profile", sa.column("external_id"), sa.column(EDITED_COLUMN))


# -- helpers --------------------------------------------------------------------------------------


def _env() -> dict[str, str]:
    return {**os.environ, SECRET_ENV: SECRET, "PYTHONUNBUFFERED": "1"}


def _wait(
    check: Callable[[], bool],
    timeout: float,
    what: str,
    process: subprocess.Popen[bytes] | None = None,
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"crmsync run exited with {process.returncode}")
        try:
            if check():
                return
        except (sa.exc.OperationalError, sa.exc.ProgrammingError, sqlite3.OperationalError):
            pass  # crmsync run has not created the table yet, or a write holds a lock
        time.sleep(0.01)
    raise TimeoutError(f"{what} did not happen within {timeout:.0f} s")


def _profile_count(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(sa.select(sa.func.count()).select_from(_PROFILE)) or 0)


def _profile_value(engine: sa.Engine, record_id: str) -> Any:
    with engine.connect() as conn:
        return conn.scalar(
            sa.select(_PROFILE.c[EDITED_COLUMN]).where(_PROFILE.c.external_id == record_id)
        )


def _edit(engine: sa.Engine, values: dict[str, str]) -> None:
    """``UPDATE profile SET city = … WHERE external_id = …`` per record, in one transaction, as
    any client of the database would (not marked as crmsync's own write)."""
    statement = (
        sa.update(_PROFILE)
        .where(_PROFILE.c.external_id == sa.bindparam("key"))
        .values({EDITED_COLUMN: sa.bindparam("value")})
    )
    with engine.begin() as conn:
        conn.execute(statement, [{"key": key, "value": value} for key, value in values.items()])


def _counts(engine: sa.Engine) -> Counts:
    return StateStore(engine).counters.by_mapping().get(MAPPING, Counts())


def _percentiles(latencies: list[float]) -> str:
    ordered = sorted(latencies)
    p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
    return (
        f"p50 {statistics.median(ordered):.2f} s, p95 {p95:.2f} s, max {ordered[-1]:.2f} s"
        f" ({len(ordered)} edits)"
    )


def _load_average() -> str:
    return " ".join(f"{value:.1f}" for value in os.getloadavg())


# -- 1. latency -----------------------------------------------------------------------------------


async def _campaign_edits(
    crm: Emulator, engine: sa.Engine, ids: list[str], rng: random.Random
) -> list[float]:
    latencies = []
    with sqlite3.connect(crm.data, check_same_thread=False) as db:
        for n, record_id in enumerate(ids):
            value = f"Campaign {n}"
            started = time.perf_counter()
            await asyncio.to_thread(_edit, engine, {record_id: value})
            await asyncio.to_thread(
                _wait,
                lambda: crm.crm_value(db, record_id) == value,  # noqa: B023 - awaited here
                60,
                "a Campaign edit reaching the CRM",
            )
            latencies.append(time.perf_counter() - started)
            await asyncio.sleep(rng.uniform(0, 1.0))  # edits land anywhere in a poll interval
    return latencies


async def _crm_edits(
    crm: Emulator, engine: sa.Engine, ids: list[str], rng: random.Random
) -> list[float]:
    table = CONTACT[crm.kind][0]
    latencies = []
    async with crm.connector() as connector:
        for n, record_id in enumerate(ids):
            value = f"CRM {n}"
            started = time.perf_counter()
            [result] = await connector.write(
                [WriteOp("update", table, {EDITED[crm.kind]: value}, id=record_id)]
            )
            assert result.ok, result
            await asyncio.to_thread(
                _wait,
                lambda: _profile_value(engine, record_id) == value,  # noqa: B023 - awaited here
                60,
                "a CRM edit reaching Campaign",
            )
            latencies.append(time.perf_counter() - started)
            await asyncio.sleep(rng.uniform(0, 1.0))
    return latencies


async def _both_ways(
    crm: Emulator, engine: sa.Engine, ids: list[str], changes: int
) -> tuple[list[float], list[float]]:
    rng = random.Random(15)
    chosen = rng.sample(ids, 2 * changes)
    return await asyncio.gather(
        _campaign_edits(crm, engine, chosen[:changes], random.Random(1)),
        _crm_edits(crm, engine, chosen[changes:], random.Random(2)),
    )


def latency(crm: Emulator, store: Store, folder: Path, args: argparse.Namespace) -> list[str]:
    config = write_config(folder / "latency.yaml", crm, store, two_way=True, poll=args.poll)
    command = crmsync("run", "--config", str(config), "--no-progress")
    engine = store.engine()
    process = subprocess.Popen(command, env=_env(), stdout=subprocess.DEVNULL)
    try:
        started = time.perf_counter()
        _wait(lambda: _profile_count(engine) >= args.contacts, 900, "the load", process)
        loaded = time.perf_counter() - started
        time.sleep(3 * args.poll)  # the first rounds after the load read its last changes again
        with engine.connect() as conn:
            ids = list(conn.scalars(sa.select(_PROFILE.c.external_id)))
        to_crm, to_campaign = asyncio.run(_both_ways(crm, engine, ids, args.changes))
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=120)
        engine.dispose()
    return [
        f"latency, {args.contacts:,} contacts (loaded by crmsync run in {loaded:.1f} s), poll "
        f"interval {args.poll} s, load average {_load_average()}:",
        f"  Campaign edit → CRM: {_percentiles(to_crm)}",
        f"  CRM edit → Campaign: {_percentiles(to_campaign)}",
    ]


# -- 2. calls -------------------------------------------------------------------------------------


def _run_once(config: Path) -> None:
    subprocess.run(
        crmsync("run", "--config", str(config), "--once"),
        env=_env(),
        check=True,
        stdout=subprocess.DEVNULL,
    )


def calls(crm: Emulator, store: Store, folder: Path, args: argparse.Namespace) -> list[str]:
    config = write_config(folder / "calls.yaml", crm, store, two_way=True, poll=args.poll)
    engine = store.engine()
    try:
        _run_once(config)  # whatever the latency phase left (or the initial load)
        with engine.connect() as conn:
            ids = list(conn.scalars(sa.select(_PROFILE.c.external_id)))
        chosen = random.Random(16).sample(ids, args.edits)
        _edit(engine, {record_id: f"Edit {n}" for n, record_id in enumerate(chosen)})
        before = _counts(engine)
        crm.clear_requests()
        started = time.perf_counter()
        _run_once(config)
        seconds = time.perf_counter() - started
        served = crm.requests()
        counted = _counts(engine).since(before)
        with sqlite3.connect(crm.data) as db:
            arrived = sum(
                crm.crm_value(db, record_id) == f"Edit {n}" for n, record_id in enumerate(chosen)
            )
        # The CRM's copy of the edits comes back: merged, equal, nothing written anywhere.
        before = _counts(engine)
        crm.clear_requests()
        _run_once(config)
        echo_served = crm.requests()
        echo = _counts(engine).since(before)
    finally:
        engine.dispose()
    kinds = request_kinds(crm.kind, served)
    echo_kinds = request_kinds(crm.kind, echo_served)
    thousands = args.edits / 1000
    push = kinds["read by id"] + kinds["write"]
    window = unconditional_window(crm.kind, served)
    window_line = (
        []
        if window is None
        else [
            f"  read → write window of the round: {window:.3f} s (first read by id to the "
            "arrival of the last write)"
        ]
    )
    return [
        f"calls, {args.edits:,} Campaign edits to distinct contacts, then crmsync run --once "
        f"({seconds:.1f} s, {arrived:,} edits in the CRM after it), load average "
        f"{_load_average()}:",
        f"  Campaign → CRM: {push / thousands:.2f} requests per 1,000 edits "
        f"({kinds['read by id']} reads by id, {kinds['write']} writes); the engine counted "
        f"{counted.crm_calls} CRM calls for the mapping",
        f"  the whole run: {len(served)} requests: "
        + ", ".join(f"{name} {count}" for name, count in sorted(kinds.items())),
        "    " + "; ".join(f"{line} ×{n}" for line, n in sorted(request_lines(served).items())),
        f"  next run --once (the edits coming back from the CRM): {echo.read:,} records read, "
        f"{echo_kinds['write']} CRM writes, {echo.campaign_writes} Campaign writes, "
        f"{len(echo_served)} requests",
        *window_line,
    ]


# -- 3. overhead ----------------------------------------------------------------------------------


def _timed_run(config: Path) -> ChildRun:
    return run_child(crmsync("run", "--config", str(config), "--once"), quiet=True)


def overhead(crm: Emulator, store_kind: str, folder: Path, args: argparse.Namespace) -> list[str]:
    results: dict[tuple[bool, str], list[ChildRun]] = {}
    writes: dict[bool, list[int]] = {False: [], True: []}
    for _ in range(args.rounds):
        for two_way in (False, True):
            store = new_store(store_kind, folder, "load")
            config = write_config(folder / "load.yaml", crm, store, two_way=two_way)
            crm.clear_requests()
            results.setdefault((two_way, "load"), []).append(_timed_run(config))
            subprocess.run(
                crmsync("mapping", "replay", MAPPING, "--config", str(config)),
                env=_env(),
                check=True,
                stdout=subprocess.DEVNULL,
            )
            engine = store.engine()
            try:
                before = _counts(engine)
                results.setdefault((two_way, "replay"), []).append(_timed_run(config))
                replay = _counts(engine).since(before)
            finally:
                engine.dispose()
            crm_writes = request_kinds(crm.kind, crm.requests())["write"]
            writes[two_way].append(replay.campaign_writes + crm_writes)
    records = args.load_contacts
    lines = [
        f"overhead, {records:,} contacts, {args.rounds} rounds alternating, medians, load "
        f"average {_load_average()}:"
    ]
    for step in ("load", "replay"):
        one, two = results[(False, step)], results[(True, step)]
        one_s = statistics.median(run.seconds for run in one)
        two_s = statistics.median(run.seconds for run in two)
        one_cpu = statistics.median(run.cpu_seconds for run in one)
        two_cpu = statistics.median(run.cpu_seconds for run in two)
        lines.append(
            f"  {step:<6}: one-way {one_s:.2f} s ({records / one_s:,.0f} records/s, CPU "
            f"{one_cpu:.2f} s), two-way {two_s:.2f} s ({records / two_s:,.0f} records/s, CPU "
            f"{two_cpu:.2f} s): two-way / one-way {two_s / one_s:.3f} (CPU {two_cpu / one_cpu:.3f})"
            f"; rounds one-way {', '.join(f'{r.seconds:.2f}' for r in one)}, two-way "
            f"{', '.join(f'{r.seconds:.2f}' for r in two)}"
        )
    lines.append(
        f"  writes to either side during the replays: one-way {writes[False]}, two-way "
        f"{writes[True]}"
    )
    return lines


# -- main -----------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--crm", action="append", choices=sorted(CONTACT))
    parser.add_argument("--store", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--phase", action="append", choices=PHASES)
    parser.add_argument("--contacts", type=int, default=10_000)
    parser.add_argument("--changes", type=int, default=50, help="edits each way")
    parser.add_argument("--poll", type=float, default=0.5, help="poll interval, seconds")
    parser.add_argument("--edits", type=int, default=1000, help="Campaign edits of the calls")
    parser.add_argument("--load-contacts", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    phases = args.phase or list(PHASES)
    for kind in args.crm or sorted(CONTACT):
        with tempfile.TemporaryDirectory(prefix="crmsync-bench-twoway-") as tmp:
            folder = Path(tmp)
            lines: list[str] = []
            if "latency" in phases or "calls" in phases:
                with crm_emulator(kind, args.contacts, folder / "small") as crm:
                    store = new_store(args.store, folder, "steady")
                    if "latency" in phases:
                        lines += latency(crm, store, folder, args)
                    if "calls" in phases:
                        lines += calls(crm, store, folder, args)
            if "overhead" in phases:
                with crm_emulator(kind, args.load_contacts, folder / "large") as crm:
                    lines += overhead(crm, args.store, folder, args)
        print(f"{kind}, {args.store} store:", *lines, sep="\n", flush=True)


if __name__ == "__main__":
    main()
