"""Bearer check and service protection in front of a stand-in Web API."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send

from crmsync.emulators.common.clock import Clock
from crmsync.emulators.common.ratelimit import SlidingWindowLimiter
from crmsync.emulators.common.tokens import TokenIssuer
from crmsync.emulators.dataverse.protection import USER_STATE_KEY, ProtectionMiddleware


async def whoami(scope: Scope, receive: Receive, send: Send) -> None:
    request = Request(scope, receive)
    if request.url.path.endswith("/slow"):
        await asyncio.sleep(0.05)
    response = JSONResponse({"user": scope["state"][USER_STATE_KEY]})
    await response(scope, receive, send)


def setup(**limits: int) -> tuple[Clock, TokenIssuer, SlidingWindowLimiter, httpx.AsyncClient]:
    clock = Clock()
    tokens = TokenIssuer(clock, lifetime_seconds=60)
    limiter = SlidingWindowLimiter(
        clock,
        requests=limits.get("requests", 100),
        window_seconds=300,
        execution_ms=limits.get("execution_ms", 1_200_000),
        concurrent=limits.get("concurrent", 52),
    )
    app = ProtectionMiddleware(whoami, tokens, limiter)
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="https://org.example"
    )
    return clock, tokens, limiter, client


async def test_valid_token_reaches_the_app_with_the_user_and_headers() -> None:
    _, tokens, _, client = setup()
    token, _ = tokens.issue("app-1")
    async with client:
        response = await client.get(
            "/api/data/v9.2/contacts", headers={"Authorization": f"Bearer {token}"}
        )
    assert response.status_code == 200
    assert response.json() == {"user": "app-1"}
    assert response.headers["x-ms-ratelimit-burst-remaining-xrm-requests"] == "99"
    assert response.headers["x-ms-ratelimit-time-remaining-xrm-requests"] == "1,200.00"


@pytest.mark.parametrize(
    ("headers", "description"),
    [
        ({}, "missing"),
        ({"Authorization": "Basic abc"}, "must be 'Bearer"),
        ({"Authorization": "Bearer nope"}, "invalid or has expired"),
    ],
)
async def test_missing_or_bad_token_gets_401_challenge(
    headers: dict[str, str], description: str
) -> None:
    _, _, _, client = setup()
    async with client:
        response = await client.get("/api/data/v9.2/contacts", headers=headers)
    assert response.status_code == 401
    assert response.content == b""
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith('Bearer error="invalid_token", error_description="')
    assert description in challenge
    assert 'authorization_uri="https://org.example/common/oauth2/authorize"' in challenge


async def test_expired_token_gets_401() -> None:
    clock, tokens, _, client = setup()
    token, _ = tokens.issue("app-1")
    clock.advance(61)
    async with client:
        response = await client.get("/x", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401


async def test_request_limit_gives_429_with_retry_after_and_dataverse_error() -> None:
    _, tokens, _, client = setup(requests=2)
    auth = {"Authorization": f"Bearer {tokens.issue('app-1')[0]}"}
    other = {"Authorization": f"Bearer {tokens.issue('app-2')[0]}"}
    async with client:
        assert (await client.get("/x", headers=auth)).status_code == 200
        assert (await client.get("/x", headers=auth)).status_code == 200
        refused = await client.get("/x", headers=auth)
        assert (await client.get("/x", headers=other)).status_code == 200
    assert refused.status_code == 429
    assert 299 <= int(refused.headers["retry-after"]) <= 300
    assert refused.json() == {
        "error": {
            "code": "0x80072322",
            "message": (
                "Number of requests exceeded the limit of 2 over time window of 300 seconds."
            ),
        }
    }
    assert refused.headers["x-ms-ratelimit-burst-remaining-xrm-requests"] == "0"


async def test_execution_time_limit_gives_its_own_code() -> None:
    _, tokens, _, client = setup(execution_ms=10)
    auth = {"Authorization": f"Bearer {tokens.issue('app-1')[0]}"}
    async with client:
        assert (await client.get("/slow", headers=auth)).status_code == 200
        refused = await client.get("/x", headers=auth)
    assert refused.status_code == 429
    error = refused.json()["error"]
    assert error["code"] == "0x80072321"
    assert error["message"].startswith(
        "Combined execution time of incoming requests exceeded limit of 10 milliseconds"
    )


async def test_concurrency_limit_gives_its_own_code() -> None:
    _, tokens, _, client = setup(concurrent=1)
    auth = {"Authorization": f"Bearer {tokens.issue('app-1')[0]}"}
    async with client:
        slow, fast = await asyncio.gather(
            client.get("/slow", headers=auth), client.get("/x", headers=auth)
        )
    assert slow.status_code == 200
    assert fast.status_code == 429
    assert fast.json()["error"] == {
        "code": "0x80072326",
        "message": "Number of concurrent requests exceeded the limit of 1.",
    }
