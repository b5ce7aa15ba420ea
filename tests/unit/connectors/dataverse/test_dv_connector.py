from __future__ import annotations

from dv_fakes import FakeOrg, make_config

import crmsync.connectors.dataverse as package
from crmsync.connectors.base import Connector
from crmsync.connectors.dataverse import DataverseConnector


def test_public_surface_is_complete() -> None:
    exported = {name for name in dir(package) if not name.startswith("_")}
    modules = {"auth", "client", "config", "connector", "errors", "metadata", "reader", "writer"}
    assert set(package.__all__) == exported - modules
    for name in package.__all__:
        assert getattr(package, name) is not None


def test_implements_the_connector_protocol() -> None:
    assert isinstance(DataverseConnector(make_config()), Connector)


async def test_counters_and_close(connector: DataverseConnector, org: FakeOrg) -> None:
    assert await connector.list_tables() == ["account", "contact", "note"]
    await connector.describe("account")
    counters = connector.counters
    assert counters.reads == 1 + 3  # list + entity, attributes, keys (no option casts)
    assert counters.writes == counters.batches == counters.retries == 0
    counters.reads = 99
    assert connector.counters.reads == 4


def test_repr_has_no_secret() -> None:
    assert "s3cret" not in repr(DataverseConnector(make_config()))
