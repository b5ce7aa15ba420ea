"""Third-party clients against the Dataverse emulator over HTTPS, exactly as against the service.

- plain ``requests``, following the documented protocol by hand: a client-credentials token from
  the identity platform, paged reads following ``@odata.nextLink``, create (``OData-EntityId``),
  upsert by alternate key, update with ``If-Match``, delete, and the error shapes;
- Microsoft's SDK (``PowerPlatform-Dataverse-Client``) signing in through azure-identity's own
  ``ClientSecretCredential`` pointed at the emulator's authority.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests

from crmsync.emulators.common.server import BackgroundServer
from crmsync.emulators.common.tls import TlsFiles, generate
from crmsync.emulators.dataverse.app import create_emulator
from crmsync.emulators.dataverse.config import DataverseEmulatorSettings

TENANT = "contoso-tenant"
GUID = re.compile(r"\(([0-9a-f-]{36})\)$")


@dataclass
class Emulator:
    url: str
    tls: TlsFiles


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    tls = generate(["127.0.0.1"]).write(tmp_path_factory.mktemp("tls"))
    running = create_emulator(DataverseEmulatorSettings(seed_contacts=23, seed_accounts=4))
    try:
        with BackgroundServer(running.app, tls=tls) as server:
            yield Emulator(server.url, tls)
    finally:
        running.close()


@pytest.fixture
def session(emulator: Emulator) -> Iterator[requests.Session]:
    """A requests session with a bearer token obtained the documented way."""
    with requests.Session() as http:
        http.verify = str(emulator.tls.ca)
        http.trust_env = False  # this machine's REQUESTS_CA_BUNDLE must not replace our CA
        answer = http.post(
            f"{emulator.url}/{TENANT}/oauth2/v2.0/token",
            data={
                "grant_type": "client_credentials",
                "client_id": "requests-client",
                "client_secret": "any",
                "scope": f"{emulator.url}/.default",
            },
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
        token = answer.json()
        assert token["token_type"] == "Bearer"
        assert token["expires_in"] > 0
        http.headers.update(
            {
                "Authorization": f"Bearer {token['access_token']}",
                "Accept": "application/json",
                "OData-MaxVersion": "4.0",
                "OData-Version": "4.0",
            }
        )
        yield http


def test_requests_paged_read_follows_next_links(emulator: Emulator, session: requests.Session):
    url: str | None = f"{emulator.url}/api/data/v9.2/contacts?$select=fullname"
    seen: list[str] = []
    pages = 0
    while url:
        answer = session.get(url, headers={"Prefer": "odata.maxpagesize=10"}, timeout=10)
        assert answer.status_code == 200
        assert answer.headers["Preference-Applied"] == "odata.maxpagesize=10"
        body = answer.json()
        seen.extend(row["contactid"] for row in body["value"])
        assert all(row["@odata.etag"].startswith('W/"') for row in body["value"])
        url = body.get("@odata.nextLink")
        pages += 1
    assert pages == 3
    assert len(seen) == len(set(seen)) == 23


def test_requests_writes_round_trip(emulator: Emulator, session: requests.Session) -> None:
    api = f"{emulator.url}/api/data/v9.2"
    created = session.post(
        f"{api}/accounts",
        json={"name": "Fabrikam", "accountnumber": "FAB-1"},
        timeout=10,
    )
    assert created.status_code == 204
    match = GUID.search(created.headers["OData-EntityId"])
    assert match is not None
    account_id = match.group(1)

    # Upsert by alternate key (no If-Match): updates the record created above.
    upserted = session.patch(
        f"{api}/accounts(accountnumber='FAB-1')", json={"name": "Fabrikam Inc."}, timeout=10
    )
    assert upserted.status_code == 204
    read = session.get(f"{api}/accounts({account_id})?$select=name", timeout=10).json()
    assert read["name"] == "Fabrikam Inc."

    # Update with If-Match: * never creates.
    missing = session.patch(
        f"{api}/accounts(00000000-0000-0000-0000-000000000001)",
        json={"name": "nobody"},
        headers={"If-Match": "*"},
        timeout=10,
    )
    assert missing.status_code == 404
    assert set(missing.json()["error"]) >= {"code", "message"}

    assert session.delete(f"{api}/accounts({account_id})", timeout=10).status_code == 204
    assert session.get(f"{api}/accounts({account_id})", timeout=10).status_code == 404


def test_requests_without_token_is_refused(emulator: Emulator) -> None:
    with requests.Session() as http:
        http.verify = str(emulator.tls.ca)
        http.trust_env = False
        answer = http.get(f"{emulator.url}/api/data/v9.2/contacts", timeout=10)
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")


def test_microsoft_sdk_with_azure_identity(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    from azure.identity import ClientSecretCredential
    from PowerPlatform.Dataverse.client import DataverseClient

    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(emulator.tls.ca))  # how the SDK trusts a CA
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    credential = ClientSecretCredential(
        TENANT,
        "sdk-client",
        "sdk-secret",
        authority=emulator.url.removeprefix("https://"),
        disable_instance_discovery=True,
        connection_verify=str(emulator.tls.ca),
    )
    with DataverseClient(emulator.url, credential) as client:
        record_id = client.records.create("account", {"name": "Contoso"})
        assert client.records.retrieve("account", record_id)["name"] == "Contoso"
        client.records.update("account", record_id, {"name": "Contoso Ltd"})
        assert client.records.retrieve("account", record_id)["name"] == "Contoso Ltd"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # the SDK's own paging helper
            pages = list(client.records.get("contact", select=["firstname"], page_size=10))
        assert [len(page) for page in pages] == [10, 10, 3]
        client.records.delete("account", record_id)
    credential.close()
