"""An emulator seeded with millions of contacts in a data file, read in full by a connector.

Three phases, each emulator in its own process (``crmsync emulate KIND --data FILE --seed …``,
HTTPS with a local CA):

1. **Seeding**: FILE does not exist, so the emulator makes it at start-up; timed from the start of
   the process to its first healthy answer. Skipped when FILE exists (made by an earlier run with
   the same seed; ``--data`` keeps it).
2. **Start on the file**: a new emulator process opens the existing file (nothing seeded again).
3. **Full read**: this process reads every contact through crmsync's connector, paged, as an
   initial load does (``track_changes`` from no cursor: Dataverse change tracking, 5,000 records
   a page; Salesforce ``ORDER BY SystemModstamp, Id``, 2,000 a batch), or with ``--read all``
   (``read_all``: primary-key order).

Printed: seeding time and file size, start time on the file, records/s of the read, the peak RSS
of the emulator process while seeding and while serving (``VmHWM``, read from ``/proc`` just
before it stops) and of this reading process::

    .venv/bin/python -m bench.emulator_scale --contacts 15000000 [--crm salesforce]
        [--data FILE] [--read changes|all] [--no-formatted]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from bench._connectors import connector
from bench._emulator_process import emulator_process

_TABLE = {"dataverse": "contact", "salesforce": "Contact"}


def _peak_mb(process: subprocess.Popen[bytes]) -> float:
    """The peak resident set of a running child process (``VmHWM``), in MB."""
    for line in Path(f"/proc/{process.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc: Linux only")


def _own_peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _size_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.parent.glob(f"{path.name}*")) / 1e6


async def _pages(crm: Any, kind: str, how: str, formatted: bool) -> AsyncIterator[int]:
    table = _TABLE[kind]
    if how == "all":
        # Salesforce sends no display labels: its read_all has no such option.
        options = {"formatted": formatted} if kind == "dataverse" else {}
        async for page in crm.read_all(table, **options):
            yield len(page)
        return
    async for change in crm.track_changes(table, None, None, formatted=formatted):
        yield len(change.records)


async def read_everything(
    kind: str, url: str, ca_file: Path, how: str, formatted: bool
) -> tuple[int, float, int]:
    """(records, seconds, pages) of a full read of the contacts."""
    async with connector(kind, url, ca_file) as crm:
        records = pages = 0
        started = time.perf_counter()
        async for count in _pages(crm, kind, how, formatted):
            records += count
            pages += 1
        return records, time.perf_counter() - started, pages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--crm", choices=("dataverse", "salesforce"), default="dataverse")
    parser.add_argument("--contacts", type=int, default=15_000_000)
    parser.add_argument("--accounts", type=int, help="default: one per 100 contacts")
    parser.add_argument("--data", type=Path, help="keep the data file here (reused if present)")
    parser.add_argument("--read", choices=("changes", "all"), default="changes")
    parser.add_argument(
        "--formatted",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="Dataverse: ask for formatted values (display labels)",
    )
    args = parser.parse_args()
    accounts = args.accounts if args.accounts is not None else max(1, args.contacts // 100)
    with tempfile.TemporaryDirectory(prefix="crmsync-scale-") as tmp:
        folder = Path(tmp)
        data = args.data or folder / f"{args.crm}.db"
        options = ["--data", str(data), "--seed", f"contacts={args.contacts},accounts={accounts}"]
        print(f"{args.crm}: {args.contacts:,} contacts, {accounts:,} accounts in {data}")
        if data.exists():
            print("seeding: skipped, the file exists")
        else:
            started = time.perf_counter()
            with emulator_process(args.crm, options, folder, startup_timeout=6 * 3600) as (
                _url,
                _ca,
                process,
            ):
                seconds = time.perf_counter() - started
                peak = _peak_mb(process)
            print(
                f"seeding: {seconds:,.1f} s ({args.contacts / seconds:,.0f} contacts/s), "
                f"file {_size_mb(data):,.0f} MB, emulator peak RSS {peak:,.0f} MB"
            )
        started = time.perf_counter()
        with emulator_process(args.crm, options, folder) as (url, ca_file, process):
            print(f"start on the file: {time.perf_counter() - started:.1f} s")
            assert ca_file is not None
            records, seconds, pages = asyncio.run(
                read_everything(args.crm, url, ca_file, args.read, args.formatted)
            )
            serving = _peak_mb(process)
        shape = "" if args.formatted or args.crm != "dataverse" else ", no formatted values"
        print(
            f"read ({args.read}{shape}): {records:,} records in {seconds:,.1f} s = "
            f"{records / seconds:,.0f} records/s, {pages:,} pages; emulator peak RSS "
            f"{serving:,.0f} MB, reader peak RSS {_own_peak_mb():,.0f} MB"
        )
        if records != args.contacts:
            raise SystemExit(f"expected {args.contacts:,} records, read {records:,}")


if __name__ == "__main__":
    main()
