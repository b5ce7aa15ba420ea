"""PostgreSQL write path: crmsync's inbound writer against a raw COPY-and-merge of the same rows.

A scratch database is created on the local server (and dropped at the end). ``--rows`` contacts
with 15 fields like the Dataverse emulator's are made once; then, in each round, into fresh
tables of the same shape (the resource table crmsync publishes, and a copy of it):

(a) raw psycopg: per transaction of ``--messages-per-fetch`` × ``--message-size`` rows, ``COPY``
    into a temporary table and one ``INSERT … SELECT … ON CONFLICT (key) DO UPDATE … WHERE`` the
    incoming version is newer; the rows are given ready (Python values of each column's type);
(b) crmsync's writer: the same records as snapshot messages of ``--message-size`` changes (as the
    reader publishes them), applied by :class:`~crmsync.sync.writer.MappingWriter` in groups of
    ``--messages-per-fetch`` (as the write loop fetches them): conversion, digests, counters,
    snapshot keys, the guarded upsert;
(c) the same messages through a SQLite queue and the :class:`~crmsync.sync.write_loop.WriteLoop`
    (fetch, decode, apply, acknowledge; publishing is not timed).

Each prints wall time, the client's CPU time and the server backend's CPU time (from ``/proc``
when the server is local) per row, then the ratio of crmsync's rate to the raw rate::

    .venv/bin/python -m bench.pg_write --rows 200000 [--rounds 2] [--message-size 1000]
        [--messages-per-fetch 4] [--url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import sqlalchemy as sa
from psycopg import sql

from crmsync.config.models import InboundMapping
from crmsync.connectors.base import CrmType, FieldInfo, TableInfo
from crmsync.queue import Change, ChangeMessage, SQLiteQueue
from crmsync.state.store import StateStore
from crmsync.store import build_metadata, create_engine_for, definitions_with_profile, publish
from crmsync.store.resources import FieldDefinition, ResourceDefinition
from crmsync.store.types import CampaignType
from crmsync.sync.progress import NoProgress
from crmsync.sync.transform import compile_mapping
from crmsync.sync.write_loop import WriteLoop
from crmsync.sync.writer import MappingWriter

ADMIN_URL = os.environ.get(
    "CRMSYNC_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
DATABASE = "crmsync_bench_pg_write"
RESOURCE = "crm_contact"
MAPPING = "contacts"
KEY = "crm_id"

#: (CRM field, CRM type, Campaign type, string length): 15 fields of the emulator's contact.
FIELDS: list[tuple[str, CrmType, CampaignType, int | None]] = [
    ("firstname", CrmType.STRING, CampaignType.STRING, 100),
    ("lastname", CrmType.STRING, CampaignType.STRING, 100),
    ("fullname", CrmType.STRING, CampaignType.STRING, 200),
    ("emailaddress1", CrmType.STRING, CampaignType.STRING, 200),
    ("telephone1", CrmType.STRING, CampaignType.STRING, 50),
    ("jobtitle", CrmType.STRING, CampaignType.STRING, 100),
    ("address1_city", CrmType.STRING, CampaignType.STRING, 100),
    ("address1_postalcode", CrmType.STRING, CampaignType.STRING, 20),
    ("birthdate", CrmType.DATE, CampaignType.DATE, None),
    ("gendercode", CrmType.INTEGER, CampaignType.INTEGER, None),
    ("numberofchildren", CrmType.INTEGER, CampaignType.INTEGER, None),
    ("donotemail", CrmType.BOOLEAN, CampaignType.BOOLEAN, None),
    ("donotphone", CrmType.BOOLEAN, CampaignType.BOOLEAN, None),
    ("creditlimit", CrmType.DOUBLE, CampaignType.DOUBLE, None),
    ("modifiedon", CrmType.DATETIME, CampaignType.DATETIME, None),
]
COLUMNS = [KEY, *(name for name, _, _, _ in FIELDS), "source_version"]


def crm_table() -> TableInfo:
    fields = [
        FieldInfo("contactid", CrmType.UNIQUEIDENTIFIER),
        FieldInfo("versionnumber", CrmType.BIGINT),
        *(FieldInfo(name, kind) for name, kind, _, _ in FIELDS),
    ]
    return TableInfo(
        name="contact",
        collection="contacts",
        primary_key="contactid",
        primary_name=None,
        change_tracking=True,
        version_field="versionnumber",
        fields={field.name: field for field in fields},
    )


def resource(name: str) -> ResourceDefinition:
    fields = [FieldDefinition(name=KEY, type=CampaignType.STRING, length=36)]
    fields += [FieldDefinition(name=n, type=kind, length=size) for n, _, kind, size in FIELDS]
    return ResourceDefinition(name=name, identifier=KEY, fields=tuple(fields))


def make_changes(count: int) -> list[Change]:
    """Contacts as the Dataverse connector reads them (wire values)."""
    cities = ["London", "Paris", "Berlin", "Lisbon", "Oslo", "Rome", "Vienna", "Dublin"]
    base = datetime(2024, 1, 1, tzinfo=UTC)
    changes = []
    for i in range(count):
        first, last = f"First{i % 997}", f"Last{i}"
        values = {
            "contactid": f"{i:08d}-0000-4000-8000-000000000000",
            "firstname": first,
            "lastname": last,
            "fullname": f"{first} {last}",
            "emailaddress1": f"contact{i}@example.com",
            "telephone1": f"+44 20 7946 {i % 10000:04d}",
            "jobtitle": "Engineer" if i % 3 else "Manager",
            "address1_city": cities[i % len(cities)],
            "address1_postalcode": f"{i % 99999:05d}",
            "birthdate": (date(1950, 1, 1) + timedelta(days=i % 18000)).isoformat(),
            "gendercode": 1 + i % 2,
            "numberofchildren": i % 5,
            "donotemail": i % 7 == 0,
            "donotphone": i % 11 == 0,
            "creditlimit": float(i % 50_000) + 0.5,
            "modifiedon": (base + timedelta(seconds=i)).isoformat().replace("+00:00", "Z"),
        }
        changes.append(Change("upsert", str(values["contactid"]), 1_000 + i, values))
    return changes


def raw_rows(changes: Sequence[Change]) -> list[tuple[Any, ...]]:
    """The same records as ready rows of :data:`COLUMNS` (Python values of each type)."""
    rows = []
    for change in changes:
        v = change.values
        rows.append(
            (
                change.id,
                *(v[name] for name, _, _, _ in FIELDS[:8]),
                date.fromisoformat(v["birthdate"]),
                v["gendercode"],
                v["numberofchildren"],
                v["donotemail"],
                v["donotphone"],
                v["creditlimit"],
                datetime.fromisoformat(v["modifiedon"]),
                change.version,
            )
        )
    return rows


@dataclass(frozen=True, slots=True)
class Timing:
    seconds: float
    client_cpu: float
    server_cpu: float | None

    def line(self, label: str, rows: int) -> str:
        server = "n/a" if self.server_cpu is None else f"{1e6 * self.server_cpu / rows:5.1f} µs/row"
        return (
            f"{label:<38} {rows:>9,} rows in {self.seconds:6.2f} s = {rows / self.seconds:>8,.0f}"
            f" rows/s, client CPU {1e6 * self.client_cpu / rows:5.1f} µs/row, server CPU {server}"
        )


def _backend_cpu(pids: Sequence[int]) -> float | None:
    """User + system CPU seconds of the server processes ``pids`` (``None``: not readable)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    try:
        for pid in pids:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    except (OSError, IndexError, ValueError):
        return None
    return total / ticks


