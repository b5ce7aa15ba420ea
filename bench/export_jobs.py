"""Exporting Campaign profiles to each CRM through a ``crm`` export job step.

Each emulator runs in its own process over HTTPS (local CA); this process runs the job (Campaign
query → export in batches, Dataverse by chosen ids, Salesforce by upsert on an external id) with
its durable journal, and prints records/s and CRM calls per 1,000 records (sign-in and metadata
calls included)::

    .venv/bin/python -m bench.export_jobs --profiles 100000 [--crm dataverse --crm salesforce]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import httpx
import sqlalchemy as sa

from bench._connectors import connector
from bench._emulator_process import free_port
from crmsync.config import Config
from crmsync.jobs import ConnectorPool, JobRunner, JobStore, load_job_text
from crmsync.store import create_engine_for, publish
from crmsync.store.writes import upsert_batch

MAPPING = {
    "dataverse": ("contact", "lastname", "firstname", "emailaddress1", None),
    "salesforce": ("Contact", "LastName", "FirstName", "Email", "Customer_Number__c"),
}


@contextmanager
def emulator(kind: str, folder: Path) -> Iterator[tuple[str, Path]]:
    port = free_port()
    ca_file = folder / f"{kind}-ca.pem"
    command = [
        sys.executable,
        "-m",
        "crmsync",
        "emulate",
        kind,
        "--port",
        str(port),
        "--tls",
        "--ca-file",
        str(ca_file),
        "--seed",
        "contacts=0,accounts=0",
    ]
    command += (
        ["--rate-limit", "1000000000/300"] if kind == "dataverse" else ["--api-limit", "100000000"]
    )
    process = subprocess.Popen(command, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    url = f"https://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the {kind} emulator exited with code {process.returncode}")
            try:
                if (
                    ca_file.exists()
                    and httpx.get(
                        f"{url}/_emulator/health", verify=str(ca_file), timeout=2
                    ).status_code
                    == 200
                ):
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the {kind} emulator did not start in time")
            time.sleep(0.3)
        yield url, ca_file
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def job_text(kind: str) -> str:
    table, last, first, email, key = MAPPING[kind]
    key_map = f"      - {{campaign: external_id, crm: {key}}}\n" if key else ""
    key_line = f"    key: {key}\n" if key else ""
    return f"""
name: bench-export
steps:
  profiles:
    kind: campaign_query
    resource: profile
    fields: [external_id, email, first_name, last_name]
    next: export
  export:
    kind: crm
    operation: export
    connection: crm
    object: {table}
    mapping:
{key_map}      - {{campaign: last_name, crm: {last}}}
      - {{campaign: first_name, crm: {first}}}
      - {{campaign: email, crm: {email}}}
{key_line}    batch: true
"""


def seed_profiles(engine: sa.Engine, count: int) -> None:
    table = sa.Table("profile", sa.MetaData(), autoload_with=engine)
    for start in range(0, count, 10_000):
        rows = [
            {
                "external_id": f"B{n:08d}",
                "email": f"p{n}@bench.example",
                "first_name": "Bench",
                "last_name": f"P{n:08d}",
                "birth_date": date(1990, 1, 1),
            }
            for n in range(start, min(count, start + 10_000))
        ]
        with engine.begin() as conn:
            upsert_batch(conn, table, "external_id", rows, version_field=None)


async def export(kind: str, url: str, ca_file: Path, engine: sa.Engine) -> tuple[float, int, int]:
    crm = connector(kind, url, ca_file)
    pool = ConnectorPool(Config(), connectors={"crm": (kind, crm)})
    text = job_text(kind)
    try:
        started = time.perf_counter()
        await JobRunner(JobStore(engine), engine, pool).run(load_job_text(text), text)
        seconds = time.perf_counter() - started
        counters = crm.counters
        writes = counters.writes + getattr(counters, "batches", 0)
        return seconds, writes, counters.reads
    finally:
        await pool.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--profiles", type=int, default=100_000)
    parser.add_argument("--crm", action="append", choices=sorted(MAPPING))
    args = parser.parse_args()
    for kind in args.crm or sorted(MAPPING):
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            engine = create_engine_for(f"sqlite:///{folder / 'campaign.db'}")
            publish(engine, [])
            seed_profiles(engine, args.profiles)
            with emulator(kind, folder) as (url, ca_file):
                seconds, writes, reads = asyncio.run(export(kind, url, ca_file, engine))
            engine.dispose()
        thousands = args.profiles / 1000
        print(
            f"{kind}: {args.profiles} profiles in {seconds:.1f} s = "
            f"{args.profiles / seconds:,.0f} records/s; {writes} write calls = "
            f"{writes / thousands:.2f} per 1,000 records; {writes + reads} calls in all "
            f"(with sign-in and metadata) = {(writes + reads) / thousands:.2f} per 1,000"
        )


if __name__ == "__main__":
    main()
