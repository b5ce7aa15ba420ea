"""The token endpoint, the session gate, the daily API budget, versions and describe."""

from __future__ import annotations

import base64
import hashlib
import hmac

import httpx
import pytest
from pydantic import SecretStr

from crmsync.emulators.common.clock import Clock
from crmsync.emulators.salesforce.app import create_emulator
from crmsync.emulators.salesforce.config import SalesforceEmulatorSettings
from crmsync.emulators.salesforce.describe import versions
from crmsync.emulators.salesforce.limits import ApiUsage

TOKEN = "/services/oauth2/token"


async def test_client_credentials_answer(anonymous: httpx.AsyncClient, clock: Clock) -> None:
    answer = await anonymous.post(
        TOKEN, data={"grant_type": "client_credentials", "client_id": "app", "client_secret": "k"}
    )
    body = answer.json()
    assert set(body) == {
        "access_token",
        "instance_url",
        "id",
        "token_type",
        "issued_at",
        "signature",
    }
    assert body["instance_url"] == "http://sf.test"
    assert body["token_type"] == "Bearer"
    assert body["id"].startswith("http://sf.test/id/00D")
    assert body["access_token"].startswith("00D")
    assert abs(int(body["issued_at"]) / 1000 - clock.now().timestamp()) < 5
    expected = hmac.new(b"k", (body["id"] + body["issued_at"]).encode(), hashlib.sha256).digest()
    assert base64.b64decode(body["signature"]) == expected


@pytest.mark.parametrize(
    ("form", "error"),
    [
        ({"grant_type": "authorization_code", "client_id": "a"}, "unsupported_grant_type"),
        ({"grant_type": "client_credentials"}, "invalid_client_id"),
        ({"grant_type": "client_credentials", "client_id": "a"}, "invalid_client"),
        ({"grant_type": "password", "client_id": "a", "client_secret": "b"}, "invalid_grant"),
    ],
)
async def test_token_errors(anonymous: httpx.AsyncClient, form: dict[str, str], error: str) -> None:
    answer = await anonymous.post(TOKEN, data=form)
    assert answer.status_code == 400
    assert answer.json()["error"] == error
    assert answer.json()["error_description"]


async def test_password_grant(anonymous: httpx.AsyncClient) -> None:
    form = {
        "grant_type": "password",
        "client_id": "a",
        "client_secret": "b",
        "username": "admin@example.com",
        "password": "pw" + "SECURITYTOKEN",
    }
    assert (await anonymous.post(TOKEN, data=form)).status_code == 200


