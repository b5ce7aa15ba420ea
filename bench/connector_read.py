"""Full-read throughput and peak memory of the Dataverse connector against the emulator.

The emulator runs in its own process over HTTPS (local CA); this process authenticates with MSAL
and reads the whole ``contact`` table through :class:`DataverseConnector` (5,000 records a page,
every field, formatted values included unless ``--no-formatted``), holding one page at a time::

    .venv/bin/python -m bench.connector_read --contacts 200000 [--no-formatted]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import tempfile
import time
from pathlib import Path

from bench._emulator_process import dataverse_emulator
from crmsync.connectors.dataverse import DataverseConnectionConfig, DataverseConnector


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


#: The variable the connection names for its secret (the emulator accepts any).
_SECRET_ENV = "BENCH_SECRET"  # noqa: S105 - the name of a variable, not a secret


async def read_all(url: str, ca_file: Path, formatted: bool) -> tuple[int, float, float, int]:
    """Read ``contact`` in full: (records, seconds, CPU seconds of this process, GET calls)."""
    config = DataverseConnectionConfig(
        url=url,
        tenant_id="bench",
        authority=f"{url}/bench",
        client_id="bench",
        client_secret_env=_SECRET_ENV,
        ca_bundle=ca_file,
    )
    async with DataverseConnector(config, environ={_SECRET_ENV: "bench"}) as crm:
        await crm.describe("contact")
        records = 0
        started, cpu = time.perf_counter(), time.process_time()
        async for page in crm.read_all("contact", formatted=formatted):
            records += len(page)
        seconds = time.perf_counter() - started
        return records, seconds, time.process_time() - cpu, crm.counters.reads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--contacts", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--formatted",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="ask for formatted values (display labels)",
    )
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as tmp,
        dataverse_emulator(contacts=args.contacts, tls_dir=Path(tmp)) as (url, ca_file),
    ):
        assert ca_file is not None
        baseline = peak_rss_mb()
        for round_ in range(1, args.rounds + 1):
            records, seconds, cpu, calls = asyncio.run(read_all(url, ca_file, args.formatted))
            print(
                f"round {round_}: {records} records in {seconds:.2f} s, "
                f"{records / seconds:,.0f} records/s (reader CPU {cpu:.2f} s), {calls} GET calls, "
                f"peak RSS {peak_rss_mb():.0f} MB (at start {baseline:.0f} MB)"
                f"{'' if args.formatted else ', no formatted values'}"
            )


if __name__ == "__main__":
    main()
