"""The shared connector conformance suite, run against each connector and its emulator.

Each emulator serves the module over HTTPS with its own CA; each connector signs in through the
emulator's token endpoint exactly as it would against the real service.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from conformance import ConnectorConformance, CrmUnderTest
from pydantic import SecretStr

from crmsync.connectors.dataverse import DataverseConnectionConfig, DataverseConnector
from crmsync.connectors.salesforce import SalesforceConnectionConfig, SalesforceConnector
from crmsync.emulators.common.server import BackgroundServer
from crmsync.emulators.common.tls import TlsFiles, generate
from crmsync.emulators.dataverse.app import create_emulator as create_dataverse
from crmsync.emulators.dataverse.config import DataverseEmulatorSettings
from crmsync.emulators.salesforce.app import create_emulator as create_salesforce
from crmsync.emulators.salesforce.config import SalesforceEmulatorSettings

CLIENT_ID = "6f1c2d4e-0000-4000-8000-00000000c0f0"
SECRET = "conformance-secret-value"
SECRET_ENV = "CRMSYNC_TEST_SECRET"
ENV = {SECRET_ENV: SECRET}


@pytest.fixture(autouse=True)
def _no_ca_override(monkeypatch: pytest.MonkeyPatch) -> None:
    # Connectors must trust the emulator's CA whatever the machine-wide bundle variables say.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return generate([]).write(tmp_path_factory.mktemp("tls"))


def _fault_control(server: BackgroundServer, tls: TlsFiles) -> Any:
    def post(**fault: Any) -> None:
        with httpx.Client(verify=ssl.create_default_context(cafile=str(tls.ca))) as http:
            http.post(f"{server.url}/_emulator/faults", json=fault).raise_for_status()

    return post


def _clear_faults(server: BackgroundServer, tls: TlsFiles) -> None:
    with httpx.Client(verify=ssl.create_default_context(cafile=str(tls.ca))) as http:
        http.delete(f"{server.url}/_emulator/faults").raise_for_status()


@pytest.fixture(scope="module")
def dataverse_server(tls: TlsFiles) -> Iterator[BackgroundServer]:
    emulator = create_dataverse(
        DataverseEmulatorSettings(
            client_id=CLIENT_ID,
            client_secret=SecretStr(SECRET),
            seed_contacts=120,
            seed_accounts=5,
        )
    )
    with BackgroundServer(emulator.app, tls=tls) as running:
        yield running
    emulator.close()


@pytest.fixture(scope="module")
def salesforce_server(tls: TlsFiles) -> Iterator[BackgroundServer]:
    emulator = create_salesforce(
        SalesforceEmulatorSettings(
            client_id=CLIENT_ID,
            client_secret=SecretStr(SECRET),
            seed_contacts=450,
            seed_accounts=5,
        )
    )
    with BackgroundServer(emulator.app, tls=tls) as running:
        yield running
    emulator.close()


class TestDataverseConformance(ConnectorConformance):
    @pytest.fixture
    def crm(self, dataverse_server: BackgroundServer, tls: TlsFiles) -> Iterator[CrmUnderTest]:
        server = dataverse_server
        config = DataverseConnectionConfig(
            url=server.url,
            tenant_id="conformance",
            authority=f"{server.url}/conformance",
            client_id=CLIENT_ID,
            client_secret_env=SECRET_ENV,
            ca_bundle=tls.ca,
            page_size=50,
            backoff_initial_seconds=0.05,
            backoff_max_seconds=0.2,
        )
        yield CrmUnderTest(
            name="dataverse",
            connect=lambda **kw: DataverseConnector(config, environ=ENV, **kw),
            table="contact",
            text_field="lastname",
            valid=lambda text: {"lastname": text, "firstname": "Conformance"},
            invalid={"lastname": "Bad option", "gendercode": 99},
            page_size=50,
            key_table="account",
            key_field="accountnumber",
            key_valid=lambda text: {"name": text},
            read_path="/contacts",
            fault=_fault_control(server, tls),
            ca=tls.ca,
            create_path="/contacts$",
        )
        _clear_faults(server, tls)


class TestSalesforceConformance(ConnectorConformance):
    @pytest.fixture
    def crm(self, salesforce_server: BackgroundServer, tls: TlsFiles) -> Iterator[CrmUnderTest]:
        server = salesforce_server
        config = SalesforceConnectionConfig(
            url=server.url,
            client_id=CLIENT_ID,
            client_secret_env=SECRET_ENV,
            ca_bundle=tls.ca,
            page_size=200,
            backoff_initial_seconds=0.05,
            backoff_max_seconds=0.2,
        )
        yield CrmUnderTest(
            name="salesforce",
            connect=lambda **kw: SalesforceConnector(config, environ=ENV, **kw),
            table="Contact",
            text_field="LastName",
            valid=lambda text: {"LastName": text, "FirstName": "Conformance"},
            invalid={"FirstName": "No last name"},
            page_size=200,
            key_table="Contact",
            key_field="Customer_Number__c",
            key_valid=lambda text: {"LastName": text},
            read_path="/query",
            fault=_fault_control(server, tls),
            ca=tls.ca,
            create_path="/sobjects/Contact/?$",
        )
        _clear_faults(server, tls)
