"""Fixtures of the Salesforce emulator unit tests: a small seeded org served in-process."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from crmsync.emulators.common.clock import Clock
from crmsync.emulators.salesforce.app import SalesforceEmulator, create_emulator
from crmsync.emulators.salesforce.config import SalesforceEmulatorSettings

BASE = "http://sf.test"
API = "/services/data/v62.0"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def settings() -> SalesforceEmulatorSettings:
    return SalesforceEmulatorSettings(seed_contacts=60, seed_accounts=8, seed_subscriptions=10)


@pytest.fixture
def emulator(settings: SalesforceEmulatorSettings, clock: Clock) -> Iterator[SalesforceEmulator]:
    emulator = create_emulator(settings, clock=clock)
    yield emulator
    emulator.close()


@pytest.fixture
async def anonymous(emulator: SalesforceEmulator) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=emulator.app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
        yield client


async def session(client: httpx.AsyncClient) -> str:
    """A new access token from the emulator's token endpoint."""
    answer = await client.post(
        BASE + "/services/oauth2/token",
        data={"grant_type": "client_credentials", "client_id": "app", "client_secret": "s3cret"},
    )
    assert answer.status_code == 200
    token: str = answer.json()["access_token"]
    return token


@pytest.fixture
async def api(emulator: SalesforceEmulator) -> AsyncIterator[httpx.AsyncClient]:
    """A client with a session, its base URL the versioned REST API."""
    transport = httpx.ASGITransport(app=emulator.app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE + API + "/") as client:
        client.headers["Authorization"] = f"Bearer {await session(client)}"
        yield client