@contextmanager
def timed(backends: Callable[[], Sequence[int]]) -> Iterator[list[Timing]]:
    """Times the block: wall, this process's CPU and the CPU of the server backends that
    ``backends`` lists (asked before and after the block)."""
    out: list[Timing] = []
    before_server = _backend_cpu(backends())
    before_cpu, started = time.process_time(), time.perf_counter()
    yield out
    seconds, cpu = time.perf_counter() - started, time.process_time() - before_cpu
    after_server = _backend_cpu(backends())
    server = None
    if before_server is not None and after_server is not None:
        server = after_server - before_server
    out.append(Timing(seconds, cpu, server))


def backend_pids(engine: sa.Engine) -> list[int]:
    """The backend process id of ``engine``'s pooled connection: the writer's transactions run
    one after the other, on that connection (the pool gives back the one it holds)."""
    with engine.connect() as conn:
        return [int(conn.exec_driver_sql("select pg_backend_pid()").scalar_one())]


#: The types of :data:`COLUMNS` (for the binary COPY).
TYPES = ["varchar"] * 9 + ["date", "int8", "int8", "bool", "bool", "float8", "timestamptz", "int8"]


def raw_load(
    dsn: str, table: str, batches: Sequence[list[tuple[Any, ...]]], *, binary: bool
) -> Timing:
    """(a): COPY each batch into a temporary table (binary or text), merge it with one
    guarded upsert."""
    values = [c for c in COLUMNS if c != KEY]
    updates = sql.SQL(", ").join(
        sql.SQL("{0} = excluded.{0}").format(sql.Identifier(c)) for c in [*values, "modified_at"]
    )
    names = sql.SQL(", ").join(map(sql.Identifier, COLUMNS))
    merge = sql.SQL(
        "insert into {table} ({names}, created_at, modified_at, origin) "
        "select {names}, now(), now(), 'raw' from incoming "
        "on conflict ({key}) do update set {updates} "
        "where {table}.source_version is null or {table}.source_version < excluded.source_version"
    ).format(table=sql.Identifier(table), names=names, key=sql.Identifier(KEY), updates=updates)
    copy = sql.SQL("copy incoming ({names}) from stdin {binary}").format(
        names=names, binary=sql.SQL("(format binary)" if binary else "")
    )
    with psycopg.connect(dsn) as conn:
        pid = conn.info.backend_pid
        with timed(lambda: [pid]) as result:
            for batch in batches:
                with conn.transaction(), conn.cursor() as cur:
                    cur.execute(
                        sql.SQL(
                            "create temporary table incoming on commit drop as "
                            "select {names} from {table} with no data"
                        ).format(names=names, table=sql.Identifier(table))
                    )
                    with cur.copy(copy) as writer:
                        if binary:
                            writer.set_types(TYPES)
                        for row in batch:
                            writer.write_row(row)
                    cur.execute(merge)
    return result[0]


