"""Connection settings written in the configuration file reach the connectors, over HTTPS against
both emulators: certificate sign-in to Dataverse and the username-password flow to Salesforce run
the inbound workflow on both Campaign stores; page sizes, batch sizes and timeouts show in what
the emulators see."""

from __future__ import annotations

import re
import ssl
from pathlib import Path
from typing import Any

import httpx
import pytest
from inbound_salesforce_support import config_text as sf_config_text
from inbound_salesforce_support import contacts_mapping, running_salesforce
from inbound_support import ENV, NAMES_MAPPING, run_once, running_crm, store_rows
from inbound_support import config_text as dv_config_text
from pydantic import SecretStr

from crmsync.config import load_config
from crmsync.config.models import Config
from crmsync.connectors.base import WriteOp
from crmsync.emulators.common.faults import Fault
from crmsync.emulators.common.tls import ApplicationCertificate, TlsFiles, generate
from crmsync.errors import AuthenticationError, TransientError
from crmsync.runtime.connectors import open_connector

KEY_PASSWORD = "key-password-1"
SF_USER = "integration@acme.example"
SF_PASSWORD = "sf-password-1"
SF_TOKEN = "SECURITYTOKEN1"

#: Certificate sign-in, every file named relative to the configuration file.
CERTIFICATE = (
    "    certificate_file: certs/app.pem",
    "    private_key_file: certs/app-key.pem",
    "    private_key_password_file: certs/key-password",
)
#: The username-password flow, the connected app's secret from the environment.
PASSWORD_FLOW = (
    "    client_secret_env: CRMSYNC_TEST_SECRET",
    "    flow: password",
    f"    username: {SF_USER}",
    "    password_file: secrets/password",
    "    security_token_file: secrets/token",
)
DV_PAGES = r"^/api/data/v9\.2/contacts$"
SF_PAGES = r"/query(All)?/"


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return generate([]).write(tmp_path_factory.mktemp("tls"))


def _load(folder: Path, text: str) -> Config:
    """``text`` as the file ``folder/crmsync.yaml``, loaded as a command loads it."""
    path = folder / "crmsync.yaml"
    path.write_text(text, encoding="utf-8")
    return load_config(path, environ=ENV)


