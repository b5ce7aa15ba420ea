"""The Salesforce connector against the Salesforce emulator over HTTPS.

One emulator serves the module (seeded data, its own CA); tests that need a small API budget get
their own. Faults are injected through the emulator's control endpoint.
"""

from __future__ import annotations

import ssl
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from crmsync.connectors.base import CrmType, Record, WriteOp
from crmsync.connectors.config import ssl_context
from crmsync.connectors.salesforce import (
    ApiBudgetExceeded,
    ApiLimitExceeded,
    SalesforceConnectionConfig,
    SalesforceConnector,
)
from crmsync.connectors.salesforce.soql import literal
from crmsync.emulators.common.server import BackgroundServer
from crmsync.emulators.common.tls import TlsFiles, generate
from crmsync.emulators.salesforce.app import SalesforceEmulator, create_emulator
from crmsync.emulators.salesforce.config import SalesforceEmulatorSettings
from crmsync.errors import AuthenticationError, ConfigurationError

CLIENT_ID = "3MVG9-emulated-consumer-key"
SECRET = "emulator-secret-value"
SECRET_ENV = "CRMSYNC_TEST_SECRET"
CONTACTS = 450


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return generate([]).write(tmp_path_factory.mktemp("tls"))


def _emulator(**settings: Any) -> SalesforceEmulator:
    return create_emulator(
        SalesforceEmulatorSettings(client_id=CLIENT_ID, client_secret=SecretStr(SECRET), **settings)
    )


@pytest.fixture(scope="module")
def server(tls: TlsFiles) -> Iterator[BackgroundServer]:
    emulator = _emulator(seed_contacts=CONTACTS, seed_accounts=10)
    with BackgroundServer(emulator.app, tls=tls) as running:
        yield running
    emulator.close()


