"""An API over a supervisor of fake workflows, and users of each role with their tokens."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
import sqlalchemy as sa
from argon2 import PasswordHasher
from fastapi import FastAPI

from crmsync.api import create_app
from crmsync.api.auth import LoginLimiter
from crmsync.api.users import Role, UserStore
from crmsync.config.models import Config
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


@dataclass
class Api:
    app: FastAPI
    client: httpx.AsyncClient
    supervisor: Supervisor
    users: UserStore
    tokens: dict[Role, str]

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
    app = create_app(
        supervisor, users, login_limiter=LoginLimiter(attempts=3), replay_limit=replay_limit
    )
    transport = httpx.ASGITransport(app=app)
    client = httpx.AsyncClient(transport=transport, base_url="http://testserver")
    return Api(app, client, supervisor, users, tokens)
