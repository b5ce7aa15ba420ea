"""An API over a supervisor of fake workflows, and users of each role with their tokens."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import sqlalchemy as sa
from argon2 import PasswordHasher
from fastapi import FastAPI

from crmsync.api import create_app
from crmsync.api.auth import LoginLimiter
from crmsync.api.users import Role, UserStore
from crmsync.config.models import Config
from crmsync.connectors.base import (
    ChangePage,
    Connector,
    CrmType,
    FieldInfo,
    Option,
    Record,
    TableInfo,
    WriteOp,
    WriteResult,
)
from crmsync.connectors.dataverse import DataverseConnectionConfig
from crmsync.connectors.salesforce import SalesforceConnectionConfig
from crmsync.errors import ConfigurationError, TransientError
from crmsync.jobs import ConnectorPool
from crmsync.workflows.supervisor import Supervisor, WorkflowSpec

ENV = {"CRMSYNC_TEST_SECRET": "s3cret"}
PASSWORD = "correct horse battery"

MAPPING = {
    "name": "contacts",
    "connection": "dynamics",
    "crm_table": "contact",
    "resource": "profile",
    "primary_key": {"campaign": "external_id"},
    "fields": [{"crm": "firstname", "campaign": "first_name"}],
}
#: A second mapping the configuration accepts (a table of its own, a resource of its own).
LEADS = (
    MAPPING
    | {"name": "leads", "crm_table": "lead", "resource": "lead"}
    | {"primary_key": {"campaign": "crm_id"}}
)


def config_text(folder: Path) -> str:
    return f"""version: 1
connections:
  dynamics:
    kind: dataverse
    url: https://127.0.0.1:9
    authority: https://127.0.0.1:9/tenant
    client_id: 6f1c2d4e-0000-4000-8000-0000000000a1
    client_secret_env: CRMSYNC_TEST_SECRET
store:
  url: sqlite:///{folder / "store.db"}
queue:
  kind: sqlite
  path: {folder / "queue.db"}
resources:
  - name: lead
    identifier: crm_id
    fields:
      - {{name: crm_id, type: string, length: 36}}
      - {{name: first_name, type: string, length: 100}}
      - {{name: last_name, type: string, length: 100}}
inbound:
  mappings:
    - name: contacts
      connection: dynamics
      crm_table: contact
      resource: profile
      primary_key: {{campaign: external_id}}
      fields:
        - {{crm: firstname, campaign: first_name}}
