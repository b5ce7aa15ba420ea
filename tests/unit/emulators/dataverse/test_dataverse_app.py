"""The composed emulator app, in process: identity platform, control endpoint, protected Web API
and fault injection answering in the Dataverse error format."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import httpx
import pytest

from crmsync.emulators.dataverse.app import DataverseEmulator, create_emulator
from crmsync.emulators.dataverse.config import DataverseEmulatorSettings

BASE = "https://org.example"


@pytest.fixture
async def emulator() -> AsyncIterator[tuple[DataverseEmulator, httpx.AsyncClient]]:
    settings = DataverseEmulatorSettings(
        seed_contacts=3, seed_accounts=1, client_id="app", client_secret="pw"
    )
    emulator = create_emulator(settings)
    transport = httpx.ASGITransport(app=emulator.app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
            yield emulator, client
    finally:
        emulator.close()


async def token(client: httpx.AsyncClient) -> dict[str, str]:
    response = await client.post(
        "/tenant/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "app",
            "client_secret": "pw",
            "scope": f"{BASE}/.default",
        },
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def test_settings_shape_the_parts(
    emulator: tuple[DataverseEmulator, httpx.AsyncClient],
) -> None:
    emu, _ = emulator
    assert emu.tokens.restricted
    assert emu.limiter.requests == 6000
    assert emu.limiter.window_seconds == 300
    assert emu.limiter.concurrent == 52


async def test_token_then_web_api(emulator: tuple[DataverseEmulator, httpx.AsyncClient]) -> None:
    _, client = emulator
    discovery = await client.get("/tenant/v2.0/.well-known/openid-configuration")
    assert discovery.json()["token_endpoint"] == f"{BASE}/tenant/oauth2/v2.0/token"
    assert (await client.get("/api/data/v9.2/contacts")).status_code == 401
    response = await client.get("/api/data/v9.2/contacts", headers=await token(client))
    assert response.status_code == 200
    assert len(response.json()["value"]) == 3
    assert "x-ms-ratelimit-burst-remaining-xrm-requests" in response.headers


async def test_control_endpoint_and_faults(
    emulator: tuple[DataverseEmulator, httpx.AsyncClient],
) -> None:
    emu, client = emulator
    auth = await token(client)
    emu.faults.clear()
    assert (await client.get("/_emulator/health")).json() == {"status": "ok"}
    added = await client.post(
        "/_emulator/faults",
        json={"kind": "status", "status": 429, "retry_after": 7, "path": "^/api/data/"},
    )
    assert added.status_code == 200
    throttled = await client.get("/api/data/v9.2/contacts", headers=auth)
    assert throttled.status_code == 429
    assert throttled.headers["retry-after"] == "7"
    assert throttled.json()["error"]["code"] == "0x80072322"
    # The fault was used up: the next request reaches the Web API.
    assert (await client.get("/api/data/v9.2/$metadata", headers=auth)).status_code == 200

    await client.post("/_emulator/faults", json={"kind": "expire_tokens"})
    assert (await client.get("/api/data/v9.2/contacts", headers=auth)).status_code == 401


async def test_clock_moves_token_expiry(
    emulator: tuple[DataverseEmulator, httpx.AsyncClient],
) -> None:
    _, client = emulator
    auth = await token(client)
    await client.post("/_emulator/clock", json={"advance_seconds": 3600})
    assert (await client.get("/api/data/v9.2/contacts", headers=auth)).status_code == 401


async def test_emulator_specific_control_routes_are_mounted(
    emulator: tuple[DataverseEmulator, httpx.AsyncClient],
) -> None:
    _, client = emulator
    response = await client.post("/_emulator/system-change", json={})
    assert response.status_code not in (404, 405)


async def test_answers_are_dated_by_the_emulator_clock(
    emulator: tuple[DataverseEmulator, httpx.AsyncClient],
) -> None:
    emu, client = emulator
    emu.clock.set(datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC))
    response = await client.get("/api/data/v9.2/contacts", headers=await token(client))
    assert response.status_code == 200
    dated = parsedate_to_datetime(response.headers["date"])
    assert timedelta(0) <= dated - datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC) < timedelta(seconds=5)
