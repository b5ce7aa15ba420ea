from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import httpx
import pytest
from connector_fakes import FakeTime
from dv_fakes import ROOT, ClientFactory, FakeOrg, dv_error, json_response, make_config

from crmsync.connectors.base import INVALID_TEXT
from crmsync.connectors.dataverse import DataverseClient, StaticTokenProvider
from crmsync.connectors.dataverse.client import PauseGate
from crmsync.errors import (
    AuthenticationError,
    ConfigurationError,
    FatalError,
    MalformedAnswerError,
    ProtocolError,
    RateLimitedError,
    RejectError,
    TransientError,
)
from crmsync.odata.batch import BatchRequest, BatchResponse, encode_responses


async def test_standard_headers_and_bearer_token(client: DataverseClient, org: FakeOrg) -> None:
    org.data = lambda request: json_response(200, {"value": []})
    await client.get_json("contacts", {"$select": "firstname"}, {"Prefer": "odata.maxpagesize=2"})
    (request,) = org.requests
    assert str(request.url) == f"{ROOT}contacts?$select=firstname"
    headers = request.headers
    assert headers["Accept"] == "application/json"
    assert headers["OData-MaxVersion"] == "4.0"
    assert headers["OData-Version"] == "4.0"
    assert headers["If-None-Match"] == "null"
    assert headers["Authorization"] == "Bearer token-1"
    assert headers["Prefer"] == "odata.maxpagesize=2"


async def test_query_spaces_are_percent_encoded(client: DataverseClient, org: FakeOrg) -> None:
    org.data = lambda request: json_response(200, {"value": []})
    await client.get_json("contacts", {"$filter": "lastname eq 'O''Neil & Co+'"})
    (request,) = org.requests
    assert request.url.query == b"$filter=lastname%20eq%20'O''Neil%20%26%20Co%2B'"
    assert request.url.params["$filter"] == "lastname eq 'O''Neil & Co+'"


async def test_writes_send_json_without_if_none_match(
    client: DataverseClient, org: FakeOrg
) -> None:
    org.data = lambda request: httpx.Response(204)
    await client.patch("contacts(1)", {"firstname": "Zoë"}, {"If-Match": "*"})
    (request,) = org.requests
    assert request.method == "PATCH"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["If-Match"] == "*"
    assert "If-None-Match" not in request.headers
    assert request.content == '{"firstname":"Zoë"}'.encode()
    assert client.counters.writes == 1


class RefreshingTokens:
    def __init__(self) -> None:
        self.calls: list[bool] = []

    async def token(self, *, force_refresh: bool = False) -> str:
        self.calls.append(force_refresh)
        return "fresh" if force_refresh else "stale"


