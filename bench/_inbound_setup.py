"""Shared set-up of the inbound benchmarks: the configuration file ``crmsync run`` reads (25 contact
fields into a custom resource), the store URL, and ``crmsync`` commands run as child processes
whose wall time and peak memory are measured on their own."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from crmsync.connectors.dataverse import DataverseConnectionConfig, DataverseConnector
from crmsync.state.models import Counts
from crmsync.state.store import StateStore
from crmsync.store import create_engine_for

SECRET_ENV = "CRMSYNC_BENCH_SECRET"  # noqa: S105 - the name of a variable, not a secret
SECRET = "bench-secret"  # noqa: S105 - the emulator accepts any client secret
CLIENT_ID = "crmsync-bench"
TENANT = "bench"
#: The local PostgreSQL of ``--store postgresql`` (override with CRMSYNC_BENCH_POSTGRES_URL).
POSTGRES_URL = os.environ.get(
    "CRMSYNC_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
PG_SCHEMA = "crmsync_bench"

#: (CRM field, Campaign field type, string length): 25 of the seeded contact fields.
FIELDS: list[tuple[str, str, int | None]] = [
    ("firstname", "string", 100),
    ("lastname", "string", 100),
    ("fullname", "string", 200),
    ("emailaddress1", "string", 200),
    ("emailaddress2", "string", 200),
    ("telephone1", "string", 50),
    ("mobilephone", "string", 50),
    ("jobtitle", "string", 100),
    ("birthdate", "date", None),
    ("gendercode", "integer", None),
    ("preferredcontactmethodcode", "integer", None),
    ("donotemail", "boolean", None),
    ("donotphone", "boolean", None),
    ("donotbulkemail", "boolean", None),
    ("donotpostalmail", "boolean", None),
    ("donotfax", "boolean", None),
    ("creditlimit", "double", None),
    ("numberofchildren", "integer", None),
    ("address1_line1", "string", 200),
    ("address1_city", "string", 100),
    ("address1_postalcode", "string", 20),
    ("address1_country", "string", 100),
    ("createdon", "datetime", None),
    ("modifiedon", "datetime", None),
    ("statecode", "integer", None),
]
RESOURCE = "crm_contact"
MAPPING = "contacts"


def store_url(kind: str, folder: Path) -> str:
    return f"sqlite:///{folder / 'campaign.db'}" if kind == "sqlite" else POSTGRES_URL


def reset_postgres() -> None:
    """An empty benchmark schema in the local PostgreSQL."""
    admin = sa.create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{PG_SCHEMA}" CASCADE')
        conn.exec_driver_sql(f'CREATE SCHEMA "{PG_SCHEMA}"')
    admin.dispose()


def write_config(
    folder: Path, url: str, ca: Path, store: str, *, poll: float = 1.0, nats: str | None = None
) -> Path:
    """The configuration file of the benchmark run; returns its path. The queue is a SQLite file
    in ``folder``, or with ``nats`` (a server's URL) that server's stream ``CRMSYNC``."""
    schema = f"\n  pg_schema: {PG_SCHEMA}" if store == "postgresql" else ""
    fields = "\n".join(f"      - {{crm: {name}, campaign: {name}}}" for name, _, _ in FIELDS)
    columns = "\n".join(
        f"      - {{name: {name}, type: {kind}{f', length: {length}' if length else ''}}}"
        for name, kind, length in FIELDS
    )
    text = textwrap.dedent(
        f"""\
        version: 1
        connections:
          crm:
            kind: dataverse
            url: {url}
            authority: {url}/{TENANT}
            client_id: {CLIENT_ID}
            client_secret_env: {SECRET_ENV}
            ca_bundle: {ca}
        store:
          url: {store_url(store, folder)}"""
    )
    queue = f"kind: nats\n  url: {nats}" if nats else f"kind: sqlite\n  path: {folder / 'queue.db'}"
    text += (
        schema
        + f"\nqueue:\n  {queue}"
        + textwrap.dedent(
            f"""
        inbound:
          poll_interval_seconds: {poll}
          mappings:
            - name: {MAPPING}
              connection: crm
              crm_table: contact
              resource: {RESOURCE}
              primary_key: {{campaign: crm_id}}
              fields:
        """
        )
    )
    text += fields + textwrap.dedent(
        f"""
        resources:
          - name: {RESOURCE}
            identifier: crm_id
            fields:
              - {{name: crm_id, type: string, length: 36}}
        """
    )
    text += columns + "\n"
    path = folder / "crmsync.yaml"
    path.write_text(text)
    return path


@dataclass(frozen=True, slots=True)
class ChildRun:
    """A child process's wall time, CPU time (user + system, with its own children), its peak
    resident memory and the peak of its whole process tree's (the engine and its writer
    process together), and the CPU time of its descendants (its writer process) as last
    sampled (every 0.2 s: up to that much of their last CPU may be missed)."""

    seconds: float
    cpu_seconds: float
    peak_rss_mb: float
    tree_peak_rss_mb: float = 0.0
    descendants_cpu_seconds: float = 0.0


def run_child(command: list[str], *, quiet: bool = False) -> ChildRun:
    """Run ``command`` to its end (``quiet``: its standard output discarded); raise when it
    fails."""
    env = {**os.environ, SECRET_ENV: SECRET, "PYTHONUNBUFFERED": "1"}
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL if quiet else None)
    peak = [0]
    cpu: dict[int, float] = {}
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.2):
            peak[0] = max(peak[0], _tree_rss_kb(process.pid))
            for pid in descendants(process.pid):
                cpu[pid] = max(cpu.get(pid, 0.0), cpu_seconds(pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, status, usage = os.wait4(process.pid, 0)
    done.set()
    sampler.join()
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:4])} … exited with {process.returncode}")
    own = usage.ru_maxrss / 1024
    total = usage.ru_utime + usage.ru_stime
    return ChildRun(seconds, total, own, max(own, peak[0] / 1024), sum(cpu.values()))


def descendants(pid: int) -> list[int]:
    """The pids of ``pid``'s children, their children and so on (those still there)."""
    found: list[int] = []
    pending = [pid]
    while pending:
        try:
            children = Path(f"/proc/{pending.pop()}/task")
            ids = [
                int(c)
                for task in children.iterdir()
                for c in (task / "children").read_text().split()
            ]
        except OSError:
            continue
        found += ids
        pending += ids
    return found


