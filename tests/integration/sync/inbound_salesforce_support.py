"""Shared set-up of the inbound engine tests against Salesforce: an HTTPS Salesforce emulator, a
configuration file whose connection points at it, CRM writes and reads through the connector."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from inbound_support import ENV, SECRET, SUBSCRIPTION_RESOURCE
from inbound_support import config_text as inbound_config_text
from pydantic import SecretStr

from crmsync.config import load_config_text
from crmsync.config.models import Config
from crmsync.connectors.base import WriteOp
from crmsync.connectors.salesforce import SalesforceConnectionConfig, SalesforceConnector
from crmsync.emulators.common.server import BackgroundServer
from crmsync.emulators.common.tls import TlsFiles
from crmsync.emulators.salesforce.app import SalesforceEmulator, create_emulator
from crmsync.emulators.salesforce.config import SalesforceEmulatorSettings

__all__ = [
    "CLIENT_ID",
    "CONTACTS_MAPPING",
    "ENV",
    "SUBSCRIPTIONS_MAPPING",
    "SUBSCRIPTION_RESOURCE",
    "SfCrm",
    "contacts_mapping",
    "make_config",
    "running_salesforce",
    "whole_second",
]

CLIENT_ID = "3MVG9-inbound-consumer-key"


def contacts_mapping(extra: str = "", fields: str = "") -> str:
    return f"""
  - name: contacts
    connection: org
    crm_table: Contact
    resource: profile
    primary_key: {{campaign: external_id}}
    fields:
      - {{crm: FirstName, campaign: first_name}}
      - {{crm: LastName, campaign: last_name}}
      - {{crm: MailingCity, campaign: city}}
{fields}{extra}"""


CONTACTS_MAPPING = contacts_mapping()

SUBSCRIPTIONS_MAPPING = """
  - name: subscriptions
    connection: org
    crm_table: Subscription__c
    resource: subscription
    primary_key: {campaign: crm_id}
    fields:
      - {crm: Name, campaign: name}
      - {crm: Contact__c, campaign: contact_id}
      - {crm: Plan__c, campaign: plan}
"""


@dataclass
class SfCrm:
    """A running Salesforce emulator and how to reach it."""

    emulator: SalesforceEmulator
    server: BackgroundServer
    tls: TlsFiles

    @property
    def url(self) -> str:
        return self.server.url

    def connector(self) -> SalesforceConnector:
        return SalesforceConnector(
            SalesforceConnectionConfig(
                url=self.url,
                client_id=CLIENT_ID,
                client_secret_env="CRMSYNC_TEST_SECRET",
                ca_bundle=self.tls.ca,
            ),
            environ=ENV,
        )

    async def write(self, *ops: WriteOp) -> list[str]:
        async with self.connector() as crm:
            results = await crm.write(ops)
        assert all(r.ok for r in results), results
        return [r.id or "" for r in results]

    async def rows(self, table: str, fields: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Every live record of ``table``: Id → values."""
        async with self.connector() as crm:
            return {
                record.id: dict(record.values)
                async for page in crm.read_all(table, fields)
                for record in page
            }

    def touch(self, table: str, ids: list[str], at: datetime) -> None:
        """A system change of ``ids`` stamped ``at`` (whole seconds): they all share one
        ``SystemModstamp``, as records of one bulk job do."""
        clock = self.emulator.clock
        clock.set(at)
        obj = self.emulator.store.schema.get(table)
        assert obj is not None
        assert self.emulator.store.system_change(obj, ids) == len(ids)


@contextmanager
def running_salesforce(
    tls: TlsFiles, *, contacts: int = 30, subscriptions: int = 0, **settings: Any
) -> Iterator[SfCrm]:
    emulator = create_emulator(
        SalesforceEmulatorSettings(
            client_id=CLIENT_ID,
            client_secret=SecretStr(SECRET),
            seed_contacts=contacts,
            seed_accounts=2,
            seed_subscriptions=subscriptions,
            **settings,
        )
    )
    try:
        with BackgroundServer(emulator.app, tls=tls) as server:
            yield SfCrm(emulator, server, tls)
    finally:
        emulator.close()


def config_text(
    crm_url: str, ca: Path, folder: Path, mappings: str, resources: str = "", **store: Any
) -> str:
    connection = [
        "  org:",
        "    kind: salesforce",
        f"    url: {crm_url}",
        f"    client_id: {CLIENT_ID}",
    ]
    return inbound_config_text(
        crm_url, ca, folder, mappings, resources, connection=connection, **store
    )


def make_config(
    crm: SfCrm, folder: Path, mappings: str, resources: str = "", **store: Any
) -> Config:
    return load_config_text(
        config_text(crm.url, crm.tls.ca, folder, mappings, resources, **store), environ=ENV
    )


def whole_second(offset_seconds: int = 0) -> datetime:
    """A whole second ``offset_seconds`` from now, as an aware UTC datetime."""
    now = datetime.now(UTC).replace(microsecond=0)
    return now.fromtimestamp(now.timestamp() + offset_seconds, UTC)
