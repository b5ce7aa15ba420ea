"""The Dataverse connector against the emulator over HTTPS, signing in with real MSAL.

One emulator serves the module (seeded data, its own CA); tests that move the emulator's clock get
their own. Faults are injected through the emulator's control endpoint.
"""

from __future__ import annotations

import socket
import ssl
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from crmsync.connectors.base import ChangePage, CrmType, Record, WriteOp
from crmsync.connectors.dataverse import (
    DataverseConnectionConfig,
    DataverseConnector,
    MsalTokenProvider,
)
from crmsync.emulators.common.server import BackgroundServer
from crmsync.emulators.common.tls import TlsFiles, generate
from crmsync.emulators.dataverse.app import DataverseEmulator, create_emulator
from crmsync.emulators.dataverse.config import DataverseEmulatorSettings
from crmsync.errors import AuthenticationError, ConfigurationError

CLIENT_ID = "6f1c2d4e-0000-4000-8000-000000000001"
SECRET = "emulator-secret-value"
SECRET_ENV = "CRMSYNC_TEST_SECRET"
CONTACTS = 120


@pytest.fixture(autouse=True)
def _no_ca_override(monkeypatch: pytest.MonkeyPatch) -> None:
    # The connector must trust the emulator's CA whatever the machine-wide bundle variables say.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return generate([]).write(tmp_path_factory.mktemp("tls"))