def cpu_seconds(pid: int) -> float:
    """The CPU time (user + system) ``pid`` has used so far (0 once it has gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    # The fields after the command name (which may hold spaces) in parentheses.
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _status_kb(pid: int, key: str) -> int:
    """A memory figure of ``pid`` from /proc/PID/status (``VmRSS``, ``VmHWM``…), in KB (0 once
    it has gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1])
    return 0


def _tree_rss_kb(pid: int) -> int:
    """The resident memory of ``pid`` and its descendants, in KB (0 once it has gone)."""
    return sum(_status_kb(current, "VmRSS") for current in [pid, *descendants(pid)])


def peak_rss_mb(pid: int) -> float:
    """The peak resident memory of ``pid`` so far (the kernel's high-water mark), in MB."""
    return _status_kb(pid, "VmHWM") / 1024


def crmsync(*args: str, profile: Path | None = None) -> list[str]:
    """A ``crmsync`` command; with ``profile``, sampled by py-spy (every thread, collapsed
    stacks) into that file. py-spy is installed apart: ``.venv/bin/pip install py-spy``."""
    command = [sys.executable, "-m", "crmsync", *args]
    if profile is None:
        return command
    spy = str(Path(sys.executable).with_name("py-spy"))
    return [
        spy,
        "record",
        "--threads",
        "--subprocesses",
        "--format",
        "raw",
        "-o",
        str(profile),
        "--",
        *command,
    ]


def store_count(url: str, store: str) -> int:
    engine = create_engine_for(url, schema=PG_SCHEMA if store == "postgresql" else None)
    try:
        with engine.connect() as conn:
            return int(conn.scalar(sa.text(f"select count(*) from {RESOURCE}")) or 0)  # noqa: S608
    finally:
        engine.dispose()


def loaded_postgres() -> int:
    """Contacts in the PostgreSQL store (0 before the table is published)."""
    try:
        return store_count(POSTGRES_URL, "postgresql")
    except sa.exc.ProgrammingError:
        return 0


def counters(url: str, store: str) -> Counts:
    """The counters of the benchmark's mapping in the store."""
    engine = create_engine_for(url, schema=PG_SCHEMA if store == "postgresql" else None)
    try:
        return StateStore(engine).counters.by_mapping(MAPPING)[MAPPING]
    finally:
        engine.dispose()


def connector(url: str, ca: Path) -> DataverseConnector:
    """The Dataverse connector of the benchmark's emulator."""
    return DataverseConnector(
        DataverseConnectionConfig(
            url=url,
            tenant_id=TENANT,
            authority=f"{url}/{TENANT}",
            client_id=CLIENT_ID,
            client_secret_env=SECRET_ENV,
            ca_bundle=ca,
        ),
        environ={SECRET_ENV: SECRET},
    )


async def contact_ids(url: str, ca: Path) -> list[str]:
    """The id of every contact in the emulator, read through the connector."""
    async with connector(url, ca) as crm:
        return [r.id async for page in crm.read_all("contact", ["contactid"]) for r in page]
