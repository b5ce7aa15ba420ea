"""Both emulators over HTTPS, their connectors, a Campaign store and a job runner."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from pydantic import SecretStr

from crmsync.config import Config
from crmsync.connectors.base import Connector
from crmsync.connectors.dataverse import DataverseConnectionConfig, DataverseConnector
from crmsync.connectors.salesforce import SalesforceConnectionConfig, SalesforceConnector
from crmsync.emulators.common.server import BackgroundServer
from crmsync.emulators.common.tls import TlsFiles, generate
from crmsync.emulators.dataverse.app import DataverseEmulator
from crmsync.emulators.dataverse.app import create_emulator as create_dataverse
from crmsync.emulators.dataverse.config import DataverseEmulatorSettings
from crmsync.emulators.salesforce.app import SalesforceEmulator
from crmsync.emulators.salesforce.app import create_emulator as create_salesforce
from crmsync.emulators.salesforce.config import SalesforceEmulatorSettings
from crmsync.jobs import ConnectorPool, JobRunner, JobStore, load_job_text
from crmsync.store import create_engine_for, publish

CLIENT_ID = "6f1c2d4e-0000-4000-8000-00000000j0b5"
SECRET = "jobs-emulator-secret"


@dataclass
class Crm:
    dialect: str
    emulator: Any
    server: BackgroundServer
    config: Any
    connection: str

    def connect(self) -> Connector:
        if self.dialect == "dataverse":
            return DataverseConnector(self.config)
        return SalesforceConnector(self.config)


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
            client_secret=SecretStr(SECRET),
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
            credentials={
                "flow": "client_credentials",
                "client_id": CLIENT_ID,
                "client_secret": SECRET,
            },
            ca_bundle=tls.ca,
            batch_size=200,
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


@dataclass
class Harness:
    crm: Crm
    store: JobStore
    campaign: sa.Engine
    now: datetime | None = None
    #: Wraps the connector of the next runs (e.g. to lose an answer).
    wrap: Any = None

    def runner(self) -> tuple[JobRunner, ConnectorPool]:
        connector = self.crm.connect()
        if self.wrap is not None:
            connector = self.wrap(connector)
        pool = ConnectorPool(
            Config(), connectors={self.crm.connection: (self.crm.dialect, connector)}
        )  # type: ignore[dict-item]
        clock = (lambda: self.now) if self.now is not None else self.crm.emulator.clock.now
        return JobRunner(self.store, self.campaign, pool, now=clock), pool

    async def run(self, text: str, **variables: str) -> str:
        job = load_job_text(text)
        runner, pool = self.runner()
        try:
            return await runner.run(job, text, variables=variables)
        finally:
            await pool.aclose()

    async def run_with_input(self, text: str, rows: list[dict[str, Any]]) -> str:
        """Run ``text`` with ``rows`` as the first step's input (as an earlier step would)."""
        from crmsync.jobs.store import dumps

        job = load_job_text(text)
        run_id = self.store.create_run(
            job.name, "<test>", text, dict(job.variables), job.first_step
        )
        steps = self.store.t.steps
        with self.store.engine.begin() as conn:
            conn.execute(steps.update().where(steps.c.run_id == run_id).values(input=dumps(rows)))
        return await self.resume(run_id)

    async def resume(self, run_id: str) -> str:
        runner, pool = self.runner()
        try:
            return await runner.resume(run_id)
        finally:
            await pool.aclose()

    async def write(self, ops: list[Any]) -> list[Any]:
        connector = self.crm.connect()
        try:
            return await connector.write(ops)
        finally:
            await connector.aclose()

    async def read(self, table: str, fields: list[str], where: str | None = None) -> list[Any]:
        connector = self.crm.connect()
        try:
            out = []
            async for page in connector.read_all(table, fields, where=where):
                out.extend(page)
            return out
        finally:
            await connector.aclose()


@pytest.fixture
def harness(crm: Crm, store: JobStore, campaign: sa.Engine) -> Harness:
    return Harness(crm, store, campaign)


CONTACT = {"dataverse": "contact", "salesforce": "Contact"}
LAST = {"dataverse": "lastname", "salesforce": "LastName"}
FIRST = {"dataverse": "firstname", "salesforce": "FirstName"}
EMAIL = {"dataverse": "emailaddress1", "salesforce": "Email"}
BIRTH = {"dataverse": "birthdate", "salesforce": "Birthdate"}
MODIFIED = {"dataverse": "modifiedon", "salesforce": "SystemModstamp"}
ID = {"dataverse": "contactid", "salesforce": "Id"}
