"""Fixtures of the Dataverse Web API unit tests: a small seeded store served in-process."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from dv_emulator_support import BASE
from starlette.applications import Starlette
from starlette.routing import Mount

from crmsync.emulators.common.clock import Clock
from crmsync.emulators.common.faults import FaultPlan
from crmsync.emulators.dataverse.config import DataverseEmulatorSettings
from crmsync.emulators.dataverse.seed import seed
from crmsync.emulators.dataverse.store import DataverseStore
from crmsync.emulators.dataverse.webapi import WebApi


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(clock: Clock) -> Iterator[DataverseStore]:
    store = DataverseStore.open(None, clock)
    seed(store, contacts=60, accounts=8)
    yield store
    store.close()


@pytest.fixture
def faults() -> FaultPlan:
    return FaultPlan()


@pytest.fixture
def settings() -> DataverseEmulatorSettings:
    return DataverseEmulatorSettings(change_tracking_retention_days=7)


@pytest.fixture
def api(
    store: DataverseStore, settings: DataverseEmulatorSettings, faults: FaultPlan
) -> Iterator[WebApi]:
    web = WebApi(store, settings, faults)
    yield web
    web.read_ahead.close()


@pytest.fixture
async def client(api: WebApi) -> AsyncIterator[httpx.AsyncClient]:
    app = Starlette(routes=[Mount("/api/data/v9.2", app=api)])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE + "/") as http:
        yield http
