"""Set-up of the opt-in/out tests: either emulator over HTTPS, a configuration, profiles."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from pydantic import SecretStr

from crmsync.config.models import Config
from crmsync.connectors.base import Connector, WriteOp
from crmsync.emulators.common.server import BackgroundServer
from crmsync.emulators.common.tls import TlsFiles
from crmsync.emulators.dataverse import app as dataverse_app
from crmsync.emulators.dataverse.config import DataverseEmulatorSettings
from crmsync.emulators.salesforce import app as salesforce_app
from crmsync.emulators.salesforce.config import SalesforceEmulatorSettings
from crmsync.optout.lookup import as_time
from crmsync.state import ensure_store_schema
from crmsync.store import build_metadata, definitions_with_profile

SECRET = "optout-test-secret"
ENV = {"CRMSYNC_TEST_SECRET": SECRET}
DV_CLIENT = "6f1c2d4e-0000-4000-8000-0000000000b2"
SF_CLIENT = "3MVG9-optout-consumer-key"

#: CRM kind → (contact table, email field, phone field, modified field)
FIELDS = {
    "dataverse": ("contact", "donotbulkemail", "donotphone", "modifiedon"),
    "salesforce": ("Contact", "HasOptedOutOfEmail", "DoNotCall", "SystemModstamp"),
}


@dataclass
class Crm:
    kind: str
    url: str
    ca: Path
    contact_ids: list[str]

    @property
    def table(self) -> str:
        return FIELDS[self.kind][0]

    @property
    def email(self) -> str:
        return FIELDS[self.kind][1]

    @property
    def phone(self) -> str:
        return FIELDS[self.kind][2]

    def connection(self) -> dict[str, Any]:
        if self.kind == "dataverse":
            return {
                "kind": "dataverse",
                "url": self.url,
                "authority": f"{self.url}/optout",
                "client_id": DV_CLIENT,
                "client_secret_env": "CRMSYNC_TEST_SECRET",
                "ca_bundle": str(self.ca),
            }
        return {
            "kind": "salesforce",
            "url": self.url,
            "client_id": SF_CLIENT,
            "client_secret_env": "CRMSYNC_TEST_SECRET",
            "ca_bundle": str(self.ca),
        }

    def connector(self) -> Connector:
        from crmsync.runtime.connectors import open_connector

        config = Config.model_validate({"connections": {"crm": self.connection()}})
        return open_connector("crm", config.connections["crm"], ENV)

    async def load_ids(self) -> list[str]:
        connector = self.connector()
        try:
            self.contact_ids = sorted(
                [r.id async for page in connector.read_all(self.table, [self.email]) for r in page]
            )
        finally:
            await connector.aclose()
        return self.contact_ids

    async def update(self, record_id: str, **values: Any) -> None:
        connector = self.connector()
        try:
            (result,) = await connector.write([WriteOp("update", self.table, values, id=record_id)])
        finally:
            await connector.aclose()
        assert result.ok, result

    async def read(self, record_id: str) -> tuple[bool, bool, datetime]:
        """(email opt-out, phone opt-out, last modified) of one contact."""
        connector = self.connector()
        modified = FIELDS[self.kind][3]
        try:
            rows = {
                r.id.lower(): r.values
                async for page in connector.read_all(self.table, [self.email, self.phone, modified])
                for r in page
            }
        finally:
            await connector.aclose()
        values = rows[record_id.lower()]
        stamp = as_time(values[modified])
        assert stamp is not None
        return bool(values[self.email]), bool(values[self.phone]), stamp


@contextmanager
def running(kind: str, tls: TlsFiles, contacts: int = 4) -> Iterator[Crm]:
    if kind == "dataverse":
        dv = dataverse_app.create_emulator(
            DataverseEmulatorSettings(
                client_id=DV_CLIENT, client_secret=SecretStr(SECRET), seed_contacts=contacts
            )
        )
        try:
            with BackgroundServer(dv.app, tls=tls) as server:
                yield Crm(kind, server.url, tls.ca, [])
        finally:
            dv.close()
        return
    sf = salesforce_app.create_emulator(
        SalesforceEmulatorSettings(
            client_id=SF_CLIENT, client_secret=SecretStr(SECRET), seed_contacts=contacts
        )
    )
    try:
        with BackgroundServer(sf.app, tls=tls) as server:
            yield Crm(kind, server.url, tls.ca, [])
    finally:
        sf.close()


def config_data(crm: Crm, folder: Path, direction: str, **optinout: Any) -> dict[str, Any]:
    """The configuration as a document (what a configuration file holds)."""
    return {
        "connections": {"crm": crm.connection()},
        "store": {"url": f"sqlite:///{folder / 'store.db'}"},
        "queue": {"kind": "sqlite", "path": str(folder / "queue.db")},
        "optinout": {
            "direction": direction,
            "connection": "crm",
            "log_decisions": True,
            "poll_interval_seconds": 0.1,
            "mappings": [
                {"crm": crm.email, "campaign": "optout_email"},
                {"crm": crm.phone, "campaign": "optout_phone"},
            ],
        }
        | optinout,
    }


def make_config(crm: Crm, folder: Path, direction: str, **optinout: Any) -> Config:
    return Config.model_validate(config_data(crm, folder, direction, **optinout))


def profile_table() -> sa.Table:
    return build_metadata(definitions_with_profile(())).tables["profile"]


def add_profiles(engine: sa.Engine, external_ids: list[str], at: datetime) -> None:
    profile = profile_table()
    profile.metadata.create_all(engine, checkfirst=True)
    ensure_store_schema(engine)
    with engine.begin() as conn:
        conn.execute(
            sa.insert(profile),
            [
                {"external_id": e, "created_at": at, "modified_at": at, "email": f"{i}@x.test"}
                for i, e in enumerate(external_ids)
            ],
        )


def profile_values(engine: sa.Engine, external_id: str) -> dict[str, Any]:
    profile = profile_table()
    with engine.connect() as conn:
        row = conn.execute(sa.select(profile).where(profile.c.external_id == external_id)).one()
    return dict(row._mapping)
