"""Both emulators over HTTPS, their connectors, a Campaign store and a job runner."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from jobs_support import CLIENT_ID, SECRET, SECRET_ENV, Crm, Harness
from pydantic import SecretStr

from crmsync.connectors.dataverse import DataverseConnectionConfig
from crmsync.connectors.salesforce import SalesforceConnectionConfig
from crmsync.emulators.common.server import BackgroundServer
from crmsync.emulators.common.tls import TlsFiles, generate
from crmsync.emulators.dataverse.app import DataverseEmulator
from crmsync.emulators.dataverse.app import create_emulator as create_dataverse
from crmsync.emulators.dataverse.config import DataverseEmulatorSettings
from crmsync.emulators.salesforce.app import SalesforceEmulator
from crmsync.emulators.salesforce.app import create_emulator as create_salesforce
from crmsync.emulators.salesforce.config import SalesforceEmulatorSettings
from crmsync.jobs import JobStore
from crmsync.store import create_engine_for, publish


@pytest.fixture(autouse=True)
def _no_ca_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return generate([]).write(tmp_path_factory.mktemp("jobs-tls"))


@pytest.fixture(scope="session")
def dataverse(tls: TlsFiles) -> Iterator[Crm]:
    emulator: DataverseEmulator = create_dataverse(
        DataverseEmulatorSettings(
            client_id=CLIENT_ID, client_secret=SecretStr(SECRET), seed_contacts=0, seed_accounts=0
        )
    )
    with BackgroundServer(emulator.app, tls=tls) as server:
        config = DataverseConnectionConfig(
            url=server.url,
            tenant_id="jobs",
            authority=f"{server.url}/jobs",
            client_id=CLIENT_ID,
            client_secret_env=SECRET_ENV,
            ca_bundle=tls.ca,
            backoff_initial_seconds=0.05,
            backoff_max_seconds=0.2,
        )
        yield Crm("dataverse", emulator, server, config, "dyn")
    emulator.close()


@pytest.fixture(scope="session")
def salesforce(tls: TlsFiles) -> Iterator[Crm]:
    emulator: SalesforceEmulator = create_salesforce(
        SalesforceEmulatorSettings(
            client_id=CLIENT_ID, client_secret=SecretStr(SECRET), seed_contacts=0, seed_accounts=0
        )
    )
    with BackgroundServer(emulator.app, tls=tls) as server:
        config = SalesforceConnectionConfig(
            url=server.url,
            client_id=CLIENT_ID,
            client_secret_env=SECRET_ENV,
            ca_bundle=tls.ca,
            page_size=200,
            backoff_initial_seconds=0.05,
            backoff_max_seconds=0.2,
        )
        yield Crm("salesforce", emulator, server, config, "sf")
    emulator.close()


@pytest.fixture(params=["dataverse", "salesforce"])
def crm(request: pytest.FixtureRequest) -> Crm:
    return request.getfixturevalue(request.param)  # type: ignore[no-any-return]


@pytest.fixture
def campaign(tmp_path: Path) -> Iterator[sa.Engine]:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'campaign.db'}")
    publish(engine, [])
    yield engine
    engine.dispose()


@pytest.fixture
def store(campaign: sa.Engine) -> JobStore:
    return JobStore(campaign)


@pytest.fixture
def harness(crm: Crm, store: JobStore, campaign: sa.Engine) -> Harness:
    return Harness(crm, store, campaign)
