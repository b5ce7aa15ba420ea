"""Shared set-up of the two-way benchmark: either CRM's emulator in its own process (HTTPS, its
data in a SQLite file this process reads directly), the configuration of a contact mapping into
``profile`` (one-way or two-way), the store, and the requests the emulator served."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from bench._emulator_process import free_port
from bench._inbound_setup import CLIENT_ID, POSTGRES_URL, SECRET, SECRET_ENV, TENANT
from crmsync.connectors.dataverse import DataverseConnectionConfig, DataverseConnector
from crmsync.connectors.salesforce import SalesforceConnectionConfig, SalesforceConnector
from crmsync.store import create_engine_for

#: The benchmark's own schema in the local PostgreSQL of ``--store postgresql``.
PG_SCHEMA = "crmsync_bench_twoway"
MAPPING = "contacts"
#: The id column and the fields of each CRM's contact table: CRM field → ``profile`` column.
CONTACT: dict[str, tuple[str, str, dict[str, str]]] = {
    "dataverse": (
        "contact",
        "contactid",
        {
            "firstname": "first_name",
            "lastname": "last_name",
            "emailaddress1": "email",
            "telephone1": "phone",
            "address1_city": "city",
            "address1_country": "country",
            "birthdate": "birth_date",
        },
    ),
    "salesforce": (
        "Contact",
        "Id",
        {
            "FirstName": "first_name",
            "LastName": "last_name",
            "Email": "email",
            "Phone": "phone",
            "MailingCity": "city",
            "MailingCountry": "country",
            "Birthdate": "birth_date",
        },
    ),
}
#: The field both sides edit, in the CRM and in ``profile``.
EDITED = {"dataverse": "address1_city", "salesforce": "MailingCity"}
EDITED_COLUMN = "city"


@dataclass(frozen=True, slots=True)
class Emulator:
    """A CRM emulator running in its own process."""

    kind: str
    url: str
    ca: Path
    data: Path

    def connector(self) -> DataverseConnector | SalesforceConnector:
        if self.kind == "dataverse":
            return DataverseConnector(
                DataverseConnectionConfig(
                    url=self.url,
                    tenant_id=TENANT,
                    authority=f"{self.url}/{TENANT}",
                    client_id=CLIENT_ID,
                    client_secret_env=SECRET_ENV,
                    ca_bundle=self.ca,
                ),
                environ={SECRET_ENV: SECRET},
            )
        return SalesforceConnector(
            SalesforceConnectionConfig(
                url=self.url, client_id=CLIENT_ID, client_secret_env=SECRET_ENV, ca_bundle=self.ca
            ),
            environ={SECRET_ENV: SECRET},
        )

    def crm_value(self, db: sqlite3.Connection, record_id: str) -> Any:
        """The edited field of one contact, read from the emulator's own file (no request)."""
        table, key, _ = CONTACT[self.kind]
        row = db.execute(
            f'SELECT "{EDITED[self.kind]}" FROM "{table}" WHERE "{key}" = ?',  # noqa: S608
            (record_id,),
        ).fetchone()
        return None if row is None else row[0]

    def requests(self) -> list[dict[str, Any]]:
        """The requests served since the last :meth:`clear_requests` (at most the last 1,000)."""
        answer = httpx.get(f"{self.url}/_emulator/requests", verify=str(self.ca), timeout=30)
        answer.raise_for_status()
        return list(answer.json())

    def clear_requests(self) -> None:
        httpx.delete(
            f"{self.url}/_emulator/requests", verify=str(self.ca), timeout=30
        ).raise_for_status()