def build_writer(engine: sa.Engine) -> MappingWriter:
    definitions = definitions_with_profile([resource(RESOURCE)])
    fields = [{"crm": name, "campaign": name} for name, _, _, _ in FIELDS]
    mapping = InboundMapping.model_validate(
        {
            "name": MAPPING,
            "connection": "crm",
            "crm_table": "contact",
            "resource": RESOURCE,
            "primary_key": {"campaign": KEY},
            "fields": fields,
        }
    )
    compiled = compile_mapping(mapping, crm_table(), definitions[RESOURCE], resources=definitions)
    tables = build_metadata(definitions).tables
    return MappingWriter(compiled, tables[RESOURCE], tables, StateStore(engine), origin="crm:x")


def fresh_store(url: str) -> sa.Engine:
    """The scratch database emptied, crmsync's tables and the resource table published."""
    engine = create_engine_for(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("drop schema public cascade")
        conn.exec_driver_sql("create schema public")
    engine.dispose()
    engine = create_engine_for(url)
    publish(engine, [resource(RESOURCE)])
    with engine.begin() as conn:
        conn.exec_driver_sql(f"create table raw_contact (like {RESOURCE} including all)")
    return engine


def messages_of(
    engine: sa.Engine, changes: Sequence[Change], size: int, snapshot: str
) -> list[ChangeMessage]:
    """The changes as the reader publishes them: in messages of ``size``, each carrying the
    digest of its record (the fingerprint the reader computes)."""
    digest = build_writer(engine).fingerprints.digest
    changes = [replace(change, digest=digest(change.values, {})) for change in changes]
    return [
        ChangeMessage(MAPPING, list(changes[start : start + size]), snapshot, f"m{start}")
        for start in range(0, len(changes), size)
    ]


def writer_load(engine: sa.Engine, messages: Sequence[ChangeMessage], fetch: int) -> Timing:
    """(b): the writer applies the messages, ``fetch`` per transaction."""
    writer = build_writer(engine)
    pids = backend_pids(engine)
    with timed(lambda: pids) as result:
        for start in range(0, len(messages), fetch):
            writer.apply_all(messages[start : start + fetch])
    counts = writer.state.counters.by_mapping(MAPPING)[MAPPING]
    expected = sum(len(m.changes) for m in messages)
    assert counts.inserted == expected, f"inserted {counts.inserted}, expected {expected}"
    return result[0]


def loop_load(engine: sa.Engine, messages: Sequence[ChangeMessage], folder: Path) -> Timing:
    """(c): the same through a SQLite queue and the write loop, until the queue is drained."""
    writer = build_writer(engine)
    queue = SQLiteQueue(folder / f"queue-{time.monotonic_ns()}.db")

    async def run() -> Timing:
        for start in range(0, len(messages), 20):
            await queue.publish(messages[start : start + 20])
        loop = WriteLoop(
            {MAPPING: writer},
            writer.state,
            queue,
            parent_wait_seconds=60,
            progress=NoProgress(),
        )
        stop, caught_up = asyncio.Event(), asyncio.Event()
        caught_up.set()
        pids = backend_pids(engine)
        with timed(lambda: pids) as result:
            await loop.run(stop, caught_up)
        await queue.aclose()
        return result[0]

    timing = asyncio.run(run())
    counts = writer.state.counters.by_mapping(MAPPING)[MAPPING]
    expected = sum(len(m.changes) for m in messages)
    assert counts.inserted == expected, f"inserted {counts.inserted}, expected {expected}"
    return timing


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--message-size", type=int, default=1000)
    parser.add_argument("--messages-per-fetch", type=int, default=4)
    parser.add_argument("--url", default=ADMIN_URL, help="a database of the server (admin)")
    parser.add_argument("--no-loop", dest="loop", action="store_false", help="skip (c)")
    parser.add_argument(
        "--raw-format",
        choices=["binary", "text"],
        default="binary",
        help="the COPY format of (a) (binary measures faster)",
    )
    args = parser.parse_args()
    n, size, fetch = args.rows, args.message_size, args.messages_per_fetch
    admin = sa.create_engine(args.url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"drop database if exists {DATABASE}")
        conn.exec_driver_sql(f"create database {DATABASE}")
    url = admin.url.set(database=DATABASE)
    dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    store_url = url.render_as_string(hide_password=False)
    try:
        changes = make_changes(n)
        rows = raw_rows(changes)
        per = size * fetch
        batches = [rows[start : start + per] for start in range(0, n, per)]
        print(f"{n:,} contacts, {len(FIELDS)} fields, {per:,} rows a transaction", flush=True)
        with tempfile.TemporaryDirectory(prefix="crmsync-bench-") as tmp:
            for round_ in range(1, args.rounds + 1):
                engine = fresh_store(store_url)
                snapshot = StateStore(engine).snapshots.start(MAPPING)
                messages = messages_of(engine, changes, size, snapshot)
                raw = raw_load(dsn, "raw_contact", batches, binary=args.raw_format == "binary")
                label = f"[{round_}] (a) raw COPY ({args.raw_format}) + merge"
                print(raw.line(label, n), flush=True)
                mine = writer_load(engine, messages, fetch)
                print(mine.line(f"[{round_}] (b) crmsync MappingWriter", n), flush=True)
                print(f"[{round_}]     (b)/(a) = {raw.seconds / mine.seconds:.2f}", flush=True)
                if args.loop:
                    engine.dispose()
                    engine = fresh_store(store_url)
                    snapshot = StateStore(engine).snapshots.start(MAPPING)
                    messages = messages_of(engine, changes, size, snapshot)
                    loop = loop_load(engine, messages, Path(tmp))
                    print(loop.line(f"[{round_}] (c) crmsync WriteLoop + queue", n), flush=True)
                    print(f"[{round_}]     (c)/(a) = {raw.seconds / loop.seconds:.2f}", flush=True)
                engine.dispose()
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"drop database if exists {DATABASE} with (force)")
        admin.dispose()


if __name__ == "__main__":
    main()
