"""The audit trail of a real server over HTTP, on both stores: workflow start and stop, a
mapping checked against the Dataverse emulator, a user and a token, a job run — each listed by
``GET /api/audit`` with its actor and face; only admins read it; ``crmsync audit`` reads the same
trail from the store."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).parents[1] / "sync"))

from inbound_support import ENV, Crm, config_text, running_crm

from crmsync.api import create_app
from crmsync.api.users import Role, UserStore
from crmsync.cli.main import app as cli
from crmsync.config.models import Config
from crmsync.emulators.common.server import BackgroundServer
from crmsync.emulators.common.tls import generate
from crmsync.store import create_engine_for
from crmsync.workflows import WORKFLOW_NAMES
from crmsync.workflows.supervisor import Supervisor, WorkflowSpec

PASSWORD = "an audit test password"
JOB = "version: 1\nname: pause\nsteps:\n  wait: {kind: wait, seconds: 0}\n"
MAPPING = {
    "name": "contacts",
    "connection": "dynamics",
    "crm_table": "contact",
    "resource": "profile",
    "primary_key": {"campaign": "external_id"},
    "fields": [{"crm": "firstname", "campaign": "first_name"}],
}


@pytest.fixture(scope="module")
def crm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Crm]:
    tls = generate([]).write(tmp_path_factory.mktemp("audit-tls"))
    with running_crm(tls, contacts=3) as running:
        yield running


async def _until_stopped(_config: Config, stop: asyncio.Event, started: Any) -> None:
    await started()
    await stop.wait()


async def _no_backlog(_config: Config) -> int:
    return 0


class Server:
    """A crmsync server under uvicorn with an admin, an operator and a viewer, and their
    tokens; the workflows are stand-ins (only what operators do to them matters here)."""

    def __init__(self, url: str, tokens: dict[Role, str]) -> None:
        self.url = url
        self.tokens = tokens

    def call(self, role: Role, method: str, path: str, **kw: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.tokens[role]}"}
        return httpx.request(method, f"{self.url}{path}", headers=headers, timeout=60, **kw)


@contextmanager
def _serving(engine: sa.Engine, text: str, folder: Path) -> Iterator[Server]:
    spec = WorkflowSpec(run=_until_stopped, backlog=_no_backlog)
    supervisor = Supervisor(engine, text, dict.fromkeys(WORKFLOW_NAMES, spec), environ=ENV)
    users = UserStore(engine, hasher=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    tokens = {}
    for role in Role:
        users.add(role.value, role, PASSWORD)
        tokens[role] = users.new_token(role.value)
    (folder / "jobs").mkdir()
    (folder / "jobs" / "pause.yaml").write_text(JOB)
    with BackgroundServer(create_app(supervisor, users, jobs_folder=folder / "jobs")) as server:
        running = Server(server.url, tokens)
        try:
            yield running
        finally:
            for name in WORKFLOW_NAMES:
                running.call(Role.OPERATOR, "POST", f"/api/workflows/{name}/stop")


def _wait_for_run(server: Server, run_id: str) -> None:
    deadline = time.monotonic() + 30
    while server.call(Role.VIEWER, "GET", f"/api/runs/{run_id}").json()["status"] == "running":
        assert time.monotonic() < deadline, "the job run did not end"
        time.sleep(0.1)


def test_each_operator_action_is_listed_with_its_actor_and_face(
    tmp_path: Path, crm: Crm, store_location: tuple[str, str | None]
) -> None:
    url, schema = store_location
    text = config_text(crm.url, crm.tls.ca, tmp_path, " []", store_url=url, pg_schema=schema)
    path = tmp_path / "crmsync.yaml"
    path.write_text(text, encoding="utf-8")
    engine = create_engine_for(url, schema=schema)
    try:
        with _serving(engine, text, tmp_path) as server:
            _act(server)
            _read(server)
    finally:
        engine.dispose()
    _read_at_the_command_line(path)


def _act(server: Server) -> None:
    admin, operator = Role.ADMIN, Role.OPERATOR
    assert server.call(operator, "POST", "/api/workflows/inbound/start").is_success
    assert server.call(operator, "POST", "/api/workflows/inbound/stop").is_success
    created = server.call(admin, "POST", "/api/mappings", json=MAPPING)
    assert created.status_code == 201, created.text
    body = {"name": "olga", "role": "viewer", "password": "olga's password"}
    assert server.call(admin, "POST", "/api/users", json=body).status_code == 201
    token = server.call(admin, "POST", "/api/users/olga/tokens")
    assert token.status_code == 201
    run = server.call(operator, "POST", "/api/jobs/pause/runs")
    assert run.status_code == 202, run.text
    _wait_for_run(server, run.json()["run_id"])
    refused = server.call(Role.VIEWER, "POST", "/api/workflows/outbound/start")
    assert refused.status_code == 403


def _read(server: Server) -> None:
    answer = server.call(Role.ADMIN, "GET", "/api/audit")
    assert answer.status_code == 200, answer.text
    found = [(e["actor"], e["face"], e["action"], e["target"], e["outcome"]) for e in answer.json()]
    assert found == [
        ("token:viewer", "api", "workflow.start", "outbound", "refused"),
        ("token:operator", "api", "job.run", "pause", "ok"),
        ("token:admin", "api", "token.create", "olga", "ok"),
        ("token:admin", "api", "user.create", "olga", "ok"),
        ("token:admin", "api", "mapping.create", "contacts", "ok"),
        ("token:operator", "api", "workflow.stop", "inbound", "ok"),
        ("token:operator", "api", "workflow.start", "inbound", "ok"),
    ]
    details = {e["action"]: e["details"] for e in answer.json()}
    assert set(details["job.run"]) == {"run_id", "resumed"}
    assert set(details["token.create"]) == {"token_id"}
    workflows = server.call(Role.ADMIN, "GET", "/api/audit", params={"action": "workflow."})
    assert [e["outcome"] for e in workflows.json()] == ["refused", "ok", "ok"]
    mine = server.call(Role.ADMIN, "GET", "/api/audit", params={"user": "operator", "limit": 1})
    assert [e["action"] for e in mine.json()] == ["job.run"]
    for role in (Role.VIEWER, Role.OPERATOR):
        assert server.call(role, "GET", "/api/audit").status_code == 403


def _read_at_the_command_line(path: Path) -> None:
    runner = CliRunner()
    listed = runner.invoke(
        cli, ["audit", "--config", str(path), "--user", "admin", "--action", "mapping.", "--json"]
    )
    assert listed.exit_code == 0, listed.output
    (entry,) = json.loads(listed.stdout)
    assert (entry["actor"], entry["action"], entry["target"]) == (
        "token:admin",
        "mapping.create",
        "contacts",
    )