async def test_401_refreshes_the_token_once_and_retries(
    org: FakeOrg, make_client: ClientFactory
) -> None:
    tokens = RefreshingTokens()

    def handler(request: httpx.Request) -> httpx.Response:
        if request.headers["Authorization"] == "Bearer stale":
            return httpx.Response(401, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
        return json_response(200, {"ok": 1})

    org.data = handler
    async with make_client(tokens) as dv:
        assert await dv.get_json("contacts") == {"ok": 1}
    assert tokens.calls == [False, True]
    assert [r.headers["Authorization"] for r in org.requests] == ["Bearer stale", "Bearer fresh"]


async def test_401_twice_is_an_authentication_error(
    org: FakeOrg, make_client: ClientFactory
) -> None:
    tokens = RefreshingTokens()
    org.data = lambda request: httpx.Response(401)
    async with make_client(tokens) as dv:
        with pytest.raises(AuthenticationError) as caught:
            await dv.get_json("contacts")
    assert caught.value.status == 401
    assert len(org.requests) == 2
    assert "fresh" not in caught.value.message
    assert "stale" not in caught.value.message


async def test_transient_errors_are_retried_with_bounded_backoff(
    org: FakeOrg, fake_time: FakeTime, make_client: ClientFactory
) -> None:
    answers = iter([503, 500, 502])
    org.data = lambda request: (
        dv_error(status, "0x80040216", "busy")
        if (status := next(answers, 200)) != 200
        else json_response(200, {"value": []})
    )
    async with make_client(jitter=lambda: 0.0) as dv:
        await dv.get_json("contacts")
        assert dv.counters.retries == 3
        assert dv.counters.reads == 4
    # initial 1 s doubling, jitter 0 → half of each step
    assert fake_time.sleeps == [0.5, 1.0, 2.0]


def test_backoff_stays_within_its_bounds() -> None:
    dv_low = DataverseClient(make_config(), StaticTokenProvider("t"), jitter=lambda: 0.0)
    dv_high = DataverseClient(make_config(), StaticTokenProvider("t"), jitter=lambda: 1.0)
    for attempt in range(1, 12):
        cap = min(8.0, 1.0 * 2 ** (attempt - 1))
        assert dv_low.backoff(attempt) == pytest.approx(cap / 2)
        assert dv_high.backoff(attempt) == pytest.approx(cap)
    assert dv_high.backoff(50) == 8.0


async def test_retries_give_up_after_max_retries(
    org: FakeOrg, fake_time: FakeTime, make_client: ClientFactory
) -> None:
    org.data = lambda request: dv_error(503, "0x80040216", "down")
    async with make_client() as dv:
        with pytest.raises(TransientError) as caught:
            await dv.get_json("contacts")
    assert caught.value.status == 503
    assert len(org.requests) == 4  # first try + max_retries=3
    assert len(fake_time.sleeps) == 3


@pytest.mark.parametrize(
    "exc",
    [
        httpx.ConnectError("refused"),
        httpx.ReadTimeout("slow"),
        httpx.RemoteProtocolError("peer closed connection without sending complete message body"),
        httpx.ReadError("reset"),
    ],
)
async def test_transport_errors_are_transient_and_retried(
    org: FakeOrg, exc: httpx.TransportError, make_client: ClientFactory
) -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise exc
        return json_response(200, {"value": [1]})

    org.data = handler
    async with make_client() as dv:
        assert await dv.get_json("contacts") == {"value": [1]}
        assert dv.counters.retries == 1


async def test_transport_error_after_retries_is_transient(
    org: FakeOrg, make_client: ClientFactory
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.RemoteProtocolError("dropped")

    org.data = handler
    async with make_client() as dv:
        with pytest.raises(TransientError, match="RemoteProtocolError"):
            await dv.get_json("contacts")


async def test_certificate_failure_is_a_configuration_error(
    org: FakeOrg, make_client: ClientFactory
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")

    org.data = handler
    async with make_client() as dv:
        with pytest.raises(ConfigurationError, match="ca_bundle"):
            await dv.get_json("contacts")
    assert len(org.requests) == 1


async def test_rejects_are_not_retried(org: FakeOrg, make_client: ClientFactory) -> None:
    org.data = lambda request: dv_error(400, "0x80048d19", "The property 'x' does not exist")
    async with make_client() as dv:
        with pytest.raises(RejectError) as caught:
            await dv.post("contacts", {"x": 1}, table="contact")
    assert caught.value.code == "0x80048d19"
    assert caught.value.table == "contact"
    assert len(org.requests) == 1


async def test_429_pauses_every_sender(
    org: FakeOrg, fake_time: FakeTime, make_client: ClientFactory
) -> None:
    """While one sender's Retry-After pause runs, no other request leaves the client."""
    sent_at: list[tuple[str, float]] = []
    throttled = False

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal throttled
        sent_at.append((request.url.path, fake_time.now))
        if request.url.path.endswith("/a") and not throttled:
            throttled = True
            return dv_error(
                429, "0x80072322", "Number of requests exceeded", **{"Retry-After": "7"}
            )
        return json_response(200, {"ok": True})

    async def stepping_sleep(seconds: float) -> None:
        # Fake time moves in 1 s steps with real yields between them, so tasks interleave.
        while seconds > 0:
            await asyncio.sleep(0.005)
            step = min(1.0, seconds)
            fake_time.now += step
            seconds -= step

    fake_time.sleep = stepping_sleep  # type: ignore[method-assign]
    org.data = handler
    async with make_client() as dv:
        first = asyncio.create_task(dv.get_json("a"))
        async with asyncio.timeout(5):
            # Poll the gate itself: it closes only once the 429 has been processed.
            while dv.gate.remaining == 0:  # noqa: ASYNC110
                await asyncio.sleep(0.001)
        second = asyncio.create_task(dv.get_json("b"))
        await asyncio.gather(first, second)
        assert dv.counters.throttled == 1
    start = sent_at[0][1]
    later = sent_at[1:]
    assert len(later) == 2
    assert all(when >= start + 7.0 for _, when in later), sent_at


async def test_429_exhausted_raises_rate_limited(
    org: FakeOrg, fake_time: FakeTime, make_client: ClientFactory
) -> None:
    org.data = lambda request: dv_error(429, "0x80072321", "time", **{"Retry-After": "2"})
    async with make_client() as dv:
        with pytest.raises(RateLimitedError) as caught:
            await dv.get_json("contacts")
    assert caught.value.retry_after == 2.0
    assert fake_time.now == pytest.approx(1006.0)


async def test_pause_gate_never_shortens_a_pause(fake_time: FakeTime) -> None:
    gate = PauseGate(clock=fake_time.clock, sleep=fake_time.sleep)
    gate.pause(10)
    gate.pause(3)
    assert gate.remaining == 10
    await gate.wait()
    assert fake_time.now == 1010.0
    assert gate.remaining == 0


async def test_links_to_another_host_are_refused(client: DataverseClient, org: FakeOrg) -> None:
    org.data = lambda request: json_response(200, {"value": []})
    for link in (
        "https://evil.example.com/api/data/v9.2/contacts?$skiptoken=x",
        "http://org.example.com/api/data/v9.2/contacts",
        "https://org.example.com:8443/api/data/v9.2/contacts",
        "//evil.example.com/x",
    ):
        with pytest.raises(ProtocolError, match="another origin"):
            await client.get_url(link)
    assert org.requests == []
    await client.get_url("https://ORG.example.com:443/api/data/v9.2/contacts?$skiptoken=%3Ccookie")
    assert org.requests[0].url.query == b"$skiptoken=%3Ccookie"


HTML = {"Content-Type": "text/html"}


@pytest.mark.parametrize(
    ("response", "rows", "fragment"),
    [
        (
            httpx.Response(200, content=b"<html>login</html>", headers=HTML),
            None,
            "a body that is not JSON (text/html, 18 bytes): '<html>login</html>'",
        ),
        (httpx.Response(200, content=b"[]"), None, "a JSON list, not an object"),
        (httpx.Response(200, content=b""), None, "an empty body (no content type, 0 bytes)"),
        (httpx.Response(200, content=b'{"value":[{"a'), "value", "not JSON"),
        (json_response(200, {"note": 1}), "value", "without its 'value' list of rows"),
        (json_response(200, {"value": [1]}), "value", "without its 'value' list of rows"),
    ],
)
async def test_malformed_success_answers_are_retried_then_fail_saying_what_came(
    client: DataverseClient,
    org: FakeOrg,
    fake_time: FakeTime,
    response: httpx.Response,
    rows: str | None,
    fragment: str,
) -> None:
    org.data = lambda request: response
    with pytest.raises(MalformedAnswerError) as caught:
        await client.get_json("contacts", {"$deltatoken": "tok"}, rows=rows)
    assert isinstance(caught.value, TransientError)
    assert f"GET {ROOT}contacts answered 200 with " in caught.value.message
    assert fragment in caught.value.message
    assert "(the same after 3 retries)" in caught.value.message
    assert "tok" not in caught.value.message
    assert len(org.data_requests()) == 4
    assert fake_time.sleeps == [1.0, 2.0, 4.0]  # backed off
    assert client.counters.retries == 3


async def test_a_malformed_answer_once_is_asked_for_again(
    client: DataverseClient, org: FakeOrg, fake_time: FakeTime
) -> None:
    answers = iter([httpx.Response(200, content=b"<html>proxy</html>", headers=HTML)])
    org.data = lambda request: next(answers, json_response(200, {"value": [{"a": 1}]}))
    assert await client.get_json("contacts", rows="value") == {"value": [{"a": 1}]}
    assert len(org.data_requests()) == 2
    assert fake_time.sleeps == [1.0]


async def test_lone_surrogates_are_escaped_and_noted_on_their_row(
    client: DataverseClient, org: FakeOrg
) -> None:
    body = b'{"value":[{"id":"1","name":"a\\ud800b","tags":["\\udfff"]},{"id":"2","name":"ok"}]}'
    org.data = lambda request: httpx.Response(200, content=body)
    page = await client.get_json("contacts", rows="value")
    bad, good = page["value"]
    assert bad["name"] == "a\\ud800b"
    assert bad["tags"] == ["\\udfff"]
    assert "'name' holds a lone UTF-16 surrogate" in bad[INVALID_TEXT]
    assert "'tags': item 0 holds a lone UTF-16 surrogate" in bad[INVALID_TEXT]
    assert good == {"id": "2", "name": "ok"}


async def test_a_lone_surrogate_outside_the_rows_is_a_malformed_answer(
    client: DataverseClient, org: FakeOrg
) -> None:
    body = b'{"value":[],"@odata.nextLink":"https://x/\\ud800"}'
    org.data = lambda request: httpx.Response(200, content=body)
    with pytest.raises(MalformedAnswerError, match="not JSON"):
        await client.get_json("contacts", rows="value")


async def test_other_statuses_are_fatal(client: DataverseClient, org: FakeOrg) -> None:
    org.data = lambda request: dv_error(405, "0x0", "Method not allowed")
    with pytest.raises(FatalError):
        await client.get_json("contacts")


async def test_batch_round_trip(client: DataverseClient, org: FakeOrg) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path.endswith("/$batch")
        assert request.headers["Prefer"] == "odata.continue-on-error"
        assert request.headers["Content-Type"].startswith("multipart/mixed; boundary=")
        body, content_type = encode_responses(
            [BatchResponse(204, {"OData-EntityId": f"{ROOT}contacts(1)"}), BatchResponse(400)]
        )
        return httpx.Response(200, content=body, headers={"Content-Type": content_type})

    org.data = handler
    answers = await client.batch(
        [BatchRequest("POST", f"{ROOT}contacts", {}, b"{}"), BatchRequest("DELETE", "x", {})]
    )
    assert [a.status for a in answers if isinstance(a, BatchResponse)] == [204, 400]
    assert client.counters.batches == 1


@pytest.mark.parametrize(
    "response",
    [
        json_response(200, {"value": []}),
        httpx.Response(
            200, content=b"--x\r\ngarbage", headers={"Content-Type": "multipart/mixed; boundary=x"}
        ),
    ],
)
async def test_malformed_batch_answers_are_protocol_errors(
    client: DataverseClient, org: FakeOrg, response: httpx.Response
) -> None:
    org.data = lambda request: response
    with pytest.raises(ProtocolError, match=r"\$batch"):
        await client.batch([BatchRequest("DELETE", "contacts(1)", {})])


async def test_server_time_follows_the_date_header(
    client: DataverseClient, org: FakeOrg, fake_time: FakeTime
) -> None:
    assert client.server_time() is None
    org.data = lambda request: httpx.Response(
        200, json={"value": []}, headers={"Date": "Mon, 07 Dec 2026 05:00:00 GMT"}
    )
    await client.get_json("contacts")
    fake_time.now += 3
    assert client.server_time() == datetime(2026, 12, 7, 5, 0, 3, tzinfo=UTC)
