"""Shared set-up of the two-way tests: either CRM's emulator over HTTPS, a configuration whose
contact mapping is two-way, runs of the inbound engine, CRM reads and writes through the
connector, and Campaign edits made with the database's own command-line client."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from pydantic import SecretStr

from crmsync.config import load_config_text
from crmsync.config.models import Config
from crmsync.connectors.base import Connector, WriteOp
from crmsync.connectors.dataverse import DataverseConnectionConfig, DataverseConnector
from crmsync.connectors.salesforce import SalesforceConnectionConfig, SalesforceConnector
from crmsync.emulators.common.server import BackgroundServer
from crmsync.emulators.common.tls import TlsFiles
from crmsync.emulators.dataverse.app import create_emulator as create_dataverse
from crmsync.emulators.dataverse.config import DataverseEmulatorSettings
from crmsync.emulators.salesforce.app import create_emulator as create_salesforce
from crmsync.emulators.salesforce.config import SalesforceEmulatorSettings
from crmsync.store import create_engine_for
from crmsync.sync.engine import EngineOptions, InboundEngine, RunSummary

SECRET = "twoway-test-secret"
ENV = {"CRMSYNC_TEST_SECRET": SECRET}
DATAVERSE_CLIENT = "6f1c2d4e-0000-4000-8000-0000000000b2"
SALESFORCE_CLIENT = "3MVG9-twoway-consumer-key"

#: Per CRM: the contact table, its fields for first name, last name and city.
TABLES = {
    "dataverse": ("contact", "firstname", "lastname", "address1_city"),
    "salesforce": ("Contact", "FirstName", "LastName", "MailingCity"),
}


@dataclass
class Crm:
    """A running CRM emulator of either kind and how to reach it."""

    kind: str
    emulator: Any
    server: BackgroundServer
    tls: TlsFiles

    @property
    def table(self) -> str:
        return TABLES[self.kind][0]

    @property
    def fields(self) -> tuple[str, str, str]:
        _, first, last, city = TABLES[self.kind]
        return first, last, city

    def connector(self) -> Connector:
        if self.kind == "dataverse":
            return DataverseConnector(
                DataverseConnectionConfig(
                    url=self.server.url,
                    tenant_id="twoway",
                    authority=f"{self.server.url}/twoway",
                    client_id=DATAVERSE_CLIENT,
                    client_secret_env="CRMSYNC_TEST_SECRET",
                    ca_bundle=self.tls.ca,
                ),
                environ=ENV,
            )
        return SalesforceConnector(
            SalesforceConnectionConfig(
                url=self.server.url,
                client_id=SALESFORCE_CLIENT,
                client_secret_env="CRMSYNC_TEST_SECRET",
                ca_bundle=self.tls.ca,
            ),
            environ=ENV,
        )

    def connection(self) -> list[str]:
        url = self.server.url
        lines = ["  crm:", f"    kind: {self.kind}", f"    url: {url}"]
        if self.kind == "dataverse":
            lines += [f"    authority: {url}/twoway", f"    client_id: {DATAVERSE_CLIENT}"]
        else:
            lines += [f"    client_id: {SALESFORCE_CLIENT}"]
        return [
            *lines,
            "    client_secret_env: CRMSYNC_TEST_SECRET",
            f"    ca_bundle: {self.tls.ca}",
        ]

    async def update(self, record_id: str, **values: Any) -> None:
        async with self.connector() as crm:
            [result] = await crm.write([WriteOp("update", self.table, values, id=record_id)])
        assert result.ok, result

    async def records(self) -> dict[str, dict[str, Any]]:
        """Every contact: id → values (the names, the city and the version)."""
        async with self.connector() as crm:
            info = await crm.describe(self.table)
            fields = [*self.fields, info.version_field or ""]
            return {
                record.id: {**record.values, "@version": record.version}
                async for page in crm.read_all(self.table, fields)
                for record in page
            }


@contextmanager
def running_crm(kind: str, tls: TlsFiles, *, contacts: int = 10, **settings: Any) -> Iterator[Crm]:
    if kind == "dataverse":
        emulator: Any = create_dataverse(
            DataverseEmulatorSettings(
                client_id=DATAVERSE_CLIENT,
                client_secret=SecretStr(SECRET),
                seed_contacts=contacts,
                seed_accounts=1,
                **settings,
            )
        )
    else:
        emulator = create_salesforce(
            SalesforceEmulatorSettings(
                client_id=SALESFORCE_CLIENT,
                client_secret=SecretStr(SECRET),
                seed_contacts=contacts,
                seed_accounts=1,
                **settings,
            )
        )
    try:
        with BackgroundServer(emulator.app, tls=tls) as server:
            yield Crm(kind, emulator, server, tls)
    finally:
        emulator.close()


def contacts_mapping(crm: Crm, *, two_way: bool = True, extra: str = "") -> str:
    first, last, city = crm.fields
    return f"""
  - name: contacts
    connection: crm
    crm_table: {crm.table}
    resource: profile
    primary_key: {{campaign: external_id}}
    two_way: {str(two_way).lower()}
    fields:
      - {{crm: {first}, campaign: first_name}}
      - {{crm: {last}, campaign: last_name}}
      - {{crm: {city}, campaign: city}}
{extra}"""


def config_text(
    crm: Crm,
    folder: Path,
    store: tuple[str, str | None],
    mappings: str | None = None,
    resources: str = " []",
) -> str:
    url, schema = store
    lines = [
        "version: 1",
        "connections:",
        *crm.connection(),
        "store:",
        f"  url: {url}",
        *([f"  pg_schema: {schema}"] if schema else []),
        "queue:",
        "  kind: sqlite",
        f"  path: {folder / 'queue.db'}",
        f"resources:{resources}",
        "inbound:",
        "  poll_interval_seconds: 0.2",
        f"  mappings:{mappings if mappings is not None else contacts_mapping(crm)}",
    ]
    return "\n".join(lines)


def make_config(
    crm: Crm,
    folder: Path,
    store: tuple[str, str | None],
    mappings: str | None = None,
    resources: str = " []",
) -> Config:
    return load_config_text(config_text(crm, folder, store, mappings, resources), environ=ENV)


async def run_once(config: Config, **options: Any) -> RunSummary:
    async with InboundEngine(config, environ=ENV, options=EngineOptions(**options)) as engine:
        return await engine.run(once=True)


def profiles(config: Config) -> dict[str, dict[str, Any]]:
    """Every profile row owned by a CRM record, by its id."""
    engine = create_engine_for(config.store.url, schema=config.store.pg_schema)
    try:
        table = sa.Table("profile", sa.MetaData(), autoload_with=engine)
        with engine.connect() as conn:
            rows = conn.execute(sa.select(table).where(table.c.external_id.is_not(None)))
            return {row["external_id"]: dict(row) for row in rows.mappings()}
    finally:
        engine.dispose()


def two_way_rows(config: Config, table: sa.Table, record_id: str) -> list[dict[str, Any]]:
    """The rows of one of two-way sync's own tables (``crmsync.twoway.tables``) about a record."""
    engine = create_engine_for(config.store.url, schema=config.store.pg_schema)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.select(table).where(table.c.record_key == record_id))
            return [dict(row) for row in rows.mappings()]
    finally:
        engine.dispose()


def edit(config: Config, record_id: str, **values: str) -> None:
    """``UPDATE profile SET …`` of the row of ``record_id``, run with the database's own client."""
    assignments = ", ".join(f"{name} = {_literal(value)}" for name, value in values.items())
    where = f"external_id = {_literal(record_id)}"
    sql(config, f"UPDATE profile SET {assignments} WHERE {where}")  # noqa: S608 - test values


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def sql(config: Config, statement: str) -> None:
    """Run ``statement`` with the database's own command-line client (``sqlite3``, ``psql``):
    an edit made outside crmsync."""
    url = sa.make_url(config.store.url)
    if url.get_backend_name() == "sqlite":
        command = [_tool("sqlite3"), str(url.database), statement]
    else:
        schema = config.store.pg_schema or "public"
        target = url.set(drivername="postgresql").render_as_string(hide_password=False)
        command = [
            _tool("psql"),
            target,
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            f"SET search_path TO {schema}; {statement}",
        ]
    subprocess.run(command, check=True, capture_output=True, timeout=30)


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(f"the {name} command-line client is not installed")
    return path
