"""Shared set-up of the inbound engine tests: an HTTPS Dataverse emulator, a configuration file
pointing at it, one-shot runs of the engine, CRM writes over the Web API and store reads."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from pydantic import SecretStr

from crmsync.config import load_config_text
from crmsync.config.models import Config
from crmsync.connectors.base import WriteOp
from crmsync.connectors.dataverse import DataverseConnectionConfig, DataverseConnector
from crmsync.emulators.common.server import BackgroundServer
from crmsync.emulators.common.tls import TlsFiles
from crmsync.emulators.dataverse.app import DataverseEmulator, create_emulator
from crmsync.emulators.dataverse.config import DataverseEmulatorSettings
from crmsync.state.store import StateStore
from crmsync.store import create_engine_for
from crmsync.sync.engine import EngineOptions, InboundEngine, RunSummary

CLIENT_ID = "6f1c2d4e-0000-4000-8000-0000000000a1"
SECRET = "inbound-test-secret"
ENV = {"CRMSYNC_TEST_SECRET": SECRET}

SUBSCRIPTION_RESOURCE = """
  - name: subscription
    identifier: crm_id
    fields:
      - {name: crm_id, type: string, length: 36}
      - {name: name, type: string, length: 100}
      - {name: contact_id, type: string, length: 255}
      - {name: plan, type: string, length: 64}
    links:
      - {resource: profile, field: contact_id, cardinality: "0..1", on_parent_delete: cascade}
"""

#: Contacts' names only.
NAMES_MAPPING = """
  - name: contacts
    connection: dynamics
    crm_table: contact
    resource: profile
    primary_key: {campaign: external_id}
    fields:
      - {crm: firstname, campaign: first_name}
      - {crm: lastname, campaign: last_name}
"""

CONTACTS_MAPPING = (
    NAMES_MAPPING
    + """\
      - {crm: emailaddress1, campaign: email}
      - {crm: address1_city, campaign: city}
"""
)

SUBSCRIPTIONS_MAPPING = """
  - name: subscriptions
    connection: dynamics
    crm_table: crmsync_subscription
    resource: subscription
    primary_key: {campaign: crm_id}
    fields:
      - {crm: crmsync_name, campaign: name}
      - {crm: crmsync_contactid, campaign: contact_id}
      - {crm: crmsync_plan, campaign: plan}
"""


@dataclass
class Crm:
    """A running emulator and how to reach it."""

    emulator: DataverseEmulator
    server: BackgroundServer
    tls: TlsFiles

    @property
    def url(self) -> str:
        return self.server.url

    def connector(self, page_size: int = 5000) -> DataverseConnector:
        return DataverseConnector(
            DataverseConnectionConfig(
                url=self.url,
                tenant_id="inbound",
                authority=f"{self.url}/inbound",
                client_id=CLIENT_ID,
                client_secret_env="CRMSYNC_TEST_SECRET",
                ca_bundle=self.tls.ca,
                page_size=page_size,
            ),
            environ=ENV,
        )

    async def write(self, *ops: WriteOp) -> list[str]:
        async with self.connector() as crm:
            results = await crm.write(ops)
        assert all(r.ok for r in results), results
        return [r.id or "" for r in results]

    async def rows(self, table: str, fields: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Every record of ``table``: id → values."""
        async with self.connector() as crm:
            return {
                record.id: dict(record.values)
                async for page in crm.read_all(table, fields)
                for record in page
            }


@contextmanager
def running_crm(
    tls: TlsFiles,
    *,
    contacts: int = 30,
    accounts: int = 3,
    port: int = 0,
    data: Path | None = None,
    page_size: int = 5000,
    **settings: Any,
) -> Iterator[Crm]:
    emulator = create_emulator(
        DataverseEmulatorSettings(
            client_id=CLIENT_ID,
            client_secret=SecretStr(SECRET),
            seed_contacts=contacts,
            seed_accounts=accounts,
            data_file=data,
            max_page_size=page_size,
            **settings,
        )
    )
    try:
        with BackgroundServer(emulator.app, tls=tls, port=port) as server:
            yield Crm(emulator, server, tls)
    finally:
        emulator.close()


def config_text(
    crm_url: str,
    ca: Path,
    folder: Path,
    mappings: str,
    resources: str = "",
    *,
    connection: Sequence[str] = (),
    credential: Sequence[str] = ("    client_secret_env: CRMSYNC_TEST_SECRET",),
    store_url: str | None = None,
    pg_schema: str | None = None,
) -> str:
    """A configuration with one connection (its ``connection`` lines, by default those of the
    Dataverse emulator at ``crm_url``; then its ``credential`` lines, by default its secret from
    ``CRMSYNC_TEST_SECRET``, and ``ca`` as its CA bundle), the store at ``store_url`` (default:
    ``store.db`` in ``folder``), a SQLite queue in ``folder``, and the inbound ``mappings``."""
    connection = connection or [
        "  dynamics:",
        "    kind: dataverse",
        f"    url: {crm_url}",
        f"    authority: {crm_url}/inbound",
        f"    client_id: {CLIENT_ID}",
    ]
    store = store_url or f"sqlite:///{folder / 'store.db'}"
    lines = [
        "version: 1",
        "connections:",
        *connection,
        *credential,
        f"    ca_bundle: {ca}",
        "store:",
        f"  url: {store}",
        *([f"  pg_schema: {pg_schema}"] if pg_schema else []),
        "queue:",
        "  kind: sqlite",
        f"  path: {folder / 'queue.db'}",
        f"resources:{resources or ' []'}",
        "inbound:",
        "  poll_interval_seconds: 0.2",
        f"  mappings:{mappings}",
    ]
    return "\n".join(lines)


def make_config(crm: Crm, folder: Path, mappings: str, resources: str = "", **kw: Any) -> Config:
    return load_config_text(
        config_text(crm.url, crm.tls.ca, folder, mappings, resources, **kw), environ=ENV
    )


async def run_once(config: Config, **options: Any) -> RunSummary:
    async with InboundEngine(config, environ=ENV, options=EngineOptions(**options)) as engine:
        return await engine.run(once=True)


def store_rows(config: Config, table: str, key: str) -> dict[str, dict[str, Any]]:
    """Every row of a Campaign table, by key (rows without key under ``None``-less ids)."""
    engine = create_engine_for(config.store.url, schema=config.store.pg_schema)
    try:
        meta = sa.MetaData()
        t = sa.Table(table, meta, autoload_with=engine)
        with engine.connect() as conn:
            out: dict[str, dict[str, Any]] = {}
            for row in conn.execute(sa.select(t)).mappings():
                out[row[key] if row[key] is not None else f"<local {row['id']}>"] = dict(row)
            return out
    finally:
        engine.dispose()


def sync_state(config: Config) -> StateStore:
    return StateStore(create_engine_for(config.store.url, schema=config.store.pg_schema))
