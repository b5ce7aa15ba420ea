"""Fixtures for the Dataverse connector's unit tests (fakes live in ``dv_fakes``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from connector_fakes import FakeTime
from dv_fakes import ClientFactory, FakeOrg, make_config

from crmsync.connectors.dataverse import DataverseClient, DataverseConnector, StaticTokenProvider


@pytest.fixture
def org() -> FakeOrg:
    return FakeOrg()


@pytest.fixture
def tokens() -> StaticTokenProvider:
    return StaticTokenProvider("token-1")


@pytest.fixture
async def client(
    org: FakeOrg, fake_time: FakeTime, tokens: StaticTokenProvider
) -> AsyncIterator[DataverseClient]:
    dv = DataverseClient(
        make_config(),
        tokens,
        transport=httpx.MockTransport(org),
        sleep=fake_time.sleep,
        clock=fake_time.clock,
        jitter=lambda: 1.0,
    )
    yield dv
    await dv.aclose()


@pytest.fixture
async def connector(
    org: FakeOrg, fake_time: FakeTime, tokens: StaticTokenProvider
) -> AsyncIterator[DataverseConnector]:
    async with DataverseConnector(
        make_config(),
        transport=httpx.MockTransport(org),
        tokens=tokens,
        sleep=fake_time.sleep,
        clock=fake_time.clock,
    ) as conn:
        yield conn


@pytest.fixture
async def make_client(org: FakeOrg, fake_time: FakeTime) -> AsyncIterator[ClientFactory]:
    """Clients on the fake organisation and clock, closed at the end of the test."""
    made: list[DataverseClient] = []

    def factory(tokens: Any = None, jitter: Any = None, **config: Any) -> DataverseClient:
        dv = DataverseClient(
            make_config(**config),
            tokens if tokens is not None else StaticTokenProvider("token-1"),
            transport=httpx.MockTransport(org),
            sleep=fake_time.sleep,
            clock=fake_time.clock,
            jitter=jitter if jitter is not None else (lambda: 1.0),
        )
        made.append(dv)
        return dv

    yield factory
    for dv in made:
        await dv.aclose()
