"""The Salesforce emulator over real HTTPS: token, queries with paging, describe, limits, faults,
replication, throughput."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest

from crmsync.emulators.common.faults import Fault
from crmsync.emulators.common.server import BackgroundServer
from crmsync.emulators.common.tls import TlsFiles, generate
from crmsync.emulators.salesforce.app import SalesforceEmulator, create_emulator
from crmsync.emulators.salesforce.config import SalesforceEmulatorSettings

API = "/services/data/v62.0"


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return generate([]).write(tmp_path_factory.mktemp("sf-tls"))


@pytest.fixture(scope="module")
def emulator() -> Iterator[SalesforceEmulator]:
    settings = SalesforceEmulatorSettings(seed_contacts=12_000, seed_accounts=50)
    emulator = create_emulator(settings)
    yield emulator
    emulator.close()


@pytest.fixture(scope="module")
def server(emulator: SalesforceEmulator, tls: TlsFiles) -> Iterator[BackgroundServer]:
    with BackgroundServer(emulator.app, tls=tls) as server:
        yield server


@pytest.fixture
def client(server: BackgroundServer, tls: TlsFiles) -> Iterator[httpx.Client]:
    context = ssl.create_default_context(cafile=tls.ca)
    with httpx.Client(base_url=server.url, verify=context, timeout=30) as client:
        answer = client.post(
            "/services/oauth2/token",
            data={"grant_type": "client_credentials", "client_id": "it", "client_secret": "s"},
        )
        assert answer.status_code == 200
        assert answer.json()["instance_url"] == server.url
        client.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"
        yield client


def test_paged_query_over_https(client: httpx.Client) -> None:
    soql = "SELECT Id, LastName, Email, HasOptedOutOfEmail, SystemModstamp FROM Contact"
    page = client.get(f"{API}/query/", params={"q": soql}).json()
    assert page["totalSize"] == 12_000
    assert len(page["records"]) == 2000
    seen = [r["Id"] for r in page["records"]]
    while not page["done"]:
        answer = client.get(page["nextRecordsUrl"])
        assert answer.headers["Sforce-Limit-Info"].startswith("api-usage=")
        page = answer.json()
        seen += [r["Id"] for r in page["records"]]
    assert len(seen) == len(set(seen)) == 12_000
    assert seen == sorted(seen)


def test_batch_size_header_and_errors(client: httpx.Client) -> None:
    page = client.get(
        f"{API}/query",
        params={"q": "SELECT Id FROM Contact WHERE Email != null"},
        headers={"Sforce-Query-Options": "batchSize=250"},
    ).json()
    assert len(page["records"]) == 250
    assert page["nextRecordsUrl"].endswith("-250")
    bad = client.get(f"{API}/query", params={"q": "SELECT Id FROM Contact WHERE"})
    assert bad.status_code == 400
    assert bad.headers["content-type"].startswith("application/json")
    assert bad.json()[0]["errorCode"] == "MALFORMED_QUERY"
    gone = client.get(f"{API}/query/01g5g00000BOGUSAAA-2000")
    assert gone.json()[0]["errorCode"] == "INVALID_QUERY_LOCATOR"


def test_faults_are_salesforce_shaped(client: httpx.Client, emulator: SalesforceEmulator) -> None:
    emulator.faults.add(Fault("status", status=503, path="/limits", retry_after=2))
    answer = client.get(f"{API}/limits")
    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "2"
    assert answer.json()[0]["errorCode"] == "SERVER_UNAVAILABLE"
    assert client.get(f"{API}/limits").json()["DailyApiRequests"]["Max"] == 100_000
    emulator.faults.add(Fault("drop", path="/sobjects/Account/describe"))
    with pytest.raises(httpx.HTTPError):
        client.get(f"{API}/sobjects/Account/describe")
    assert client.get(f"{API}/sobjects/Account/describe").json()["keyPrefix"] == "001"


def test_replication_after_writes(client: httpx.Client, emulator: SalesforceEmulator) -> None:
    start = emulator.clock.now() - timedelta(minutes=1)
    created = client.post(f"{API}/sobjects/Contact", json={"LastName": "Wire"}).json()["id"]
    client.delete(f"{API}/sobjects/Contact/{created}")
    emulator.clock.advance(120)
    params = {"start": start.isoformat(), "end": emulator.clock.now().isoformat()}
    deleted = client.get(f"{API}/sobjects/Contact/deleted/", params=params).json()
    assert [d["id"] for d in deleted["deletedRecords"]] == [created]
    updated = client.get(f"{API}/sobjects/Contact/updated/", params=params).json()
    assert created not in updated["ids"]


def test_a_full_read_pages_through_every_record(client: httpx.Client) -> None:
    soql = "SELECT Id, FirstName, LastName, Email, MailingCity, SystemModstamp FROM Contact"
    page = client.get(f"{API}/query", params={"q": soql}).json()
    ids = [record["Id"] for record in page["records"]]
    while not page["done"]:
        page = client.get(page["nextRecordsUrl"]).json()
        ids += [record["Id"] for record in page["records"]]
    assert len(ids) == 12_000
    assert len(set(ids)) == 12_000  # no record twice across pages
