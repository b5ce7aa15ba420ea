"""Set-up of the outbound tests: either emulator over HTTPS, a configuration, profiles, events."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from pydantic import SecretStr

from crmsync.config.models import Config
from crmsync.connectors.base import Connector
from crmsync.emulators.common.server import BackgroundServer
from crmsync.emulators.common.tls import TlsFiles
from crmsync.emulators.dataverse import app as dataverse_app
from crmsync.emulators.dataverse.config import DataverseEmulatorSettings
from crmsync.emulators.salesforce import app as salesforce_app
from crmsync.emulators.salesforce.config import SalesforceEmulatorSettings
from crmsync.events import Event
from crmsync.events.defaults import DEFAULT_FIELDS, DEFAULT_TABLES
from crmsync.store import build_metadata, definitions_with_profile

SECRET = "events-test-secret"
ENV = {"CRMSYNC_TEST_SECRET": SECRET}
DV_CLIENT = "6f1c2d4e-0000-4000-8000-0000000000e5"
SF_CLIENT = "3MVG9-events-consumer-key"
AT = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
CONTACT_TABLES = {"dataverse": "contact", "salesforce": "Contact"}


@dataclass
class Crm:
    kind: str
    url: str
    ca: Path

    def connection(self) -> dict[str, Any]:
        common = {
            "url": self.url,
            "client_secret_env": "CRMSYNC_TEST_SECRET",
            "ca_bundle": str(self.ca),
        }
        if self.kind == "dataverse":
            return common | {
                "kind": "dataverse",
                "authority": f"{self.url}/events",
                "client_id": DV_CLIENT,
            }
        return common | {"kind": "salesforce", "client_id": SF_CLIENT}

    def connector(self) -> Connector:
        from crmsync.runtime.connectors import open_connector

        config = Config.model_validate({"connections": {"crm": self.connection()}})
        return open_connector("crm", config.connections["crm"], ENV)

    async def contact_ids(self) -> list[str]:
        connector = self.connector()
        table = CONTACT_TABLES[self.kind]
        try:
            info = await connector.describe(table)
            return sorted(
                [r.id async for page in connector.read_all(table, [info.primary_key]) for r in page]
            )
        finally:
            await connector.aclose()

    async def events(self, event_type: str) -> list[dict[str, Any]]:
        """The CRM records of one event type, each as attribute → value (default mapping)."""
        table = DEFAULT_TABLES[self.kind][event_type]  # type: ignore[index]
        mapping = DEFAULT_FIELDS[self.kind][event_type]  # type: ignore[index]
        connector = self.connector()
        try:
            records = [
                r.values
                async for page in connector.read_all(table, list(mapping.values()))
                for r in page
            ]
        finally:
            await connector.aclose()
        out = []
        for values in records:
            lowered = {k.lower(): v for k, v in values.items()}
            item = {}
            for attribute, crm_field in mapping.items():
                name = crm_field.lower()
                value = lowered.get(name, lowered.get(f"_{name}_value"))
                item[attribute] = value.lower() if attribute == "contact" and value else value
            out.append(item)
        return sorted(out, key=lambda item: str(item["event_id"]))


@contextmanager
def running(kind: str, tls: TlsFiles, contacts: int = 3) -> Iterator[Crm]:
    if kind == "dataverse":
        dv = dataverse_app.create_emulator(
            DataverseEmulatorSettings(
                client_id=DV_CLIENT, client_secret=SecretStr(SECRET), seed_contacts=contacts
            )
        )
        try:
            with BackgroundServer(dv.app, tls=tls) as server:
                yield Crm(kind, server.url, tls.ca)
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
            yield Crm(kind, server.url, tls.ca)
    finally:
        sf.close()


def config_data(crm: Crm, folder: Path, **outbound: Any) -> dict[str, Any]:
    return {
        "connections": {"crm": crm.connection()},
        "store": {"url": f"sqlite:///{folder / 'store.db'}"},
        "queue": {"kind": "sqlite", "path": str(folder / "queue.db")},
        "outbound": {
            "connection": "crm",
            "events": {"send": True, "open": True, "click": True, "bounce": True},
            "poll_interval_seconds": 0.1,
        }
        | outbound,
    }


def make_config(crm: Crm, folder: Path, **outbound: Any) -> Config:
    return Config.model_validate(config_data(crm, folder, **outbound))


def add_profiles(engine: sa.Engine, external_ids: list[str | None]) -> list[int]:
    """Profiles with these CRM ids (``None``: no CRM record); returns their Campaign ids."""
    profile = build_metadata(definitions_with_profile(())).tables["profile"]
    profile.metadata.create_all(engine, checkfirst=True)
    with engine.begin() as conn:
        return [
            int(
                conn.execute(
                    sa.insert(profile)
                    .values(external_id=e, created_at=AT, modified_at=AT, email=f"{i}@x.test")
                    .returning(profile.c.id)
                ).scalar_one()
            )
            for i, e in enumerate(external_ids)
        ]


def make_event(type_: str, id_: str, profile_id: int, minutes: int = 0, **extra: Any) -> Event:
    details: dict[str, Any] = {}
    if type_ == "click":
        details["url"] = f"https://shop.example.test/{id_}"
    if type_ == "bounce":
        details |= {"bounce_type": "hard", "reason": "mailbox unknown"}
    return Event.model_validate(
        {
            "type": type_,
            "id": id_,
            "profile_id": profile_id,
            "delivery_id": "DLV-1",
            "delivery_name": "Spring sale",
            "occurred_at": AT + timedelta(minutes=minutes),
            **details,
            **extra,
        }
    )
