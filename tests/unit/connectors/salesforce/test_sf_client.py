from __future__ import annotations

import httpx
import pytest
from connector_fakes import FakeTime
from sf_fakes import INSTANCE, ROOT, FakeOrg, make_config, sf_error

from crmsync.connectors.salesforce import (
    ApiBudgetExceeded,
    ApiLimitExceeded,
    SalesforceClient,
    Session,
    StaticSessionProvider,
)
from crmsync.connectors.salesforce.client import parse_limit_info
from crmsync.errors import (
    AuthenticationError,
    ConfigurationError,
    MalformedAnswerError,
    ProtocolError,
    RejectError,
    TransientError,
)


async def test_calls_go_to_the_instance_with_the_bearer_token(
    client: SalesforceClient, org: FakeOrg
) -> None:
    await client.get_json("query/", {"q": "SELECT Id FROM Contact"})
    token, query = org.requests
    assert token.url.path == "/services/oauth2/token"
    assert str(query.url) == f"{INSTANCE}{ROOT}query/?q=SELECT%20Id%20FROM%20Contact"
    assert query.headers["Authorization"] == "Bearer token-1"
    assert query.headers["Accept"] == "application/json"
    assert client.counters.reads == 1
    assert (client.counters.api_used, client.counters.api_max) == (12, 5000)


async def test_expired_session_is_renewed_once(client: SalesforceClient, org: FakeOrg) -> None:
    refusals = iter([sf_error(401, "INVALID_SESSION_ID", "Session expired or invalid")])
    org.before.append(lambda r: next(refusals, None) if "query" in r.url.path else None)
    await client.get_json("query/", {"q": "SELECT Id FROM Contact"})
    assert org.tokens_issued == 2
    assert org.paths().count(f"GET {ROOT}query/") == 2


async def test_session_refused_twice_is_an_authentication_error(
    org: FakeOrg, fake_time: FakeTime
) -> None:
    sessions = StaticSessionProvider(Session("wrong-token", INSTANCE))
    async with SalesforceClient(
        make_config(), sessions, transport=httpx.MockTransport(org), sleep=fake_time.sleep
    ) as client:
        with pytest.raises(AuthenticationError, match="INVALID_SESSION_ID"):
            await client.get_json("sobjects/")
    assert sessions.refreshes == 1
    assert len(org.requests) == 2


async def test_transient_errors_are_retried_with_bounded_backoff(
    client: SalesforceClient, org: FakeOrg, fake_time: FakeTime
) -> None:
    failures = iter([sf_error(503, "SERVER_UNAVAILABLE")] * 3)
    org.before.append(lambda r: next(failures, None) if "sobjects" in r.url.path else None)
    answer = await client.get_json("sobjects/")
    assert "sobjects" in answer
    assert fake_time.sleeps == [1.0, 2.0, 4.0]
    assert client.counters.retries == 3


async def test_retries_stop_after_max_retries(org: FakeOrg, fake_time: FakeTime) -> None:
    org.before.append(
        lambda r: sf_error(500, "UNKNOWN_EXCEPTION") if "sobjects" in r.url.path else None
    )
    async with SalesforceClient(
        make_config(max_retries=2),
        transport=httpx.MockTransport(org),
        sleep=fake_time.sleep,
        jitter=lambda: 1.0,
    ) as client:
        with pytest.raises(TransientError, match="UNKNOWN_EXCEPTION"):
            await client.get_json("sobjects/")
    assert fake_time.sleeps == [1.0, 2.0]


async def test_dropped_connections_are_retried(client: SalesforceClient, org: FakeOrg) -> None:
    drops = iter([True])

    def drop(request: httpx.Request) -> httpx.Response | None:
        if "sobjects" in request.url.path and next(drops, False):
            raise httpx.ReadError("connection reset", request=request)
        return None

    org.before.append(drop)
    await client.get_json("sobjects/")
    assert client.counters.retries == 1


@pytest.mark.parametrize(
    ("failure", "sent_twice"),
    [(httpx.ReadError, False), (httpx.RemoteProtocolError, False), (httpx.ConnectError, True)],
)
async def test_writes_that_must_not_repeat_are_not_resent_after_a_lost_answer(
    client: SalesforceClient, org: FakeOrg, failure: type[httpx.TransportError], sent_twice: bool
) -> None:
    failures = iter([True])
    sent: list[httpx.Request] = []

    def lose(request: httpx.Request) -> httpx.Response | None:
        if "composite" in request.url.path:
            sent.append(request)
            if next(failures, False):
                raise failure("no answer", request=request)
        return None

    org.before.append(lose)
    body = {"allOrNone": False, "records": [{"attributes": {"type": "Contact"}, "LastName": "X"}]}
    if sent_twice:  # it never reached the server: sending it again is safe
        await client.send_json("POST", "composite/sobjects", body, retry_unanswered=False)
    else:
        with pytest.raises(TransientError) as lost:
            await client.send_json("POST", "composite/sobjects", body, retry_unanswered=False)
        assert lost.value.status is None
    assert len(sent) == (2 if sent_twice else 1)


