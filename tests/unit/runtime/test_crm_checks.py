"""A configuration checked against its CRMs through connectors: which connections are opened,
each table described once and a few at a time, and what a failed description reports."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from crmsync.config import Config
from crmsync.connectors.base import Connector, CrmType, FieldInfo, TableInfo
from crmsync.errors import ConfigurationError, TransientError
from crmsync.runtime.crm_checks import PARALLEL_DESCRIBES, check_against_crm, connections_used

TABLES = ("contact", "lead", "account", "opportunity", "invoice", "quote")


def _table(name: str) -> TableInfo:
    fields = {
        f"{name}id": FieldInfo(f"{name}id", CrmType.UNIQUEIDENTIFIER),
        "donotemail": FieldInfo("donotemail", CrmType.BOOLEAN),
        "firstname": FieldInfo("firstname", CrmType.STRING),
    }
    return TableInfo(name, f"{name}s", f"{name}id", None, True, fields)


@dataclass
class FakeCrm:
    """Connectors over :data:`TABLES`; ``failing`` tables answer 503. Every connector opened
    must be closed, and the describes (and how many ran at once) are recorded."""

    failing: frozenset[str] = frozenset()
    opened: list[str] = field(default_factory=list)
    closed: int = 0
    describes: list[str] = field(default_factory=list)
    running: int = 0
    most_at_once: int = 0

    def open(self, name: str, _settings: Any, _environ: Mapping[str, str] | None) -> Connector:
        self.opened.append(name)
        return _FakeConnector(self)  # type: ignore[return-value]


class _FakeConnector:
    def __init__(self, crm: FakeCrm) -> None:
        self.crm = crm

    async def list_tables(self) -> list[str]:
        return list(TABLES)

    async def describe(self, table: str) -> TableInfo:
        crm = self.crm
        crm.describes.append(table)
        crm.running += 1
        crm.most_at_once = max(crm.most_at_once, crm.running)
        try:
            await asyncio.sleep(0.01)
        finally:
            crm.running -= 1
        if table in crm.failing:
            raise TransientError("the CRM answered 503 Service Unavailable", status=503)
        if table not in TABLES:
            raise ConfigurationError(f"table {table!r} does not exist", status=404, table=table)
        return _table(table)

    async def aclose(self) -> None:
        self.crm.closed += 1


CONNECTION = {
    "kind": "dataverse",
    "url": "https://contoso.crm.dynamics.com",
    "tenant_id": "contoso",
    "client_id": "app",
    "client_secret_env": "DV_SECRET",
}


def _config(tables: tuple[str, ...] = (), **sections: Any) -> Config:
    mappings = [
        {
            "name": f"m{index}",
            "connection": "dyn",
            "crm_table": table,
            "resource": "profile" if index == 0 else f"r{index}",
            "primary_key": {"campaign": "external_id" if index == 0 else "crm_id"},
        }
        for index, table in enumerate(tables)
    ]
    resources = [
        {
            "name": f"r{index}",
            "identifier": "crm_id",
            "fields": [{"name": "crm_id", "type": "string"}],
        }
        for index in range(1, len(tables))
    ]
    return Config.model_validate(
        {
            "connections": {"dyn": CONNECTION, "spare": CONNECTION},
            "resources": resources,
            "inbound": {"mappings": mappings},
        }
        | sections
    )


async def test_each_table_is_described_once_a_few_at_a_time() -> None:
    crm = FakeCrm()
    optinout = {
        "direction": "crm_to_campaign",
        "connection": "dyn",
        "mappings": [{"crm": "donotemail", "campaign": "optout_email"}],
    }
    config = _config(TABLES, optinout=optinout)
    found = await check_against_crm(config, opener=crm.open)
    assert found.issues == ()
    assert found.connections == {"dyn": True}
    assert crm.opened == ["dyn"]  # "spare" is named by nothing
    assert crm.closed == 1
    assert sorted(crm.describes) == sorted(TABLES)  # contact: for inbound and opt-in/out, once
    assert 1 < crm.most_at_once <= PARALLEL_DESCRIBES


async def test_a_table_the_crm_failed_to_describe_is_not_said_missing() -> None:
    crm = FakeCrm(failing=frozenset({"lead"}))
    found = await check_against_crm(_config(("contact", "lead", "leads")), opener=crm.open)
    by_path = {issue.path: issue.message for issue in found.issues}
    assert by_path == {
        "inbound.mappings[1].crm_table": "cannot read the metadata of CRM table 'lead': "
        "the CRM answered 503 Service Unavailable",
        "inbound.mappings[2].crm_table": "the CRM has no table 'leads' (did you mean 'lead'?)",
    }


async def test_an_opt_in_out_table_the_crm_lacks_is_an_error_at_its_name() -> None:
    crm = FakeCrm()
    optinout = {
        "direction": "bidirectional",
        "connection": "dyn",
        "crm_table": "contacts",
        "mappings": [{"crm": "donotemail", "campaign": "optout_email"}],
    }
    found = await check_against_crm(_config(optinout=optinout), opener=crm.open)
    assert [(issue.path, issue.message) for issue in found.issues] == [
        ("optinout.crm_table", "the CRM has no table 'contacts' (did you mean 'contact'?)")
    ]


async def test_outbound_events_need_their_connection_reached() -> None:
    crm = FakeCrm()
    config = _config(outbound={"connection": "spare", "events": {"send": True}})
    assert connections_used(config) == ("spare",)
    found = await check_against_crm(config, opener=crm.open)
    assert found.connections == {"spare": True}
    assert crm.opened == ["spare"]
    assert crm.describes == []


async def test_nothing_is_opened_when_no_connection_is_used() -> None:
    crm = FakeCrm()
    optinout = {"direction": "disabled", "connection": "dyn"}
    found = await check_against_crm(_config(optinout=optinout), opener=crm.open)
    assert found.connections == {}
    assert crm.opened == []