@contextmanager
def crm_emulator(kind: str, contacts: int, folder: Path) -> Iterator[Emulator]:
    """``crmsync emulate KIND --tls`` seeded with ``contacts`` contacts, its data in a file."""
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    ca = folder / f"{kind}-ca.pem"
    data = folder / f"{kind}-emulator.db"
    command = [
        sys.executable,
        "-m",
        "crmsync",
        "emulate",
        kind,
        "--port",
        str(port),
        "--seed",
        f"contacts={contacts},accounts={max(1, contacts // 100)}",
        "--data",
        str(data),
        "--tls",
        "--ca-file",
        str(ca),
    ]
    # Benchmarks measure speed, not service protection or API budgets.
    command += (
        ["--rate-limit", "1000000000/300"] if kind == "dataverse" else ["--api-limit", "1000000000"]
    )
    url = f"https://127.0.0.1:{port}"
    process = subprocess.Popen(
        command, env={**os.environ, "PYTHONUNBUFFERED": "1"}, stdout=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 900
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the {kind} emulator exited with code {process.returncode}")
            if ca.exists():
                try:
                    health = httpx.get(f"{url}/_emulator/health", verify=str(ca), timeout=2)
                    if health.status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the {kind} emulator did not start in time")
            time.sleep(0.3)
        yield Emulator(kind, url, ca, data)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


@dataclass(frozen=True, slots=True)
class Store:
    """The Campaign store of one run: its URL, PostgreSQL schema (or ``None``) and queue file."""

    url: str
    schema: str | None
    queue: Path

    def engine(self) -> sa.Engine:
        return create_engine_for(self.url, schema=self.schema)


def new_store(kind: str, folder: Path, name: str) -> Store:
    """An empty store: a new SQLite file in ``folder``, or the benchmark's PostgreSQL schema
    dropped and created again."""
    queue = folder / f"{name}-queue.db"
    for path in folder.glob(f"{name}-*.db*"):
        path.unlink()
    if kind == "sqlite":
        return Store(f"sqlite:///{folder / f'{name}-campaign.db'}", None, queue)
    admin = sa.create_engine(POSTGRES_URL)
    try:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{PG_SCHEMA}" CASCADE')
            conn.exec_driver_sql(f'CREATE SCHEMA "{PG_SCHEMA}"')
    finally:
        admin.dispose()
    return Store(POSTGRES_URL, PG_SCHEMA, queue)


def write_config(
    path: Path, crm: Emulator, store: Store, *, two_way: bool, poll: float = 1.0
) -> Path:
    """The configuration ``crmsync run`` reads: the contact mapping into ``profile``."""
    table, _, fields = CONTACT[crm.kind]
    lines = [
        "version: 1",
        "connections:",
        "  crm:",
        f"    kind: {crm.kind}",
        f"    url: {crm.url}",
        *([f"    authority: {crm.url}/{TENANT}"] if crm.kind == "dataverse" else []),
        f"    client_id: {CLIENT_ID}",
        f"    client_secret_env: {SECRET_ENV}",
        f"    ca_bundle: {crm.ca}",
        "store:",
        f"  url: {store.url}",
        *([f"  pg_schema: {store.schema}"] if store.schema else []),
        "queue:",
        "  kind: sqlite",
        f"  path: {store.queue}",
        "resources: []",
        "inbound:",
        f"  poll_interval_seconds: {poll}",
        "  mappings:",
        f"    - name: {MAPPING}",
        "      connection: crm",
        f"      crm_table: {table}",
        "      resource: profile",
        "      primary_key: {campaign: external_id}",
        f"      two_way: {str(two_way).lower()}",
        "      fields:",
        *(f"        - {{crm: {name}, campaign: {column}}}" for name, column in fields.items()),
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


#: A record id in a request's path, left out when requests are grouped.
_ID_IN_PATH = re.compile(r"\([^)]*\)|/[0-9A-Za-z]{15,18}$")


def request_kinds(kind: str, requests: list[dict[str, Any]]) -> Counter[str]:
    """The emulator's served requests by what they were for: ``sign-in`` (with its discovery),
    ``metadata``, ``inbound read`` (change tracking or the ordered query), ``read by id`` (the
    Campaign → CRM side reading records before it merges) and ``write``."""
    kinds: Counter[str] = Counter()
    for request in requests:
        method, path, query = request["method"], request["path"], request["query"]
        if "token" in path or "/.well-known/" in path:
            kinds["sign-in"] += 1
        elif method != "GET":
            kinds["write"] += 1
        elif "EntityDefinitions" in path or "$metadata" in path or "describe" in path:
            kinds["metadata"] += 1
        elif _by_id(kind, httpx.QueryParams(query)):
            kinds["read by id"] += 1
        else:
            kinds["inbound read"] += 1
    return kinds


def unconditional_window(kind: str, requests: list[dict[str, Any]]) -> float | None:
    """Seconds from the first read by id of a round to the arrival of its last write: the
    longest a record read waits for its write; a CRM change of a written field made in between
    is overwritten where the write takes no precondition (Salesforce collections). ``None``
    without reads by id."""
    reads = [
        r["at"]
        for r in requests
        if r["method"] == "GET" and _by_id(kind, httpx.QueryParams(r["query"]))
    ]
    writes = [r["at"] for r in requests if r["method"] != "GET" and "token" not in r["path"]]
    if not reads or not writes:
        return None
    return max(writes) - min(reads)


def _by_id(kind: str, query: httpx.QueryParams) -> bool:
    if kind == "dataverse":
        return " eq " in query.get("$filter", "")
    return " IN (" in query.get("q", "")


def request_lines(requests: list[dict[str, Any]]) -> Counter[str]:
    """The requests grouped by method and path (record ids left out)."""
    return Counter(f"{r['method']} {_ID_IN_PATH.sub('(…)', r['path'])}" for r in requests)