async def test_daily_limit_is_never_retried(client: SalesforceClient, org: FakeOrg) -> None:
    org.before.append(
        lambda r: (
            sf_error(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
            if "sobjects" in r.url.path
            else None
        )
    )
    with pytest.raises(ApiLimitExceeded, match="daily API request limit"):
        await client.get_json("sobjects/")
    assert client.counters.retries == 0
    assert org.paths().count(f"GET {ROOT}sobjects/") == 1


async def test_budget_stops_before_the_call(client: SalesforceClient, org: FakeOrg) -> None:
    org.api_used, org.api_max = 3999, 5000
    await client.get_json("sobjects/")  # answered with api-usage=4001/5000 (after the token)
    assert client.counters.api_used == 4001
    sent = len(org.requests)
    with pytest.raises(ApiBudgetExceeded) as caught:
        await client.get_json("sobjects/")
    assert str(caught.value) == (
        "API budget: 4,001 of 5,000 daily requests used; crmsync stops at 80% (api_budget_share)"
    )
    assert len(org.requests) == sent


async def test_links_to_other_hosts_are_refused(client: SalesforceClient, org: FakeOrg) -> None:
    with pytest.raises(ProtocolError, match="another origin"):
        await client.get_json("https://evil.example.com/services/data/v62.0/query/01g-2000")
    with pytest.raises(ProtocolError, match="unexpected link path"):
        await client.get_json("/services/data/../../evil")
    with pytest.raises(ProtocolError, match="unexpected link path"):
        await client.get_json("/secur/frontdoor.jsp")
    assert all(r.url.host != "evil.example.com" for r in org.requests)


async def test_record_operations_map_refusals_to_rejects(
    client: SalesforceClient, org: FakeOrg
) -> None:
    org.before.append(
        lambda r: (
            sf_error(400, "INVALID_FIELD", "No such column 'Nope'") if r.method == "PATCH" else None
        )
    )
    with pytest.raises(RejectError) as caught:
        await client.send_json("PATCH", "sobjects/Contact/003", {"Nope": 1}, table="Contact")
    assert caught.value.code == "INVALID_FIELD"
    assert client.counters.writes == 1


async def test_malformed_answers_are_retried_then_fail_saying_what_came(
    client: SalesforceClient, org: FakeOrg
) -> None:
    org.before.append(
        lambda r: httpx.Response(200, text="<html/>") if "limits" in r.url.path else None
    )
    with pytest.raises(MalformedAnswerError, match=r"not JSON .*'<html/>' .the same after"):
        await client.get_json("limits/")
    assert client.counters.retries > 0
    org.before.append(lambda r: httpx.Response(200, json=[1]) if "list" in r.url.path else None)
    with pytest.raises(MalformedAnswerError, match="a JSON list, not an object"):
        await client.get_json("list/")
    org.before.append(
        lambda r: httpx.Response(200, json={"done": True}) if "query" in r.url.path else None
    )
    with pytest.raises(MalformedAnswerError, match="without its 'records' list of rows"):
        await client.get_json("query/", {"q": "SELECT Id FROM Contact"}, rows="records")


async def test_tls_failures_are_configuration_errors(org: FakeOrg) -> None:
    def untrusted(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED]", request=request)

    sessions = StaticSessionProvider(Session("token-1", INSTANCE))
    async with SalesforceClient(
        make_config(), sessions, transport=httpx.MockTransport(untrusted)
    ) as client:
        with pytest.raises(ConfigurationError, match="ca_bundle"):
            await client.get_json("sobjects/")


async def test_server_time_follows_the_date_header(client: SalesforceClient, org: FakeOrg) -> None:
    await client.get_json("sobjects/")
    assert client.server_now() == org.now


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("api-usage=18/5000", (18, 5000)),
        ("api-usage=18/5000, per-app-api-usage=2/250(appName=x)", (18, 5000)),
        ("nonsense", None),
        ("api-usage=1/0", None),
        (None, None),
    ],
)
def test_limit_info(header: str | None, expected: tuple[int, int] | None) -> None:
    assert parse_limit_info(header) == expected
