"""Writes over real HTTP: collections with allOrNone, upserts, validation errors, the session."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from crmsync.emulators.common.server import BackgroundServer
from crmsync.emulators.salesforce.app import SalesforceEmulator, create_emulator
from crmsync.emulators.salesforce.config import SalesforceEmulatorSettings

API = "/services/data/v62.0"


@pytest.fixture(scope="module")
def emulator() -> Iterator[SalesforceEmulator]:
    emulator = create_emulator(SalesforceEmulatorSettings(seed_contacts=20, seed_accounts=3))
    yield emulator
    emulator.close()


@pytest.fixture
def client(emulator: SalesforceEmulator) -> Iterator[httpx.Client]:
    with BackgroundServer(emulator.app) as server, httpx.Client(base_url=server.url) as client:
        token = client.post(
            "/services/oauth2/token",
            data={
                "grant_type": "password",
                "client_id": "it",
                "client_secret": "s",
                "username": "u@example.com",
                "password": "pwTOKEN",
            },
        ).json()["access_token"]
        client.headers["Authorization"] = f"Bearer {token}"
        yield client


def test_collection_round_trip(client: httpx.Client) -> None:
    records = [
        {"attributes": {"type": "Account"}, "Name": "Wire Inc", "Industry": "Retail"},
        {"attributes": {"type": "Contact"}, "LastName": "Wire", "Email": "wire@example.com"},
    ]
    created = client.post(f"{API}/composite/sobjects", json={"allOrNone": True, "records": records})
    assert created.status_code == 200
    account_id, contact_id = (r["id"] for r in created.json())
    link = [{"attributes": {"type": "Contact"}, "Id": contact_id, "AccountId": account_id}]
    assert client.patch(f"{API}/composite/sobjects", json={"records": link}).json()[0]["success"]
    soql = f"SELECT Id, Account.Name FROM Contact WHERE Id = '{contact_id}'"  # noqa: S608
    [record] = client.get(f"{API}/query", params={"q": soql}).json()["records"]
    assert record["Account"]["Name"] == "Wire Inc"
    results = client.delete(
        f"{API}/composite/sobjects", params={"ids": f"{contact_id},{account_id}"}
    ).json()
    assert [r["success"] for r in results] == [True, True]


def test_upsert_and_errors(client: httpx.Client) -> None:
    url = f"{API}/sobjects/Subscription__c/External_Key__c/W-1"
    assert client.patch(url, json={"Plan__c": "Basic"}).status_code == 201
    assert client.patch(url, json={"Plan__c": "Plus"}).status_code == 200
    answer = client.post(f"{API}/sobjects/Contact", json={"FirstName": "No last name"})
    assert answer.status_code == 400
    assert answer.json() == [
        {
            "message": "Required fields are missing: [LastName]",
            "errorCode": "REQUIRED_FIELD_MISSING",
            "fields": ["LastName"],
        }
    ]
    broken = client.post(
        f"{API}/sobjects/Contact", content=b"{", headers={"Content-Type": "application/json"}
    )
    assert broken.status_code == 400
    assert broken.json()[0]["errorCode"] == "JSON_PARSER_ERROR"


def test_expired_session(client: httpx.Client, emulator: SalesforceEmulator) -> None:
    emulator.tokens.expire_all()
    answer = client.get(f"{API}/limits")
    assert answer.status_code == 401
    assert answer.json()[0]["errorCode"] == "INVALID_SESSION_ID"