async def test_restricted_credentials(clock: Clock) -> None:
    settings = SalesforceEmulatorSettings(client_id="app", client_secret=SecretStr("right"))
    emulator = create_emulator(settings, clock=clock)
    try:
        transport = httpx.ASGITransport(app=emulator.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sf.test") as client:
            base = {"grant_type": "client_credentials", "client_id": "app"}
            wrong = await client.post(TOKEN, data={**base, "client_secret": "wrong"})
            assert wrong.json()["error"] == "invalid_client"
            other = await client.post(
                TOKEN, data={**base, "client_id": "x", "client_secret": "right"}
            )
            assert other.status_code == 400
            right = await client.post(TOKEN, data={**base, "client_secret": "right"})
            assert right.status_code == 200
    finally:
        emulator.close()


@pytest.mark.parametrize(
    ("username", "password", "status"),
    [
        ("me@example.com", "pw-1TOKEN", 200),
        ("me@example.com", "pw-1", 400),  # the security token is missing
        ("me@example.com", "wrongTOKEN", 400),
        ("other@example.com", "pw-1TOKEN", 400),
    ],
)
async def test_restricted_user_of_the_password_flow(
    clock: Clock, username: str, password: str, status: int
) -> None:
    settings = SalesforceEmulatorSettings(
        username="me@example.com", password=SecretStr("pw-1"), security_token=SecretStr("TOKEN")
    )
    emulator = create_emulator(settings, clock=clock)
    try:
        transport = httpx.ASGITransport(app=emulator.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sf.test") as client:
            form = {
                "grant_type": "password",
                "client_id": "app",
                "client_secret": "k",
                "username": username,
                "password": password,
            }
            answer = await client.post(TOKEN, data=form)
        assert answer.status_code == status
        if status != 200:
            assert answer.json() == {
                "error": "invalid_grant",
                "error_description": "authentication failure",
            }
    finally:
        emulator.close()


async def test_session_gate(anonymous: httpx.AsyncClient, emulator: object, clock: Clock) -> None:
    assert (await anonymous.get("/services/data/")).status_code == 200
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"}):
        answer = await anonymous.get("/services/data/v62.0/limits", headers=headers)
        assert answer.status_code == 401
        assert answer.json() == [
            {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}
        ]
    token = (
        await anonymous.post(
            TOKEN, data={"grant_type": "client_credentials", "client_id": "a", "client_secret": "b"}
        )
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert (await anonymous.get("/services/data/v62.0/", headers=headers)).status_code == 200
    old = await anonymous.get("/services/data/v20.0/limits", headers=headers)
    assert old.status_code == 404
    assert old.json()[0]["errorCode"] == "NOT_FOUND"
    assert (await anonymous.get("/services/data/v99.0/", headers=headers)).status_code == 404
    clock.advance(7201)
    expired = await anonymous.get("/services/data/v62.0/limits", headers=headers)
    assert expired.status_code == 401


async def test_limit_info_header_and_budget(clock: Clock) -> None:
    emulator = create_emulator(SalesforceEmulatorSettings(api_daily_limit=3), clock=clock)
    try:
        transport = httpx.ASGITransport(app=emulator.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sf.test") as client:
            token = await client.post(
                TOKEN,
                data={"grant_type": "client_credentials", "client_id": "a", "client_secret": "b"},
            )
            client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
            first = await client.get("/services/data/v62.0/limits/")
            assert first.headers["Sforce-Limit-Info"] == "api-usage=1/3"
            assert first.json()["DailyApiRequests"] == {"Max": 3, "Remaining": 2}
            await client.get("/services/data/v62.0/sobjects")
            third = await client.get("/services/data/v62.0/")
            assert third.headers["Sforce-Limit-Info"] == "api-usage=3/3"
            spent = await client.get("/services/data/v62.0/")
            assert spent.status_code == 403
            assert spent.json() == [
                {"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}
            ]
            clock.advance(24 * 3600)
            token = await client.post(
                TOKEN,
                data={"grant_type": "client_credentials", "client_id": "a", "client_secret": "b"},
            )
            client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
            assert (await client.get("/services/data/v62.0/")).status_code == 200
            usage = (await client.get("/_emulator/usage")).json()
            assert usage == {"used": 1, "limit": 3}
    finally:
        emulator.close()


def test_usage_window_rolls_after_a_day(clock: Clock) -> None:
    usage = ApiUsage(clock, 2)
    assert usage.take()
    assert usage.take()
    assert not usage.take()
    clock.advance(24 * 3600 - 5)
    assert not usage.take()
    clock.advance(10)
    assert usage.take()
    assert usage.header() == "api-usage=1/2"


def test_version_labels() -> None:
    listed = versions("62.0")
    assert listed[0]["version"] == "31.0"
    assert listed[-1] == {
        "label": "Winter '25",
        "url": "/services/data/v62.0",
        "version": "62.0",
    }
    assert {"label": "Spring '24", "url": "/services/data/v60.0", "version": "60.0"} in listed


async def test_describe(api: httpx.AsyncClient) -> None:
    described = (await api.get("sobjects/Contact/describe")).json()
    assert (described["name"], described["keyPrefix"], described["custom"]) == (
        "Contact",
        "003",
        False,
    )
    assert described["replicateable"] is True
    assert described["urls"]["describe"] == "/services/data/v62.0/sobjects/Contact/describe"
    fields = {f["name"]: f for f in described["fields"]}
    assert fields["Id"]["type"] == "id"
    assert fields["LastName"]["nillable"] is False
    assert fields["AccountId"]["referenceTo"] == ["Account"]
    assert fields["AccountId"]["relationshipName"] == "Account"
    assert fields["Customer_Number__c"]["externalId"] is True
    assert fields["Customer_Number__c"]["idLookup"] is True
    assert fields["Customer_Number__c"]["unique"] is True
    language = fields["Preferred_Language__c"]
    assert language["restrictedPicklist"] is True
    assert {
        "active": True,
        "defaultValue": True,
        "label": "en",
        "validFor": None,
        "value": "en",
    } in (language["picklistValues"])
    assert fields["Birthdate"]["type"] == "date"
    assert fields["HasOptedOutOfEmail"]["type"] == "boolean"
    assert fields["Name"]["createable"] is False
    custom = (await api.get("sobjects/Subscription__c/describe/")).json()
    assert (custom["custom"], custom["keyPrefix"]) == (True, "a0X")
    missing = await api.get("sobjects/Nope/describe")
    assert missing.status_code == 404
    listed = (await api.get("sobjects/")).json()
    assert {o["name"] for o in listed["sobjects"]} == {
        "Account",
        "Contact",
        "Subscription__c",
        "Email_Send__c",
        "Email_Open__c",
        "Email_Click__c",
        "Email_Bounce__c",
    }
    info = (await api.get("sobjects/Contact")).json()
    assert info["objectDescribe"]["name"] == "Contact"


async def test_injected_faults_use_salesforce_error_bodies(
    api: httpx.AsyncClient, emulator: object
) -> None:
    from crmsync.emulators.common.faults import Fault
    from crmsync.emulators.salesforce.app import SalesforceEmulator

    assert isinstance(emulator, SalesforceEmulator)
    emulator.faults.add(Fault("status", status=503, path="/query", retry_after=3))
    answer = await api.get("query", params={"q": "SELECT Id FROM Contact"})
    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "3"
    assert answer.json()[0]["errorCode"] == "SERVER_UNAVAILABLE"
    assert (await api.get("query", params={"q": "SELECT Id FROM Contact"})).status_code == 200
    emulator.faults.add(Fault("expire_tokens"))
    assert (await api.get("limits")).status_code == 401


async def test_unknown_resources_and_methods_answer_in_salesforce_format(
    api: httpx.AsyncClient,
) -> None:
    missing = await api.get("nothing/here")
    assert missing.status_code == 404
    assert missing.json()[0]["errorCode"] == "NOT_FOUND"
    wrong = await api.put("sobjects/Contact/0035g0000000001AAA", json={})
    assert wrong.status_code == 405
    assert wrong.json()[0]["errorCode"] == "METHOD_NOT_ALLOWED"