@pytest.fixture(autouse=True)
def _secret_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The client secret, where the connection settings name it."""
    monkeypatch.setenv(SECRET_ENV, SECRET)


def _config(
    server: BackgroundServer, tls: TlsFiles, **overrides: Any
) -> SalesforceConnectionConfig:
    values: dict[str, Any] = {
        "url": server.url,
        "client_id": CLIENT_ID,
        "client_secret_env": SECRET_ENV,
        "ca_bundle": tls.ca,
        "page_size": 200,
        "backoff_initial_seconds": 0.05,
        "backoff_max_seconds": 0.2,
        **overrides,
    }
    return SalesforceConnectionConfig(**values)


@pytest.fixture
def faults(server: BackgroundServer, tls: TlsFiles) -> Iterator[Any]:
    context = ssl.create_default_context(cafile=str(tls.ca))

    def add(**fault: Any) -> None:
        with httpx.Client(verify=context) as http:
            http.post(f"{server.url}/_emulator/faults", json=fault).raise_for_status()

    yield add
    with httpx.Client(verify=context) as http:
        http.delete(f"{server.url}/_emulator/faults").raise_for_status()


async def _all(iterator: Any) -> list[Any]:
    return [item async for item in iterator]


async def test_metadata(server: BackgroundServer, tls: TlsFiles) -> None:
    async with SalesforceConnector(_config(server, tls)) as crm:
        tables = await crm.list_tables()
        assert {"Account", "Contact", "Subscription__c"} <= set(tables)
        contact = await crm.describe("Contact")
        assert contact.primary_key == "Id"
        assert contact.change_tracking is True
        assert contact.version_field == "SystemModstamp"
        assert ("Customer_Number__c",) in contact.alternate_keys
        fields = contact.fields
        assert fields["AccountId"].type is CrmType.LOOKUP
        assert fields["AccountId"].lookup_targets == ("Account",)
        assert fields["Birthdate"].type is CrmType.DATE
        assert fields["LastName"].required is True
        account = await crm.describe("Account")
        assert account.fields["AnnualRevenue"].type is CrmType.MONEY
        assert any(o.value == "Partner" for o in account.fields["Type"].options)
        with pytest.raises(ConfigurationError, match="does not exist"):
            await crm.describe("Nope__c")


async def test_full_read_in_batches(server: BackgroundServer, tls: TlsFiles) -> None:
    async with SalesforceConnector(_config(server, tls)) as crm:
        pages = await _all(crm.read_all("Contact", ["FirstName", "LastName", "AccountId"]))
        records: list[Record] = [r for page in pages for r in page]
        assert len(pages) >= 3
        assert all(len(page) <= 200 for page in pages)
        assert len({r.id for r in records}) == len(records) >= CONTACTS
        assert all(isinstance(r.version, str) and r.version.endswith("Z") for r in records)
        assert all("attributes" not in r.values for r in records)
        assert crm.counters.api_used


@pytest.mark.parametrize(
    "hostile",
    ["O'Brien", "back\\slash", 'quote "x"', "two\nlines\ttab", "' OR LastName != '", "100%_"],
)
async def test_hostile_literals_round_trip(
    server: BackgroundServer, tls: TlsFiles, hostile: str
) -> None:
    async with SalesforceConnector(_config(server, tls)) as crm:
        made = await crm.write([WriteOp("create", "Contact", {"LastName": hostile})])
        assert made[0].ok, made
        pages = await _all(
            crm.read_all("Contact", ["LastName"], where=f"LastName = {literal(hostile)}")
        )
        found = [r for page in pages for r in page]
        assert made[0].id in {r.id for r in found}
        assert all(r.values["LastName"] == hostile for r in found)


async def test_upserts_by_external_id_in_collections(
    server: BackgroundServer, tls: TlsFiles
) -> None:
    async with SalesforceConnector(_config(server, tls)) as crm:
        ops = [
            WriteOp(
                "upsert", "Contact", {"LastName": f"Bulk {i}"}, key={"Customer_Number__c": f"B-{i}"}
            )
            for i in range(450)
        ]
        writes_before = crm.counters.writes
        results = await crm.write(ops)
        assert crm.counters.writes - writes_before == 3  # 200 + 200 + 50
        assert all(r.ok and r.created is True for r in results), [r for r in results if not r.ok][
            :3
        ]
        again = await crm.write(ops[:3])
        assert [r.id for r in again] == [r.id for r in results[:3]]
        assert {r.created for r in again} == {False}


async def test_transient_faults_and_dropped_connections_are_retried(
    server: BackgroundServer, tls: TlsFiles, faults: Any
) -> None:
    async with SalesforceConnector(_config(server, tls)) as crm:
        await crm.describe("Contact")
        faults(kind="status", status=503, path="/query", times=1)
        faults(kind="drop", path="/query", times=1)
        pages = await _all(crm.read_all("Contact", ["LastName"]))
        assert sum(len(p) for p in pages) >= CONTACTS
        assert crm.counters.retries == 2


class _LosesAnswers(httpx.AsyncBaseTransport):
    """Forwards every request; the answer of the next ``lost`` creates (collections or sObject
    Rows) never comes: the org processed them (``written``) or they never reached it."""

    def __init__(self, tls: TlsFiles, *, written: bool) -> None:
        self.inner = httpx.AsyncHTTPTransport(verify=ssl_context(tls.ca))
        self.written = written
        self.lost = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        creating = request.method == "POST" and request.url.path.endswith(
            ("/composite/sobjects", "/sobjects/Contact")
        )
        if not (creating and self.lost):
            return await self.inner.handle_async_request(request)
        self.lost -= 1
        if self.written:
            response = await self.inner.handle_async_request(request)
            await response.aread()
            await response.aclose()
        raise httpx.ReadError("connection reset by peer", request=request)

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.mark.parametrize("case", ["written", "not-written", "in-doubt"])
async def test_a_create_whose_answer_was_lost_is_looked_up_not_sent_twice(
    server: BackgroundServer, tls: TlsFiles, case: str
) -> None:
    tag = f"Lost {uuid.uuid4().hex[:8]}"
    transport = _LosesAnswers(tls, written=case != "not-written")
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        if case == "in-doubt":  # meanwhile, someone creates a record with Ann's values
            async with SalesforceConnector(_config(server, tls)) as other:
                await other.write(
                    [WriteOp("create", "Contact", {"LastName": tag, "FirstName": "Ann"})]
                )

    async with SalesforceConnector(_config(server, tls), transport=transport, sleep=sleep) as crm:
        # Exported just before, with the same values as the lost call's first record.
        (first,) = await crm.write(
            [WriteOp("create", "Contact", {"LastName": tag, "FirstName": "Twin"})]
        )
        transport.lost = 1
        names = ["Twin", "Ann", "Ann", "Bob"]
        results = await crm.write(
            [WriteOp("create", "Contact", {"LastName": tag, "FirstName": n}) for n in names]
        )
        pages = await _all(
            crm.read_all("Contact", ["FirstName"], where=f"LastName = {literal(tag)}")
        )
    assert len(slept) == 1  # the look-up waited for the lost call to settle
    assert 0 < slept[0] <= 5
    found = Counter(str(r.values["FirstName"]) for page in pages for r in page)
    if case == "in-doubt":
        assert [r.code for r in results] == [None, "IN_DOUBT", "IN_DOUBT", None]
        assert "external id" in (results[1].message or "")
        assert found == Counter({"Twin": 2, "Ann": 3, "Bob": 1})
    else:
        assert all(r.ok for r in results), results
        assert len({first.id, *(r.id for r in results)}) == 5
        assert found == Counter({"Twin": 2, "Ann": 2, "Bob": 1})  # nothing twice


@pytest.mark.parametrize("written", [True, False], ids=["written", "not-written"])
async def test_a_create_sent_alone_whose_answer_was_lost_is_looked_up_not_sent_twice(
    server: BackgroundServer, tls: TlsFiles, written: bool
) -> None:
    """``batch=False``: the sObject Rows create is looked up after a lost answer as well."""
    tag = f"Lost {uuid.uuid4().hex[:8]}"
    transport = _LosesAnswers(tls, written=written)

    async def sleep(_seconds: float) -> None:
        return None

    async with SalesforceConnector(_config(server, tls), transport=transport, sleep=sleep) as crm:
        transport.lost = 1
        names = ["Ann", "Bob"]
        results = await crm.write(
            [WriteOp("create", "Contact", {"LastName": tag, "FirstName": n}) for n in names],
            batch=False,
        )
        pages = await _all(
            crm.read_all("Contact", ["FirstName"], where=f"LastName = {literal(tag)}")
        )
    assert all(r.ok for r in results), results
    found = Counter(str(r.values["FirstName"]) for page in pages for r in page)
    assert found == Counter({"Ann": 1, "Bob": 1})
    assert {str(r.id) for page in pages for r in page} == {str(r.id) for r in results}


async def test_expired_session_is_renewed(
    server: BackgroundServer, tls: TlsFiles, faults: Any
) -> None:
    async with SalesforceConnector(_config(server, tls)) as crm:
        await crm.describe("Contact")
        faults(kind="expire_tokens")
        assert await crm.list_tables()


async def test_wrong_secret_is_an_authentication_error(
    server: BackgroundServer, tls: TlsFiles
) -> None:
    wrong = "not-the-right-secret"
    config = _config(server, tls, client_secret_env="WRONG_SECRET")
    async with SalesforceConnector(config, environ={"WRONG_SECRET": wrong}) as crm:
        with pytest.raises(AuthenticationError) as caught:
            await crm.list_tables()
    assert wrong not in str(caught.value)


async def _list_until_refused(crm: SalesforceConnector, times: int) -> None:
    for _ in range(times):
        await crm.list_tables()


async def test_api_budget_and_daily_limit(tls: TlsFiles) -> None:
    emulator = _emulator(seed_contacts=5, api_daily_limit=10)
    with BackgroundServer(emulator.app, tls=tls) as own:
        async with SalesforceConnector(_config(own, tls, api_budget_share=0.5)) as crm:
            with pytest.raises(ApiBudgetExceeded, match=r"of 10 daily requests used"):
                await _list_until_refused(crm, 10)
            assert crm.counters.api_used == 5
        async with SalesforceConnector(_config(own, tls, api_budget_share=1.0)) as crm:
            with pytest.raises(ApiBudgetExceeded, match=r"10 of 10 daily requests used"):
                await _list_until_refused(crm, 10)
        # A connection that has not seen the usage yet learns it from Salesforce's refusal.
        async with SalesforceConnector(_config(own, tls)) as crm:
            with pytest.raises(ApiLimitExceeded, match="REQUEST_LIMIT_EXCEEDED"):
                await crm.list_tables()
            assert crm.counters.retries == 0
    emulator.close()


async def test_deletions_of_a_period(tls: TlsFiles) -> None:
    emulator = _emulator(seed_contacts=5)
    with BackgroundServer(emulator.app, tls=tls) as own:
        async with SalesforceConnector(_config(own, tls)) as crm:
            made = await crm.write([WriteOp("create", "Contact", {"LastName": "Short-lived"})])
            record_id = made[0].id
            assert record_id
            assert (await crm.write([WriteOp("delete", "Contact", id=record_id)]))[0].ok
            emulator.clock.advance(120)  # the delete log serves minutes that are over
            now = datetime.now(UTC)
            found = await crm.deleted("Contact", now - timedelta(days=1), now + timedelta(hours=1))
            assert [d.id for d in found] == [record_id]
            assert found[0].deleted_at is not None
            with pytest.raises(ConfigurationError, match="15 days"):
                await crm.deleted("Contact", now - timedelta(days=20), now)
    emulator.close()
