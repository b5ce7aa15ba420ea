from __future__ import annotations

import httpx
from sf_fakes import SECRET, FakeOrg, make_config

import crmsync.connectors.salesforce as package
from crmsync.connectors.base import Connector
from crmsync.connectors.salesforce import SalesforceConnector


def test_public_surface_is_complete() -> None:
    exported = {name for name in dir(package) if not name.startswith("_")}
    modules = {
        "auth",
        "client",
        "config",
        "connector",
        "created",
        "cursor",
        "errors",
        "metadata",
        "reader",
        "soql",
        "writer",
    }
    assert set(package.__all__) == exported - modules


async def test_it_is_a_connector_and_closes(org: FakeOrg) -> None:
    async with SalesforceConnector(make_config(), transport=httpx.MockTransport(org)) as crm:
        assert isinstance(crm, Connector)
        assert SECRET not in repr(crm)
        await crm.list_tables()
        counters = crm.counters
        assert counters.reads == 1
        assert counters.api_used is not None
        counters.reads = 99  # a copy
        assert crm.counters.reads == 1
    assert crm.client.http.is_closed
