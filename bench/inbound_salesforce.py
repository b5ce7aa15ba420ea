"""Initial inbound load of Salesforce contacts into SQLite, from an emulator in its own process.

``crmsync emulate salesforce --tls`` (seeded with ``--contacts`` contacts) runs as a child
process; this process runs the inbound engine once (``crmsync run --once`` does the same): every
contact read through the Salesforce connector (``SystemModstamp`` order, 2,000 records a batch),
queued and written as ``profile`` rows into a fresh SQLite store. Printed: records/s, the peak RSS
of the syncing process, the CRM calls the connector counted and the API requests the emulator
counted (``GET /_emulator/usage``), then the same for an incremental run after ``--changes``
records were touched five minutes later (a system change: one ``SystemModstamp`` for all of them).
The incremental run's first round reads again the records of the snapshot's overlap window that
its cursor could not remember (more than 10,000 seeded within a minute), then only the touched
ones.

::

    .venv/bin/python -m bench.inbound_salesforce --contacts 1000000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from crmsync.config import load_config_text
from crmsync.config.models import Config
from crmsync.sync.engine import InboundEngine, RunSummary

_SECRET_ENV = "CRMSYNC_BENCH_SECRET"  # noqa: S105 - the name of a variable, not a secret
_ENV = {_SECRET_ENV: "bench-secret"}
_MAPPING = """
  - name: contacts
    connection: org
    crm_table: Contact
    resource: profile
    primary_key: {campaign: external_id}
    fields:
      - {crm: FirstName, campaign: first_name}
      - {crm: LastName, campaign: last_name}
      - {crm: Email, campaign: email}
      - {crm: Phone, campaign: phone}
      - {crm: MailingCity, campaign: city}
      - {crm: MailingCountry, campaign: country}
      - {crm: Birthdate, campaign: birth_date}
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def salesforce_emulator(contacts: int, folder: Path) -> Iterator[tuple[str, Path]]:
    """``(base URL, CA file)`` of ``crmsync emulate salesforce --tls`` in its own process."""
    port = _free_port()
    ca = folder / "emulator-ca.pem"
    command = [
        sys.executable,
        "-m",
        "crmsync",
        "emulate",
        "salesforce",
        "--port",
        str(port),
        "--seed",
        f"contacts={contacts},accounts={max(1, contacts // 100)}",
        "--tls",
        "--ca-file",
        str(ca),
        # The load's own calls are counted, not refused.
        "--api-limit",
        "1000000000",
    ]
    url = f"https://127.0.0.1:{port}"
    process = subprocess.Popen(command, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        deadline = time.monotonic() + 3600
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the emulator exited with code {process.returncode}")
            if ca.exists():
                try:
                    if httpx.get(f"{url}/_emulator/health", verify=str(ca)).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
            if time.monotonic() > deadline:
                raise RuntimeError("the emulator did not start in time")
            time.sleep(0.5)
        yield url, ca
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def _config(url: str, ca: Path, folder: Path) -> Config:
    text = "\n".join(
        [
            "version: 1",
            "connections:",
            "  org:",
            "    kind: salesforce",
            f"    url: {url}",
            "    client_id: crmsync-bench",
            f"    client_secret_env: {_SECRET_ENV}",
            f"    ca_bundle: {ca}",
            "    timeout_seconds: 300",
            "store:",
            f"  url: sqlite:///{folder / 'store.db'}",
            "queue:",
            "  kind: sqlite",
            f"  path: {folder / 'queue.db'}",
            "resources: []",
            "inbound:",
            f"  mappings:{_MAPPING}",
        ]
    )
    return load_config_text(text, environ=_ENV)


async def _run(config: Config) -> RunSummary:
    async with InboundEngine(config, environ=_ENV) as engine:
        return await engine.run(once=True)


def _usage(url: str, ca: Path) -> int:
    return int(httpx.get(f"{url}/_emulator/usage", verify=str(ca)).json()["used"])


def _touch(url: str, ca: Path, ids: list[str]) -> None:
    with httpx.Client(base_url=url, verify=str(ca), timeout=300) as http:
        for start in range(0, len(ids), 10_000):
            body = {"object": "Contact", "ids": ids[start : start + 10_000]}
            http.post("/_emulator/system-change", json=body).raise_for_status()


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _round(label: str, config: Config, url: str, ca: Path, before: RunSummary | None) -> RunSummary:
    used = _usage(url, ca)
    started = time.perf_counter()
    summary = asyncio.run(_run(config))
    seconds = time.perf_counter() - started
    counts = summary.counters["contacts"]
    old = before.counters["contacts"] if before else None
    read = counts.read - (old.read if old else 0)
    calls = counts.crm_calls - (old.crm_calls if old else 0)
    api = _usage(url, ca) - used
    print(
        f"{label:<12} {read:>9,} records in {seconds:7.1f} s = {read / seconds:>8,.0f} records/s, "
        f"peak RSS {_peak_rss_mb():5.0f} MB, CRM calls {calls:,} (emulator counted {api:,} API "
        f"requests), Campaign writes {counts.campaign_writes:,}",
        flush=True,
    )
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--changes", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="crmsync-bench-sf-") as tmp:
        folder = Path(tmp)
        print(f"seeding {args.contacts:,} contacts in the emulator process…", flush=True)
        started = time.perf_counter()
        with salesforce_emulator(args.contacts, folder) as (url, ca):
            print(f"emulator ready in {time.perf_counter() - started:.0f} s", flush=True)
            config = _config(url, ca, folder)
            initial = _round("initial load", config, url, ca, None)
            if args.changes:
                with sqlite3.connect(folder / "store.db") as db:
                    ids = [
                        row[0]
                        for row in db.execute(
                            "select external_id from profile order by external_id limit ?",
                            (args.changes,),
                        )
                    ]
                # The touched records are stamped after the overlap window of the seeded ones.
                httpx.post(
                    f"{url}/_emulator/clock", json={"advance_seconds": 300}, verify=str(ca)
                ).raise_for_status()
                _touch(url, ca, ids)
                _round("incremental", config, url, ca, initial)


if __name__ == "__main__":
    main()
