"""simple-salesforce, unchanged, against the emulator over HTTPS."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceExpiredSession, SalesforceMalformedRequest

from crmsync.emulators.common.server import BackgroundServer
from crmsync.emulators.common.tls import TlsFiles, generate
from crmsync.emulators.salesforce.app import SalesforceEmulator, create_emulator
from crmsync.emulators.salesforce.config import SalesforceEmulatorSettings


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return generate([]).write(tmp_path_factory.mktemp("ss-tls"))


@pytest.fixture(scope="module")
def emulator() -> Iterator[SalesforceEmulator]:
    settings = SalesforceEmulatorSettings(seed_contacts=4_500, seed_accounts=20)
    emulator = create_emulator(settings)
    yield emulator
    emulator.close()


@pytest.fixture(scope="module")
def server(emulator: SalesforceEmulator, tls: TlsFiles) -> Iterator[BackgroundServer]:
    with BackgroundServer(emulator.app, tls=tls) as server:
        yield server


@pytest.fixture
def sf(
    server: BackgroundServer, tls: TlsFiles, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Salesforce]:
    # requests lets REQUESTS_CA_BUNDLE override a session's verify setting.
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    with requests.Session() as session:
        session.verify = str(tls.ca)
        token = session.post(
            f"{server.url}/services/oauth2/token",
            data={"grant_type": "client_credentials", "client_id": "ss", "client_secret": "x"},
            timeout=10,
        ).json()
        yield Salesforce(
            instance_url=token["instance_url"],
            session_id=token["access_token"],
            session=session,
            version="62.0",
        )


def test_query_and_query_all_iter(sf: Salesforce) -> None:
    first = sf.query("SELECT Id, LastName FROM Contact")
    assert first["totalSize"] == 4_500
    assert first["done"] is False
    every = list(sf.query_all_iter("SELECT Id, Email FROM Contact"))
    assert len(every) == 4_500
    assert len({r["Id"] for r in every}) == 4_500
    assert sf.api_usage["api-usage"].total == 100_000


def test_upsert_on_the_custom_object(sf: Salesforce) -> None:
    subscription: Any = sf.Subscription__c
    assert subscription.upsert("External_Key__c/SS-1", {"Plan__c": "Basic"}) == 201
    assert subscription.upsert("External_Key__c/SS-1", {"Plan__c": "Premium"}) == 200
    record = subscription.get_by_custom_id("External_Key__c", "SS-1")
    assert record["Plan__c"] == "Premium"


def test_updated_and_deleted(sf: Salesforce, emulator: SalesforceEmulator) -> None:
    start = emulator.clock.now() - timedelta(minutes=2)
    contact: Any = sf.Contact
    created = contact.create({"LastName": "Simple", "Email": "simple@example.com"})
    assert created["success"] is True
    contact.delete(created["id"])
    emulator.clock.advance(120)
    end = emulator.clock.now()
    deleted = contact.deleted(start, end)
    assert [d["id"] for d in deleted["deletedRecords"]] == [created["id"]]
    updated = contact.updated(start, end)
    assert created["id"] not in updated["ids"]
    assert "latestDateCovered" in updated


def test_collections_through_restful(sf: Salesforce) -> None:
    results = sf.restful(
        "composite/sobjects",
        method="POST",
        json={
            "allOrNone": False,
            "records": [
                {"attributes": {"type": "Contact"}, "LastName": "Rest"},
                {"attributes": {"type": "Contact"}, "FirstName": "Missing"},
            ],
        },
    )
    assert [r["success"] for r in results] == [True, False]
    assert results[1]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"


def test_describe_and_errors(sf: Salesforce, emulator: SalesforceEmulator) -> None:
    contact: Any = sf.Contact
    described = contact.describe()
    assert described["name"] == "Contact"
    assert any(f["name"] == "Email" and f["type"] == "email" for f in described["fields"])
    # Not pytest.raises(...) as ...: its traceback would keep the client's connection alive
    # until the garbage collector runs, and the server waits for it when stopping.
    content: Any = None
    try:
        sf.query("SELECT Nope FROM Contact")
    except SalesforceMalformedRequest as error:
        content = error.content
    assert content is not None
    assert content[0]["errorCode"] == "INVALID_FIELD"
    emulator.tokens.expire_all()
    with pytest.raises(SalesforceExpiredSession):
        sf.query("SELECT Id FROM Contact LIMIT 1")
