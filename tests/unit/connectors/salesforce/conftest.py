"""Fixtures for the Salesforce connector's unit tests (fakes live in ``sf_fakes``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from connector_fakes import FakeTime
from sf_fakes import FakeOrg, make_config

from crmsync.connectors.salesforce import SalesforceClient, SalesforceConnector


@pytest.fixture
def org() -> FakeOrg:
    return FakeOrg()


@pytest.fixture
async def make_connector(
    org: FakeOrg, fake_time: FakeTime
) -> AsyncIterator[Callable[..., SalesforceConnector]]:
    """Connectors on the fake org and clock, closed at the end of the test."""
    made: list[SalesforceConnector] = []

    def factory(**config: Any) -> SalesforceConnector:
        connector = SalesforceConnector(
            make_config(**config),
            transport=httpx.MockTransport(org),
            sleep=fake_time.sleep,
            clock=fake_time.clock,
        )
        made.append(connector)
        return connector

    yield factory
    for connector in made:
        await connector.aclose()


@pytest.fixture
def connector(make_connector: Callable[..., SalesforceConnector]) -> SalesforceConnector:
    return make_connector()


@pytest.fixture
async def client(org: FakeOrg, fake_time: FakeTime) -> AsyncIterator[SalesforceClient]:
    sf = SalesforceClient(
        make_config(),
        transport=httpx.MockTransport(org),
        sleep=fake_time.sleep,
        clock=fake_time.clock,
        jitter=lambda: 1.0,
    )
    yield sf
    await sf.aclose()
