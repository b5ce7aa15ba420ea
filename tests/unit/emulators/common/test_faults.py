"""Fault plan, fault middleware and the control endpoint (in-process ASGI)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from crmsync.emulators.common.clock import Clock
from crmsync.emulators.common.faults import (
    ConnectionDropped,
    Fault,
    FaultMiddleware,
    FaultPlan,
    RequestLog,
    _HideDroppedConnections,
    control_routes,
)
from crmsync.emulators.common.tokens import TokenIssuer


def error_body(status: int) -> tuple[bytes, str]:
    return json.dumps({"error": {"code": "", "message": f"injected {status}"}}).encode(), (
        "application/json; odata.metadata=minimal"
    )


class Harness:
    def __init__(self) -> None:
        self.plan = FaultPlan()
        self.clock = Clock()
        self.tokens = TokenIssuer(self.clock)
        self.expired = 0

        async def hello(request: Request) -> JSONResponse:
            return JSONResponse({"hello": request.url.path})

        def expire() -> None:
            self.expired += 1
            self.tokens.expire_all()

        inner = Starlette(
            routes=[
                Route("/api/{rest:path}", hello, methods=["GET", "POST"]),
                Mount("/_emulator", routes=control_routes(self.plan, self.clock, self.tokens)),
            ]
        )
        self.app = FaultMiddleware(inner, self.plan, error_body=error_body, expire_tokens=expire)


@pytest.fixture
async def harness() -> AsyncIterator[tuple[Harness, httpx.AsyncClient]]:
    h = Harness()
    transport = httpx.ASGITransport(app=h.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://emulator") as client:
        yield h, client


def test_plan_matches_by_method_and_path_and_counts_uses() -> None:
    plan = FaultPlan()
    plan.add(Fault("status", status=429, path=r"/contacts\b", method="get", times=2))
    plan.add(Fault("batch_item", status=400, batch_index=3))
    assert plan.take("POST", "/api/data/v9.2/contacts") is None
    assert plan.take("GET", "/api/data/v9.2/accounts") is None
    taken = plan.take("GET", "/api/data/v9.2/contacts")
    assert taken is not None
    assert (taken.kind, taken.status, taken.times) == ("status", 429, 1)
    assert plan.pending()[0].times == 1
    assert plan.take("GET", "/api/data/v9.2/contacts(1)") is not None
    assert plan.take("GET", "/api/data/v9.2/contacts") is None
    item = plan.take_batch_item()
    assert item is not None
    assert item.batch_index == 3
    assert plan.take_batch_item() is None
    assert plan.pending() == []


def test_plan_refuses_bad_faults_and_clears() -> None:
    plan = FaultPlan()
    with pytest.raises(ValueError, match="at least once"):
        plan.add(Fault("drop", times=0))
    with pytest.raises(ValueError, match="not a valid regex"):
        plan.add(Fault("drop", path="("))
    plan.add(Fault("drop"))
    plan.clear()
    assert plan.pending() == []


async def test_status_fault_answers_error_with_retry_after(
    harness: tuple[Harness, httpx.AsyncClient],
) -> None:
    h, client = harness
    h.plan.add(Fault("status", status=429, retry_after=2.5, path="^/api/"))
    response = await client.get("/api/data/v9.2/contacts")
    assert response.status_code == 429
    assert response.headers["retry-after"] == "3"
    assert response.json() == {"error": {"code": "", "message": "injected 429"}}
    assert (await client.get("/api/data/v9.2/contacts")).status_code == 200


async def test_control_endpoint_is_never_faulted(
    harness: tuple[Harness, httpx.AsyncClient],
) -> None:
    h, client = harness
    h.plan.add(Fault("status", status=500))
    assert (await client.get("/_emulator/health")).json() == {"status": "ok"}
    assert (await client.get("/api/x")).status_code == 500


async def test_slow_fault_delays_then_answers(harness: tuple[Harness, httpx.AsyncClient]) -> None:
    h, client = harness
    h.plan.add(Fault("slow", delay_seconds=0.2))
    start = time.perf_counter()
    response = await client.get("/api/x")
    assert response.status_code == 200
    assert time.perf_counter() - start >= 0.2


async def test_drop_fault_aborts_mid_answer(harness: tuple[Harness, httpx.AsyncClient]) -> None:
    h, client = harness
    h.plan.add(Fault("drop"))
    # In-process the abort surfaces as the exception the server turns into a closed connection.
    with pytest.raises(ConnectionDropped):
        await client.get("/api/x")


def test_dropped_connection_tracebacks_are_filtered() -> None:
    record = logging.LogRecord("uvicorn.error", logging.ERROR, "", 0, "boom", None, None)
    assert _HideDroppedConnections().filter(record)
    error = ConnectionDropped("x")
    record.exc_info = (ConnectionDropped, error, None)
    assert not _HideDroppedConnections().filter(record)


async def test_expire_tokens_fault_calls_the_hook(
    harness: tuple[Harness, httpx.AsyncClient],
) -> None:
    h, client = harness
    token, _ = h.tokens.issue("app")
    h.plan.add(Fault("expire_tokens"))
    assert (await client.get("/api/x")).status_code == 200
    assert h.expired == 1
    assert h.tokens.verify(token) is None


async def test_faults_control_routes(harness: tuple[Harness, httpx.AsyncClient]) -> None:
    h, client = harness
    added = await client.post(
        "/_emulator/faults", json={"kind": "status", "status": 503, "times": 2, "path": "contacts"}
    )
    assert added.status_code == 200
    assert added.json() == [
        {
            "kind": "status",
            "status": 503,
            "retry_after": None,
            "delay_seconds": 0.0,
            "path": "contacts",
            "method": None,
            "times": 2,
            "batch_index": None,
            "body": None,
            "find": None,
            "replace": None,
        }
    ]
    assert len((await client.get("/_emulator/faults")).json()) == 1
    assert (await client.delete("/_emulator/faults")).json() == []
    assert h.plan.pending() == []


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"kind": "explode"}, "kind"),
        ({"kind": "status", "status": 200}, "status"),
        ({"kind": "status", "path": "("}, "path"),
        ({"kind": "status", "times": 0}, "times"),
        ({"kind": "slow"}, "delay_seconds"),
        ({"kind": "status", "bogus": 1}, "bogus"),
        ({"kind": "drop", "batch_index": 1}, "batch_index"),
        ({"kind": "malformed"}, "body"),
        ({"kind": "malformed", "body": "xml"}, "body"),
        ({"kind": "status", "body": "html"}, "body"),
        ({"kind": "rewrite", "find": "a"}, "replace"),
        ({"kind": "rewrite", "find": "(", "replace": ""}, "find"),
        ({"kind": "drop", "find": "a", "replace": "b"}, "find"),
    ],
)
async def test_invalid_fault_gets_422_naming_the_field(
    harness: tuple[Harness, httpx.AsyncClient], body: dict[str, object], where: str
) -> None:
    h, client = harness
    response = await client.post("/_emulator/faults", json=body)
    assert response.status_code == 422
    assert response.json()["error"] == "invalid fault"
    assert where in json.dumps(response.json()["details"])
    assert h.plan.pending() == []


async def test_malformed_json_gets_422(harness: tuple[Harness, httpx.AsyncClient]) -> None:
    _, client = harness
    response = await client.post("/_emulator/faults", content=b"{nope")
    assert response.status_code == 422
    assert response.json() == {"error": "the request body is not valid JSON"}


async def test_clock_control(harness: tuple[Harness, httpx.AsyncClient]) -> None:
    h, client = harness
    now = datetime.fromisoformat((await client.get("/_emulator/clock")).json()["now"])
    assert abs((now - datetime.now(UTC)).total_seconds()) < 2
    moved = await client.post("/_emulator/clock", json={"advance_seconds": 86400})
    later = datetime.fromisoformat(moved.json()["now"])
    assert 86398 < (later - now).total_seconds() < 86402
    set_to = await client.post("/_emulator/clock", json={"set": "2031-02-03T04:05:06Z"})
    assert set_to.json()["now"].startswith("2031-02-03T04:05:0")
    assert h.clock.now().year == 2031
    for bad in ({}, {"advance_seconds": 1, "set": "2031-01-01T00:00:00Z"}, {"set": "2031-01-01"}):
        assert (await client.post("/_emulator/clock", json=bad)).status_code == 422


async def test_token_expiry_control(harness: tuple[Harness, httpx.AsyncClient]) -> None:
    h, client = harness
    token, _ = h.tokens.issue("app")
    response = await client.post("/_emulator/tokens/expire")
    assert response.status_code == 200
    assert h.tokens.verify(token) is None


@pytest.mark.parametrize(
    ("body", "content_type", "content"),
    [
        ("html", "text/html; charset=utf-8", b"<html><head><title>502 Bad Gateway"),
        ("empty", "application/json", b""),
        ("truncated_json", "application/json", b'{"value":[{"'),
        ("no_value", "application/json", b'{"note":'),
    ],
)
async def test_malformed_fault_answers_200_with_that_body_once(
    harness: tuple[Harness, httpx.AsyncClient], body: str, content_type: str, content: bytes
) -> None:
    _, client = harness
    added = await client.post(
        "/_emulator/faults", json={"kind": "malformed", "body": body, "path": "^/api/"}
    )
    assert added.status_code == 200, added.text
    response = await client.get("/api/data/v9.2/contacts")
    assert response.status_code == 200
    assert response.headers["content-type"] == content_type
    assert response.content.startswith(content)
    assert response.headers["content-length"] == str(len(response.content))
    assert (await client.get("/api/data/v9.2/contacts")).json() == {
        "hello": "/api/data/v9.2/contacts"
    }


async def test_rewrite_fault_edits_the_next_answer_body(
    harness: tuple[Harness, httpx.AsyncClient],
) -> None:
    _, client = harness
    fault = {"kind": "rewrite", "find": r'"/api/(\w+)"', "replace": '"\\ud800"', "times": 1}
    assert (await client.post("/_emulator/faults", json=fault)).status_code == 200
    response = await client.get("/api/x")
    assert response.content == b'{"hello":"\\ud800"}'
    assert response.headers["content-length"] == str(len(response.content))
    assert (await client.get("/api/x")).json() == {"hello": "/api/x"}


async def test_request_log_records_served_requests_and_clears(
    harness: tuple[Harness, httpx.AsyncClient],
) -> None:
    h, client = harness
    h.plan.add(Fault("status", status=429, retry_after=1, path="^/api/a"))
    before = time.time()
    await client.get("/api/a?x=1&y=2")
    await client.post("/api/b")
    await client.get("/_emulator/health")
    log = (await client.get("/_emulator/requests")).json()
    assert [(e["method"], e["path"], e["query"], e["status"]) for e in log] == [
        ("GET", "/api/a", "x=1&y=2", 429),
        ("POST", "/api/b", "", 200),
    ]
    assert before <= log[0]["at"] <= log[1]["at"] <= time.time()
    assert (await client.delete("/_emulator/requests")).json() == []
    assert h.plan.requests.entries() == []


def test_request_log_keeps_the_newest() -> None:
    log = RequestLog(size=3)
    for n in range(5):
        log.add("GET", f"/{n}", "")
    assert [e.path for e in log.entries()] == ["/2", "/3", "/4"]
