"""The yardstick of ``bench.embedded_load``: the initial load a plain one-thread script does.

It reads every page of ``contacts`` from the Dataverse emulator (the same request as crmsync's
connector: change tracking's first read, ``$select`` of the 25 fields, 5,000 records a page,
HTTPS) with httpx and orjson, builds rows of the columns crmsync writes (the 25 fields in the
store's forms, ``source_version``, ``source_digest``, ``synced_at``, ``created_at``,
``modified_at``, ``origin``) and upserts each page with one ``executemany`` of ``INSERT … ON
CONFLICT DO UPDATE … WHERE`` (a newer version only) into a SQLite file in WAL mode with
``synchronous=FULL``, one transaction per page. Run as a child process::

    python -m bench.plain_load URL CA_FILE TARGET_DB EXPECTED_ROWS

What it does not do, and crmsync does: check any value (lengths, types, dates), keep the
records in a durable queue between reading and writing, note the snapshot's keys (to find the
records deleted in the CRM), count, reject, park children, merge two-way mappings.
"""

from __future__ import annotations

import sqlite3
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import xxhash

from bench._inbound_setup import CLIENT_ID, FIELDS, RESOURCE, SECRET, TENANT

_TYPES = {
    "string": "VARCHAR({length})",
    "date": "DATE",
    "integer": "BIGINT",
    "boolean": "BOOLEAN",
    "double": "DOUBLE",
    "datetime": "DATETIME",
}
_TWO_63 = 1 << 63
_TWO_64 = 1 << 64


def create_table(db: sqlite3.Connection) -> None:
    """The table crmsync publishes for the benchmark's resource (the same columns and index)."""
    fields = ",\n".join(
        f"{name} {_TYPES[kind].format(length=length)}" for name, kind, length in FIELDS
    )
    db.executescript(
        f"""
        CREATE TABLE {RESOURCE} (
            id INTEGER NOT NULL PRIMARY KEY,
            crm_id VARCHAR(36),
            {fields},
            created_at DATETIME NOT NULL,
            modified_at DATETIME NOT NULL,
            origin VARCHAR(255),
            source_version BIGINT,
            source_digest BIGINT,
            synced_at DATETIME
        );
        CREATE UNIQUE INDEX uq_{RESOURCE}_crm_id ON {RESOURCE} (crm_id);
        """
    )


def upsert_sql() -> str:
    names = [name for name, _, _ in FIELDS]
    columns = ["crm_id", *names, "source_version", "source_digest"]
    columns += ["synced_at", "created_at", "modified_at", "origin"]
    updated = [*names, "source_version", "source_digest", "synced_at", "modified_at"]
    return (
        f"INSERT INTO {RESOURCE} ({', '.join(columns)})"  # noqa: S608 - constants only
        f" VALUES ({', '.join('?' * len(columns))})"
        f" ON CONFLICT (crm_id) DO UPDATE SET"
        f" {', '.join(f'{name} = excluded.{name}' for name in updated)}"
        f" WHERE excluded.source_version > {RESOURCE}.source_version"
    )


def stored_time(value: Any) -> Any:
    """``YYYY-MM-DDTHH:MM:SSZ`` in the form SQLAlchemy stores a ``DateTime`` in SQLite."""
    if isinstance(value, str) and len(value) == 20:
        return f"{value[:10]} {value[11:19]}.000000"
    return value


def row_maker() -> Any:
    names = [name for name, _, _ in FIELDS]
    times = {name for name, kind, _ in FIELDS if kind == "datetime"}
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")

    def row(record: dict[str, Any]) -> tuple[Any, ...]:
        values = {name: record.get(name) for name in names}
        digest = xxhash.xxh3_64_intdigest(orjson.dumps(values))
        return (
            record["contactid"],
            *(stored_time(values[n]) if n in times else values[n] for n in names),
            int(record["versionnumber"]),
            digest - _TWO_64 if digest >= _TWO_63 else digest,
            now,
            now,
            now,
            "crm:crm",
        )

    return row


def load(url: str, ca: str, target: Path) -> int:
    """Read every page and upsert it; returns how many records were read."""
    db = sqlite3.connect(target, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    create_table(db)
    sql, row = upsert_sql(), row_maker()
    select = ",".join(["contactid", "versionnumber", *(name for name, _, _ in FIELDS)])
    read = 0
    with httpx.Client(verify=ca, timeout=120) as http:
        token = http.post(
            f"{url}/{TENANT}/oauth2/v2.0/token",
            data={
                "grant_type": "client_credentials",
                "client_id": CLIENT_ID,
                "client_secret": SECRET,
                "scope": f"{url}/.default",
            },
        )
        token.raise_for_status()
        headers = {
            "Authorization": f"Bearer {orjson.loads(token.content)['access_token']}",
            "Accept": "application/json",
            "Prefer": "odata.track-changes,odata.maxpagesize=5000",
        }
        next_url: str | None = f"{url}/api/data/v9.2/contacts?$select={select}"
        while next_url is not None:
            answer = http.get(next_url, headers=headers)
            answer.raise_for_status()
            page = orjson.loads(answer.content)
            rows = [row(record) for record in page["value"]]
            db.execute("BEGIN IMMEDIATE")
            db.executemany(sql, rows)
            db.execute("COMMIT")
            read += len(rows)
            next_url = page.get("@odata.nextLink")
    db.close()
    return read


def main() -> None:
    url, ca, target, expected = sys.argv[1], sys.argv[2], Path(sys.argv[3]), int(sys.argv[4])
    started = time.perf_counter()
    read = load(url, ca, target)
    seconds = time.perf_counter() - started
    with sqlite3.connect(target) as db:
        stored = db.execute(f"SELECT count(*) FROM {RESOURCE}").fetchone()[0]  # noqa: S608
    if read != expected or stored != expected:
        raise SystemExit(f"plain load: read {read}, stored {stored}, expected {expected}")
    print(f"plain load: {stored:,} rows in {seconds:.1f} s", flush=True)


if __name__ == "__main__":
    main()
