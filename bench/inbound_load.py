"""Inbound initial load, replay and the same load by dlt, from one Dataverse emulator process.

The emulator (``crmsync emulate dataverse --tls``, seeded with ``--contacts`` contacts) runs in
its own process. Then, each as a child process measured on its own (wall time, peak RSS):

1. ``crmsync run --once``: the initial load of 25 contact fields into a custom resource, in
   SQLite (or the local PostgreSQL with ``--store postgresql``);
2. ``crmsync mapping replay`` then ``crmsync run --once``: the same unchanged records read and
   compared again; the counters must show no Campaign write;
3. dlt's REST API source paging the same emulator into a SQLite file (``bench/_dlt_load.py``).

::

    .venv/bin/python -m bench.inbound_load --contacts 200000 [--store postgresql] [--no-dlt]
        [--rounds N]

``--rounds N`` repeats 1. and 2. from an empty store against the same emulator (dlt runs once,
against the last round's initial load).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from bench._emulator_process import dataverse_emulator
from bench._inbound_setup import (
    MAPPING,
    ChildRun,
    counters,
    crmsync,
    reset_postgres,
    run_child,
    store_count,
    store_url,
    write_config,
)


def line(label: str, records: int, run: ChildRun, extra: str = "") -> None:
    rate = records / run.seconds
    cpu = 1e6 * run.cpu_seconds / records
    print(
        f"{label:<28} {records:>9,} records in {run.seconds:7.1f} s = {rate:>8,.0f} records/s,"
        f" CPU {cpu:4.0f} µs/record, peak RSS {run.peak_rss_mb:5.0f} MB"
        f" ({run.tree_peak_rss_mb:.0f} MB with its writer process){extra}",
        flush=True,
    )


def load_and_replay(args: argparse.Namespace, config: str, database: str) -> ChildRun:
    """One initial load and (unless ``--no-resync``) one replay; prints their lines and returns
    the initial load's measurements."""
    n = args.contacts
    run = ("run", "--config", config, "--once", "--no-progress")
    profile = args.profile
    initial = run_child(crmsync(*run, profile=profile and profile / "initial.txt"))
    loaded = store_count(database, args.store)
    first = counters(database, args.store)
    assert loaded == n, f"the store holds {loaded} rows, expected {n}"
    line(f"crmsync initial ({args.store})", n, initial, f", {first.crm_calls} CRM calls")
    if args.resync:
        replay = str(n + 1)
        run_child(crmsync("mapping", "replay", MAPPING, "--config", config, "--limit", replay))
        resync = run_child(crmsync(*run, profile=profile and profile / "replay.txt"))
        second = counters(database, args.store)
        writes = second.campaign_writes - first.campaign_writes
        read = second.read - first.read
        line(
            "crmsync replay (unchanged)",
            read,
            resync,
            f", Campaign writes {writes}, unchanged {second.unchanged - first.unchanged:,}",
        )
        assert writes == 0, f"an unchanged replay wrote {writes} rows"
    return initial


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--contacts", type=int, default=200_000)
    parser.add_argument("--store", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--dlt", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--resync", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="initial loads (each followed by a replay) against the same emulator",
    )
    parser.add_argument(
        "--profile", type=Path, help="folder for py-spy profiles of the crmsync runs"
    )
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    n = args.contacts
    with tempfile.TemporaryDirectory(prefix="crmsync-bench-") as tmp:
        folder = Path(tmp)
        with dataverse_emulator(contacts=n, accounts=100, tls_dir=folder) as (url, ca):
            assert ca is not None
            config = str(write_config(folder, url, ca, args.store))
            database = store_url(args.store, folder)
            print(f"{n:,} contacts, 25 fields, store {args.store}, emulator {url}", flush=True)
            for _ in range(args.rounds):
                # Each round starts from an empty store and queue, against the same emulator
                # (warm after the first round, as in a long-running service).
                for name in ("campaign.db", "queue.db"):
                    for stale in folder.glob(f"{name}*"):
                        stale.unlink()
                if args.store == "postgresql":
                    reset_postgres()
                initial = load_and_replay(args, config, database)
            if args.dlt:
                target = folder / "dlt.db"
                dlt = run_child(
                    [sys.executable, "-m", "bench._dlt_load", url, str(ca), str(target), str(n)]
                )
                line("dlt rest_api (sqlite)", n, dlt)
                print(f"crmsync is {dlt.seconds / initial.seconds:.2f}x faster than dlt")


if __name__ == "__main__":
    main()
