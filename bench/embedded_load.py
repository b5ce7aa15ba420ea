"""crmsync's initial load into SQLite side by side with a plain one-thread script's.

One Dataverse emulator process (``crmsync emulate dataverse --tls``, ``--contacts`` contacts);
then, alternating for ``--rounds`` rounds, each from an empty SQLite file:

- ``crmsync run --once`` (its default writer process, SQLite queue and store, both with
  ``synchronous=FULL``): the initial load of 25 contact fields into a custom resource;
- ``bench/plain_load.py``: the same pages read with httpx and orjson, rows of the same columns
  upserted with ``executemany``, one transaction per page, ``synchronous=FULL``.

For each: wall time, records/s, CPU µs per record of each process (crmsync's engine, its writer
process, and the emulator serving it), peak RSS (crmsync with its writer process), then the
ratio of crmsync's speed to the script's (its records/s over the script's) per round and their
median. ::

    .venv/bin/python -m bench.embedded_load [--contacts 200000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

from bench._emulator_process import dataverse_emulator
from bench._inbound_setup import (
    ChildRun,
    cpu_seconds,
    crmsync,
    descendants,
    run_child,
    store_count,
    store_url,
    write_config,
)


def measured(command: list[str], emulator: int) -> tuple[ChildRun, float]:
    """Run ``command``; its measurements and the emulator's CPU seconds meanwhile."""
    before = cpu_seconds(emulator)
    run = run_child(command, quiet=True)
    return run, cpu_seconds(emulator) - before


def line(label: str, records: int, run: ChildRun, emulator_cpu: float) -> None:
    per = 1e6 / records
    own = run.cpu_seconds - run.descendants_cpu_seconds
    writer = (
        f" + writer {run.descendants_cpu_seconds * per:3.0f}" if run.descendants_cpu_seconds else ""
    )
    print(
        f"{label:<8} {records:>9,} records in {run.seconds:6.1f} s ="
        f" {records / run.seconds:>7,.0f} records/s; CPU µs/record: {own * per:3.0f}{writer}"
        f" (emulator {emulator_cpu * per:3.0f}); peak RSS {run.tree_peak_rss_mb:4.0f} MB",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--contacts", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    n = args.contacts
    ratios: list[float] = []
    with tempfile.TemporaryDirectory(prefix="crmsync-bench-") as tmp:
        folder = Path(tmp)
        with dataverse_emulator(contacts=n, accounts=100, tls_dir=folder) as (url, ca):
            assert ca is not None
            emulator = next(
                pid
                for pid in descendants(os.getpid())
                if b"emulate" in Path(f"/proc/{pid}/cmdline").read_bytes()
            )
            config = str(write_config(folder, url, ca, "sqlite"))
            plain_db = folder / "plain.db"
            plain = [sys.executable, "-m", "bench.plain_load", url, str(ca), str(plain_db), str(n)]
            engine = crmsync("run", "--config", config, "--once", "--no-progress")
            print(f"{n:,} contacts, 25 fields, SQLite, emulator {url}", flush=True)
            for index in range(args.rounds):
                for stale in [*folder.glob("campaign.db*"), *folder.glob("queue.db*")]:
                    stale.unlink()
                for stale in folder.glob("plain.db*"):
                    stale.unlink()
                runs: dict[str, tuple[ChildRun, float]] = {}
                # Alternating which goes first, so that neither always has the warmer machine.
                order = ("crmsync", "script") if index % 2 == 0 else ("script", "crmsync")
                for name in order:
                    runs[name] = measured(engine if name == "crmsync" else plain, emulator)
                stored = store_count(store_url("sqlite", folder), "sqlite")
                assert stored == n, f"crmsync stored {stored} rows, expected {n}"
                for name in ("crmsync", "script"):
                    line(name, n, *runs[name])
                ratio = runs["script"][0].seconds / runs["crmsync"][0].seconds
                ratios.append(ratio)
                print(f"round {index + 1}: crmsync at {ratio:.2f}x the script's speed", flush=True)
    print(
        f"crmsync / script: median {statistics.median(ratios):.2f}x"
        f" (rounds: {', '.join(f'{r:.2f}' for r in ratios)})"
    )


if __name__ == "__main__":
    main()