def _emulator(**settings: Any) -> DataverseEmulator:
    return create_emulator(
        DataverseEmulatorSettings(client_id=CLIENT_ID, client_secret=SecretStr(SECRET), **settings)
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


def _config(server: BackgroundServer, tls: TlsFiles, **overrides: Any) -> DataverseConnectionConfig:
    values: dict[str, Any] = {
        "url": server.url,
        "tenant_id": "mytenant",
        "authority": f"{server.url}/mytenant",
        "client_id": CLIENT_ID,
        "client_secret_env": SECRET_ENV,
        "ca_bundle": tls.ca,
        "page_size": 50,
        "backoff_initial_seconds": 0.05,
        "backoff_max_seconds": 0.2,
        **overrides,
    }
    return DataverseConnectionConfig(**values)


def _control(
    server: BackgroundServer, tls: TlsFiles, method: str, path: str, body: Any = None
) -> Any:
    with httpx.Client(verify=ssl.create_default_context(cafile=str(tls.ca))) as http:
        response = http.request(method, f"{server.url}/_emulator/{path}", json=body)
        response.raise_for_status()
        return response.json()


@pytest.fixture
def faults(server: BackgroundServer, tls: TlsFiles) -> Iterator[Any]:
    yield lambda **fault: _control(server, tls, "POST", "faults", fault)
    _control(server, tls, "DELETE", "faults")


async def _all(iterator: Any) -> list[Any]:
    return [item async for item in iterator]


async def test_metadata(server: BackgroundServer, tls: TlsFiles) -> None:
    async with DataverseConnector(_config(server, tls)) as crm:
        tables = await crm.list_tables()
        assert {"contact", "account", "crmsync_subscription"} <= set(tables)
        contact = await crm.describe("contact")
        assert contact.collection == "contacts"
        assert contact.primary_key == "contactid"
        assert contact.change_tracking is True
        assert contact.version_field == "versionnumber"
        fields = contact.fields
        assert fields["parentcustomerid"].type is CrmType.LOOKUP
        assert fields["parentcustomerid"].wire_name == "_parentcustomerid_value"
        assert fields["birthdate"].type is CrmType.DATE
        assert fields["creditlimit"].type is CrmType.MONEY
        assert {o.label for o in fields["gendercode"].options} >= {"Male", "Female"}
        assert len(fields["donotemail"].options) == 2
        account = await crm.describe("account")
        assert ("accountnumber",) in account.alternate_keys


async def test_full_read_with_paging_and_formatted_values(
    server: BackgroundServer, tls: TlsFiles
) -> None:
    async with DataverseConnector(_config(server, tls)) as crm:
        fields = ["firstname", "lastname", "gendercode", "parentcustomerid", "donotemail"]
        pages = await _all(crm.read_all("contact", fields))
        records: list[Record] = [r for page in pages for r in page]
        assert len(pages) >= 3
        assert all(len(page) <= 50 for page in pages)
        assert len({r.id for r in records}) == len(records) >= CONTACTS
        assert all(isinstance(r.version, int) for r in records)
        with_gender = [r for r in records if r.values["gendercode"] is not None]
        assert with_gender
        assert all(r.formatted["gendercode"] in ("Male", "Female") for r in with_gender)
        assert all(r.formatted["donotemail"] for r in records if r.values["donotemail"] is not None)
        assert crm.counters.reads >= len(pages)


async def test_filtered_read(server: BackgroundServer, tls: TlsFiles) -> None:
    async with DataverseConnector(_config(server, tls)) as crm:
        everyone = [r for page in await _all(crm.read_all("contact", ["lastname"])) for r in page]
        name = everyone[0].values["lastname"]
        quoted = name.replace("'", "''")
        some = [
            r
            for page in await _all(
                crm.read_all("contact", ["lastname"], where=f"lastname eq '{quoted}'")
            )
            for r in page
        ]
        assert some
        assert all(r.values["lastname"].lower() == name.lower() for r in some)


async def test_change_tracking_rounds_see_the_connectors_own_writes(
    server: BackgroundServer, tls: TlsFiles
) -> None:
    async with DataverseConnector(_config(server, tls)) as crm:
        snapshot: list[ChangePage] = await _all(crm.track_changes("contact", ["firstname"], None))
        assert all(p.snapshot for p in snapshot)
        assert [p.cursor is not None for p in snapshot][-1] is True
        cursor = snapshot[-1].cursor
        known = [r.id for p in snapshot for r in p.records]
        new_id = str(uuid.uuid4())
        results = await crm.write(
            [
                WriteOp("create", "contact", {"firstname": "Delta", "lastname": "New"}, id=new_id),
                WriteOp("update", "contact", {"firstname": "Changed"}, id=known[0]),
                WriteOp("delete", "contact", id=known[1]),
            ]
        )
        assert [r.ok for r in results] == [True, True, True], results
        assert results[0].id == new_id
        delta: list[ChangePage] = await _all(crm.track_changes("contact", ["firstname"], cursor))
        assert not any(p.snapshot for p in delta)
        changed = {r.id: r.values["firstname"] for p in delta for r in p.records}
        assert changed == {new_id: "Delta", known[0]: "Changed"}
        assert [d.id for p in delta for d in p.deletions] == [known[1]]
        quiet: list[ChangePage] = await _all(crm.track_changes("contact", None, delta[-1].cursor))
        assert sum(len(p.records) + len(p.deletions) for p in quiet) == 0
        assert quiet[-1].cursor


async def test_batch_of_1000_upserts_by_alternate_key(
    server: BackgroundServer, tls: TlsFiles
) -> None:
    async with DataverseConnector(_config(server, tls)) as crm:
        ops = [
            WriteOp("upsert", "account", {"name": f"Batch {i}"}, key={"accountnumber": f"B-{i}"})
            for i in range(1000)
        ]
        results = await crm.write(ops)
        assert crm.counters.batches == 1
        assert all(r.ok for r in results), [r for r in results if not r.ok][:3]
        assert all(r.id for r in results)
        assert {r.created for r in results} <= {True, None}
        again = await crm.write(ops[:3])
        assert [r.id for r in again] == [r.id for r in results[:3]]
        assert {r.created for r in again} <= {False, None}


async def test_hostile_alternate_key_round_trip(server: BackgroundServer, tls: TlsFiles) -> None:
    hostile = "O'Brien & Sons/1 ? #%_) or 1 eq 1"
    async with DataverseConnector(_config(server, tls)) as crm:
        first = await crm.write(
            [WriteOp("upsert", "account", {"name": "Hostile"}, key={"accountnumber": hostile})]
        )
        assert first[0].ok, first
        second = await crm.write(
            [WriteOp("update", "account", {"name": "Hostile 2"}, key={"accountnumber": hostile})]
        )
        assert second[0].ok, second
        assert second[0].id == first[0].id


async def test_rejects_do_not_lose_good_records(server: BackgroundServer, tls: TlsFiles) -> None:
    async with DataverseConnector(_config(server, tls)) as crm:
        results = await crm.write(
            [
                WriteOp("create", "contact", {"lastname": "Good 1"}, ref="a"),
                WriteOp("update", "contact", {"lastname": "x"}, id=str(uuid.uuid4()), ref="b"),
                WriteOp("create", "contact", {"gendercode": 99, "lastname": "Bad"}, ref="c"),
                WriteOp("create", "contact", {"lastname": "Good 2"}, ref="d"),
            ]
        )
        assert [(r.ref, r.ok) for r in results] == [
            ("a", True),
            ("b", False),
            ("c", False),
            ("d", True),
        ]
        assert results[1].status == 404
        assert results[1].code
        assert results[2].status == 400
        assert results[2].message


async def test_batch_item_fault_is_retried_alone(
    server: BackgroundServer, tls: TlsFiles, faults: Any
) -> None:
    faults(kind="batch_item", status=503, batch_index=1)
    async with DataverseConnector(_config(server, tls)) as crm:
        results = await crm.write(
            [
                WriteOp("create", "contact", {"lastname": f"Item {i}"}, id=str(uuid.uuid4()))
                for i in range(3)
            ]
        )
        assert all(r.ok for r in results), results
        assert crm.counters.retries >= 1


@pytest.mark.parametrize("fault", [{"kind": "status", "status": 503}, {"kind": "drop"}])
async def test_server_errors_and_dropped_connections_are_retried(
    server: BackgroundServer, tls: TlsFiles, faults: Any, fault: dict[str, Any]
) -> None:
    async with DataverseConnector(_config(server, tls)) as crm:
        await crm.describe("contact")
        faults(path="/contacts", times=2, **fault)
        pages = await _all(crm.read_all("contact", ["firstname"]))
        assert sum(len(p) for p in pages) >= CONTACTS - 1
        assert crm.counters.retries == 2


async def test_429_pauses_the_connection(
    server: BackgroundServer, tls: TlsFiles, faults: Any
) -> None:
    async with DataverseConnector(_config(server, tls)) as crm:
        await crm.describe("contact")
        faults(kind="status", status=429, retry_after=1, path="/contacts")
        _control(server, tls, "DELETE", "requests")
        started = time.monotonic()
        pages = await _all(crm.read_all("contact", ["firstname"]))
        assert time.monotonic() - started >= 1.0
        assert pages
        assert crm.counters.throttled == 1
    # The emulator's request log: nothing was sent during the pause.
    throttled, *after = _control(server, tls, "GET", "requests")
    assert throttled["status"] == 429
    assert after
    assert after[0]["at"] - throttled["at"] >= 1.0
    assert [r["status"] for r in after] == [200] * len(after)


async def test_revoked_access_token_is_refreshed_once(
    server: BackgroundServer, tls: TlsFiles
) -> None:
    async with DataverseConnector(_config(server, tls)) as crm:
        await crm.describe("contact")
        _control(server, tls, "POST", "tokens/expire")
        pages = await _all(crm.read_all("contact", ["firstname"]))
        assert sum(len(p) for p in pages) >= CONTACTS - 1
        assert crm.counters.retries == 0


async def test_table_without_change_tracking(server: BackgroundServer, tls: TlsFiles) -> None:
    async with DataverseConnector(_config(server, tls)) as crm:
        with pytest.raises(ConfigurationError, match="crmsync_auditnote"):
            await _all(crm.track_changes("crmsync_auditnote", None, None))


async def test_wrong_secret_is_an_authentication_error(
    server: BackgroundServer, tls: TlsFiles
) -> None:
    wrong = "not-the-right-secret"
    config = _config(server, tls, client_secret_env="WRONG_SECRET")
    async with DataverseConnector(config, environ={"WRONG_SECRET": wrong}) as crm:
        with pytest.raises(AuthenticationError, match="client secret is wrong") as caught:
            await crm.list_tables()
    assert wrong not in str(caught.value)


async def test_authority_nobody_answers_is_an_authentication_error(
    server: BackgroundServer, tls: TlsFiles
) -> None:
    with socket.socket() as probe:  # a port nothing listens on once closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = _config(server, tls, authority=f"https://127.0.0.1:{port}/mytenant")
    async with DataverseConnector(config) as crm:
        with pytest.raises(AuthenticationError, match="cannot use the token authority"):
            await crm.list_tables()


async def test_expired_delta_token_and_access_token_resync(tls: TlsFiles) -> None:
    emulator = _emulator(seed_contacts=30, seed_accounts=3, change_tracking_retention_days=7)
    with BackgroundServer(emulator.app, tls=tls) as own:
        async with DataverseConnector(_config(own, tls)) as crm:
            first: list[ChangePage] = await _all(crm.track_changes("contact", None, None))
            cursor = first[-1].cursor
            emulator.clock.advance(8 * 86_400)  # past retention, and past the token's lifetime
            pages: list[ChangePage] = await _all(crm.track_changes("contact", None, cursor))
            assert pages
            assert all(p.snapshot for p in pages)
            assert sum(len(p.records) for p in pages) == 30
            assert pages[-1].cursor
    emulator.close()


def test_microsoft_sdk_signs_in_through_the_token_provider(
    server: BackgroundServer, tls: TlsFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    from PowerPlatform.Dataverse.client import DataverseClient as MicrosoftClient

    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls.ca))  # how that SDK is told to trust a CA
    provider = MsalTokenProvider(_config(server, tls))
    sdk = MicrosoftClient(server.url, provider)  # type: ignore[arg-type]
    try:
        record_id = sdk.records.create("account", {"name": "From the SDK"})
        assert sdk.records.retrieve("account", record_id)["name"] == "From the SDK"
    finally:
        sdk.close()
        provider.close()