"""


async def _run(
    _config: Config, stop: asyncio.Event, started: Callable[[], Awaitable[None]]
) -> Mapping[str, int]:
    await started()
    await stop.wait()
    return {"written": 1}


async def _backlog(_config: Config) -> int:
    return 5


def _table(name: str, *, tracked: bool, fields: Sequence[FieldInfo]) -> TableInfo:
    key = f"{name}id"
    every = (FieldInfo(key, CrmType.UNIQUEIDENTIFIER, label="Id", read_only=True), *fields)
    return TableInfo(
        name=name,
        collection=f"{name}s",
        primary_key=key,
        primary_name="fullname",
        change_tracking=tracked,
        fields={f.name: f for f in every},
        alternate_keys=(("emailaddress1",),),
        label=name.title(),
    )


#: What the fake CRM holds: a tracked ``contact`` with a picklist, an untracked ``lead``.
CRM_TABLES = {
    "contact": _table(
        "contact",
        tracked=True,
        fields=[
            FieldInfo("firstname", CrmType.STRING, label="First Name"),
            FieldInfo("lastname", CrmType.STRING, label="Last Name", required=True),
            FieldInfo("emailaddress1", CrmType.STRING, label="Email"),
            FieldInfo("donotemail", CrmType.BOOLEAN, label="Do not allow Emails"),
            FieldInfo("donotphone", CrmType.BOOLEAN, label="Do not allow Phone Calls"),
            FieldInfo(
                "gendercode",
                CrmType.PICKLIST,
                label="Gender",
                options=(Option(1, "Male"), Option(2, "Female")),
            ),
        ],
    ),
    "lead": _table(
        "lead",
        tracked=False,
        fields=[
            FieldInfo("subject", CrmType.STRING),
            FieldInfo("firstname", CrmType.STRING),
            FieldInfo("lastname", CrmType.STRING),
        ],
    ),
}


CRM_RECORDS = {
    "contact": [
        {"contactid": "00000000-0000-0000-0000-000000000001", "lastname": "Curie"},
        {"contactid": "00000000-0000-0000-0000-000000000002", "lastname": "Noether"},
    ]
}


@dataclass
class FakeCrm:
    """Opens connectors over :data:`CRM_TABLES`; ``down`` makes every call fail; a ``gate``
    holds every description until it is set (``asked`` is set once one waits there)."""

    down: bool = False
    opened: int = 0
    closed: int = 0
    describes: list[str] = field(default_factory=list)
    gate: asyncio.Event | None = None
    asked: asyncio.Event = field(default_factory=asyncio.Event)

    def open(
        self,
        _name: str,
        _connection: DataverseConnectionConfig | SalesforceConnectionConfig,
        _environ: Mapping[str, str] | None,
    ) -> Connector:
        return self.connector()

    def connector(self) -> Connector:
        self.opened += 1
        return _FakeConnector(self)


class _FakeConnector:
    def __init__(self, crm: FakeCrm) -> None:
        self.crm = crm

    def _check(self) -> None:
        if self.crm.down:
            raise TransientError("the CRM answered 503 Service Unavailable", status=503)

    async def list_tables(self) -> list[str]:
        self._check()
        return sorted(CRM_TABLES)

    async def describe(self, table: str) -> TableInfo:
        self._check()
        self.crm.describes.append(table)
        if self.crm.gate is not None:
            self.crm.asked.set()
            await self.crm.gate.wait()
        if table not in CRM_TABLES:
            raise ConfigurationError(f"table {table!r} does not exist", status=404, table=table)
        return CRM_TABLES[table]

    async def read_all(
        self, table: str, fields: Sequence[str] | None = None, *, where: str | None = None
    ) -> AsyncIterator[list[Record]]:
        self._check()
        yield [Record(r["contactid"], r) for r in CRM_RECORDS.get(table, [])]

    def track_changes(
        self,
        table: str,
        fields: Sequence[str] | None,
        cursor: str | None,
        *,
        formatted: bool = True,
    ) -> AsyncIterator[ChangePage]:
        raise NotImplementedError

    async def write(self, ops: Sequence[WriteOp], *, batch: bool = True) -> list[WriteResult]:
        raise NotImplementedError

    async def aclose(self) -> None:
        self.crm.closed += 1


@dataclass
class Api:
    app: FastAPI
    client: httpx.AsyncClient
    supervisor: Supervisor
    users: UserStore
    tokens: dict[Role, str]
    crm: FakeCrm

    def auth(self, role: Role) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}


def make_api(folder: Path, *, replay_limit: int = 2_000_000) -> Api:
    engine = sa.create_engine(f"sqlite:///{folder / 'store.db'}")
    spec = WorkflowSpec(run=_run, backlog=_backlog)
    supervisor = Supervisor(
        engine,
        config_text(folder),
        {"inbound": spec, "outbound": spec, "optinout": spec},
        environ=ENV,
        stop_timeout=2,
    )
    # Cheap argon2 parameters: the tests check the flow, not the hash's cost.
    users = UserStore(engine, hasher=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    tokens = {}
    for role in Role:
        users.add(role.value, role, PASSWORD)
        tokens[role] = users.new_token(role.value)
    crm = FakeCrm()

    def job_connectors(config: Config) -> ConnectorPool:
        return ConnectorPool(config, connectors={"dynamics": ("dataverse", crm.connector())})

    app = create_app(
        supervisor,
        users,
        login_limiter=LoginLimiter(attempts=3),
        replay_limit=replay_limit,
        connector_opener=crm.open,
        jobs_folder=folder / "jobs",
        job_connectors=job_connectors,
    )
    transport = httpx.ASGITransport(app=app)
    client = httpx.AsyncClient(transport=transport, base_url="http://testserver")
    return Api(app, client, supervisor, users, tokens, crm)
