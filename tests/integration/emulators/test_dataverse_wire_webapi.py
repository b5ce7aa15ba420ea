"""The Dataverse Web API over real HTTP(S): the emulator under uvicorn, clients in this process.

Covers reads (select, filter, order, paging, count, formatted values), change tracking, writes
(create, update, upsert, alternate keys, delete, validation), ``$batch``, metadata, and
Microsoft's own Python SDK (``PowerPlatform-Dataverse-Client``) doing create/get/list/update/delete.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import orjson
import pytest

from crmsync.emulators.common.server import BackgroundServer
from crmsync.emulators.common.tls import TlsFiles, generate
from crmsync.emulators.dataverse.app import DataverseEmulator, create_emulator
from crmsync.emulators.dataverse.config import DataverseEmulatorSettings
from crmsync.odata.batch import (
    BatchRequest,
    ChangeSet,
    ChangeSetResponse,
    decode_responses,
    encode_requests,
)

API = "/api/data/v9.2"


@dataclass
class Running:
    emulator: DataverseEmulator
    url: str
    client: httpx.Client
    tls: TlsFiles


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    tls = generate([]).write(tmp_path_factory.mktemp("tls"))
    settings = DataverseEmulatorSettings(seed_contacts=150, seed_accounts=10)
    emulator = create_emulator(settings)
    token, _ = emulator.tokens.issue("wire-tests")
    with BackgroundServer(emulator.app, tls=tls) as server:
        headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/json",
            "OData-MaxVersion": "4.0",
            "OData-Version": "4.0",
        }
        with httpx.Client(
            base_url=f"{server.url}{API}/",
            headers=headers,
            verify=ssl.create_default_context(cafile=tls.ca),
        ) as client:
            yield Running(emulator, server.url, client, tls)
    emulator.close()


def test_unauthenticated_requests_are_refused(running: Running) -> None:
    answer = httpx.get(
        f"{running.url}{API}/contacts", verify=ssl.create_default_context(cafile=running.tls.ca)
    )
    assert answer.status_code == 401


def test_paged_read_with_filter_order_and_count(running: Running) -> None:
    prefer = {"Prefer": "odata.maxpagesize=20"}
    url: str | None = (
        "contacts?$select=fullname,gendercode&$filter=gendercode eq 2&$orderby=fullname&$count=true"
    )
    rows: list[dict] = []
    count = None
    while url:
        answer = running.client.get(url, headers=prefer)
        assert answer.status_code == 200
        assert answer.headers["OData-Version"] == "4.0"
        body = answer.json()
        count = body["@odata.count"]
        rows += body["value"]
        url = body.get("@odata.nextLink")
    assert len(rows) == count
    assert all(r["gendercode"] == 2 for r in rows)
    names = [r["fullname"].lower() for r in rows]
    assert names == sorted(names)
    assert running.client.get("contacts/$count").text == "150"


def test_formatted_values_over_the_wire(running: Running) -> None:
    answer = running.client.get(
        "contacts?$select=gendercode,creditlimit&$filter=creditlimit ne null&$top=5",
        headers={"Prefer": 'odata.include-annotations="OData.Community.Display.V1.FormattedValue"'},
    )
    for row in answer.json()["value"]:
        assert row["creditlimit@OData.Community.Display.V1.FormattedValue"].startswith("$")


def test_change_tracking_round(running: Running) -> None:
    track = {"Prefer": "odata.track-changes,odata.maxpagesize=25"}
    url = "accounts?$select=name"
    while True:
        body = running.client.get(url, headers=track).json()
        if "@odata.deltaLink" in body:
            break
        url = body["@odata.nextLink"]
    delta = body["@odata.deltaLink"]
    created = running.client.post("accounts", json={"name": "Tracked", "accountnumber": "TRK-1"})
    new_id = created.headers["OData-EntityId"].rsplit("(", 1)[1][:-1]
    changes = running.client.get(delta, headers=track).json()
    assert [c["accountid"] for c in changes["value"]] == [new_id]
    assert changes["@odata.context"].endswith("/$delta")
    running.client.delete(f"accounts({new_id})")
    gone = running.client.get(changes["@odata.deltaLink"], headers=track).json()["value"]
    assert gone == [
        {
            "@odata.context": f"{running.url}{API}/$metadata#accounts/$deletedEntity",
            "id": new_id,
            "reason": "deleted",
        }
    ]


def test_writes_and_errors(running: Running) -> None:
    client = running.client
    answer = client.post(
        "contacts",
        json={"firstname": "Wire", "lastname": "Test"},
        headers={"Prefer": "return=representation"},
    )
    assert answer.status_code == 201
    record = answer.json()
    record_id = record["contactid"]
    assert (
        client.patch(
            f"contacts({record_id})",
            json={"jobtitle": "Tester"},
            headers={"If-Match": record["@odata.etag"]},
        ).status_code
        == 204
    )
    assert (
        client.patch(
            f"contacts({record_id})",
            json={"jobtitle": "Stale"},
            headers={"If-Match": record["@odata.etag"]},
        ).status_code
        == 412
    )
    assert (
        client.patch("accounts(accountnumber='WIRE-1')", json={"name": "Wire"}).status_code == 204
    )
    assert client.get("accounts(accountnumber='WIRE-1')").json()["name"] == "Wire"
    bad = client.post("contacts", json={"nosuch": 1})
    assert bad.status_code == 400
    assert bad.headers["content-type"] == "application/json; odata.metadata=minimal"
    assert bad.json()["error"]["code"] == "0x80048d19"
    assert client.get("nosuchset").status_code == 404
    assert client.delete(f"contacts({record_id})").status_code == 204
    assert client.delete(f"contacts({record_id})").status_code == 404


def test_batch_over_the_wire(running: Running) -> None:
    entry = {"Content-Type": "application/json; type=entry"}
    body, content_type = encode_requests(
        [
            ChangeSet(
                [
                    BatchRequest(
                        "POST", f"{running.url}{API}/accounts", entry, b'{"name":"Batch Co"}', "1"
                    ),
                    BatchRequest(
                        "POST",
                        "contacts",
                        entry,
                        b'{"lastname":"Batch","parentcustomerid_account@odata.bind":"$1"}',
                        "2",
                    ),
                ]
            ),
            BatchRequest(
                "GET", f"{API}/accounts?$select=name&$filter=name%20eq%20'Batch%20Co'", {}
            ),
        ]
    )
    answer = running.client.post("$batch", content=body, headers={"Content-Type": content_type})
    assert answer.status_code == 200
    change_set, read = decode_responses(answer.content, answer.headers["content-type"])
    assert isinstance(change_set, ChangeSetResponse)
    assert [r.status for r in change_set.responses] == [204, 204]
    assert len(orjson.loads(read.body)["value"]) == 1  # type: ignore[union-attr]


def test_metadata_over_the_wire(running: Running) -> None:
    body = running.client.get(
        "EntityDefinitions(LogicalName='crmsync_subscription')",
        params={"$select": "EntitySetName,ChangeTrackingEnabled", "$expand": "Keys"},
    ).json()
    assert body["EntitySetName"] == "crmsync_subscriptions"
    assert body["Keys"][0]["KeyAttributes"] == ["crmsync_externalkey"]
    assert running.client.get("$metadata").content.startswith(b"<?xml")


def test_control_operations(running: Running) -> None:
    record = running.client.get("contacts?$top=1&$select=fullname").json()["value"][0]
    answer = httpx.post(
        f"{running.url}/_emulator/system-change",
        json={"table": "contact", "id": record["contactid"]},
        verify=ssl.create_default_context(cafile=running.tls.ca),
    )
    assert answer.status_code == 200
    after = running.client.get(f"contacts({record['contactid']})?$select=fullname").json()
    assert after["@odata.etag"] != record["@odata.etag"]
    assert after["fullname"] == record["fullname"]


def test_microsoft_python_sdk(running: Running, monkeypatch: pytest.MonkeyPatch) -> None:
    from PowerPlatform.Dataverse.client import DataverseClient

    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(running.tls.ca))
    token, _ = running.emulator.tokens.issue("sdk")

    @dataclass
    class _Token:
        token: str
        expires_on: int = 2**31

    class _Credential:
        def get_token(self, *scopes: str, **_: object) -> _Token:
            return _Token(token)

    client = DataverseClient(running.url, _Credential())  # type: ignore[arg-type]
    record_id = client.records.create("contact", {"firstname": "Sdk", "lastname": "User"})
    assert (
        client.records.retrieve("contact", record_id, select=["fullname"])["fullname"] == "Sdk User"
    )
    client.records.update("contact", record_id, {"jobtitle": "Pilot"})
    found = client.records.list(
        "contact", filter="jobtitle eq 'Pilot'", select=["fullname"], page_size=50
    )
    assert [r["fullname"] for r in found] == ["Sdk User"]
    pages = list(client.records.list_pages("contact", select=["fullname"], page_size=40))
    assert len(pages) >= 4
    client.records.delete("contact", record_id)
    assert running.client.get(f"contacts({record_id})").status_code == 404