def _secret_file(path: Path, value: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(value + "\n", encoding="utf-8")


def _requests(crm: Any, pattern: str, method: str = "GET") -> list[dict[str, Any]]:
    """The requests of the emulator's log whose path matches ``pattern``."""
    with httpx.Client(verify=ssl.create_default_context(cafile=crm.tls.ca)) as client:
        answer = client.get(f"{crm.url}/_emulator/requests")
    answer.raise_for_status()
    return [r for r in answer.json() if r["method"] == method and re.search(pattern, r["path"])]


def _with(text: str, *lines: str) -> str:
    """``text`` with ``lines`` added to its connection (after its CA bundle)."""
    head, ca, rest = text.partition("\n    ca_bundle: ")
    end = rest.index("\n")
    return head + ca + rest[:end] + "".join(f"\n{line}" for line in lines) + rest[end:]


async def test_certificate_sign_in_from_the_file_runs_inbound(
    tls: TlsFiles, tmp_path: Path, store_location: tuple[str, str | None]
) -> None:
    app = ApplicationCertificate.create("crmsync", password=KEY_PASSWORD.encode())
    certificate, _ = app.write(tmp_path / "certs")
    _secret_file(tmp_path / "certs" / "key-password", KEY_PASSWORD)
    store_url, pg_schema = store_location
    with running_crm(tls, contacts=6, accounts=1, client_certificate=certificate) as crm:
        text = dv_config_text(
            crm.url,
            tls.ca,
            tmp_path,
            NAMES_MAPPING,
            credential=CERTIFICATE,
            store_url=store_url,
            pg_schema=pg_schema,
        )
        config = _load(tmp_path, text)
        await run_once(config)
    assert len(store_rows(config, "profile", "external_id")) == 6


async def test_a_certificate_not_registered_on_the_application_is_refused(
    tls: TlsFiles, tmp_path: Path
) -> None:
    registered, _ = ApplicationCertificate.create("registered").write(tmp_path / "registered")
    ApplicationCertificate.create("another", password=KEY_PASSWORD.encode()).write(
        tmp_path / "certs"
    )
    _secret_file(tmp_path / "certs" / "key-password", KEY_PASSWORD)
    with running_crm(tls, contacts=1, accounts=0, client_certificate=registered) as crm:
        text = dv_config_text(crm.url, tls.ca, tmp_path, NAMES_MAPPING, credential=CERTIFICATE)
        config = _load(tmp_path, text)
        connector = open_connector("dynamics", config.connections["dynamics"], ENV)
        try:
            with pytest.raises(AuthenticationError, match=r"certificate was refused"):
                await connector.list_tables()
        finally:
            await connector.aclose()


async def test_password_flow_from_the_file_runs_inbound(
    tls: TlsFiles, tmp_path: Path, store_location: tuple[str, str | None]
) -> None:
    _secret_file(tmp_path / "secrets" / "password", SF_PASSWORD)
    _secret_file(tmp_path / "secrets" / "token", SF_TOKEN)
    store_url, pg_schema = store_location
    user = {"username": SF_USER, "password": SecretStr(SF_PASSWORD)}
    with running_salesforce(tls, contacts=5, security_token=SecretStr(SF_TOKEN), **user) as crm:
        text = sf_config_text(
            crm.url,
            tls.ca,
            tmp_path,
            contacts_mapping(),
            credential=PASSWORD_FLOW,
            store_url=store_url,
            pg_schema=pg_schema,
        )
        config = _load(tmp_path, text)
        await run_once(config)
        assert len(store_rows(config, "profile", "external_id")) == 5

        _secret_file(tmp_path / "secrets" / "token", "NOT-THE-TOKEN")
        connector = open_connector("org", _load(tmp_path, text).connections["org"], ENV)
        try:
            with pytest.raises(AuthenticationError, match="authentication failure"):
                await connector.list_tables()
        finally:
            await connector.aclose()


#: Per CRM: how its emulator runs with 10 or 450 contacts, its configuration, its connection's
#: name, its contact table and key, the page sizes set, the pages read, its page and batch paths.
SIZES: dict[str, tuple[Any, ...]] = {
    "dataverse": (
        lambda tls: running_crm(tls, contacts=10, accounts=0),
        lambda crm, folder: dv_config_text(crm.url, crm.tls.ca, folder, NAMES_MAPPING),
        "dynamics",
        ("contact", "contactid", "account", "name"),
        4,
        [4, 4, 2],
        (DV_PAGES, r"/\$batch$"),
    ),
    "salesforce": (
        lambda tls: running_salesforce(tls, contacts=450),
        lambda crm, folder: sf_config_text(crm.url, crm.tls.ca, folder, contacts_mapping()),
        "org",
        ("Contact", "Id", "Account", "Name"),
        200,
        [200, 200, 50],
        (SF_PAGES, r"/composite/sobjects$"),
    ),
}


@pytest.mark.parametrize("kind", sorted(SIZES))
async def test_page_and_batch_sizes_from_the_file(tls: TlsFiles, tmp_path: Path, kind: str) -> None:
    running, config_text, name, tables, page_size, pages_read, paths = SIZES[kind]
    contacts, key, accounts, account_name = tables
    with running(tls) as crm:
        text = _with(config_text(crm, tmp_path), f"    page_size: {page_size}", "    batch_size: 2")
        connector = open_connector(name, _load(tmp_path, text).connections[name], ENV)
        try:
            pages = [page async for page in connector.read_all(contacts, [key])]
            assert [len(page) for page in pages] == pages_read
            assert len(_requests(crm, paths[0])) == len(pages_read)
            ops = [WriteOp("create", accounts, {account_name: f"Account {n}"}) for n in range(5)]
            assert all(result.ok for result in await connector.write(ops))
        finally:
            await connector.aclose()
        assert len(_requests(crm, paths[1], "POST")) == 3  # 2 + 2 + 1


async def test_the_timeout_from_the_file_bounds_each_answer(tls: TlsFiles, tmp_path: Path) -> None:
    with running_crm(tls, contacts=2, accounts=0) as crm:
        text = dv_config_text(crm.url, tls.ca, tmp_path, NAMES_MAPPING)
        config = _load(tmp_path, _with(text, "    timeout_seconds: 0.5", "    max_retries: 0"))
        connector = open_connector("dynamics", config.connections["dynamics"], ENV)
        try:
            await connector.describe("contact")
            crm.emulator.faults.add(Fault("slow", delay_seconds=3, path="contacts$"))
            with pytest.raises(TransientError):
                [page async for page in connector.read_all("contact", ["contactid"])]
        finally:
            await connector.aclose()
