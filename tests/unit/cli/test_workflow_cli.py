"""``crmsync workflow list|start|stop`` against a real server (uvicorn over HTTP) whose workflows
are fakes that run until stopped."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
import uvicorn
from argon2 import PasswordHasher
from typer.testing import CliRunner

from crmsync.api import create_app
from crmsync.api.users import Role, UserStore
from crmsync.cli.main import app
from crmsync.config.models import Config
from crmsync.errors import AuthenticationError
from crmsync.serving import StoppableServer
from crmsync.workflows.supervisor import Supervisor, WorkflowSpec


async def _until_stopped(
    _config: Config, stop: asyncio.Event, started: Callable[[], Awaitable[None]]
) -> Mapping[str, int]:
    await started()
    await stop.wait()
    return {}


async def _refused(
    _config: Config, _stop: asyncio.Event, _started: Callable[[], Awaitable[None]]
) -> Mapping[str, int]:
    raise AuthenticationError("the CRM refused the client secret")


async def _backlog(_config: Config) -> int:
    return 7


@dataclass
class Server:
    url: str
    tokens: dict[Role, str]
    supervisor: Supervisor


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'store.db'}")
    spec = WorkflowSpec(run=_until_stopped, backlog=_backlog)
    config = f"version: 1\nstore:\n  url: sqlite:///{tmp_path / 'store.db'}\n"
    specs = {"inbound": spec, "outbound": WorkflowSpec(run=_refused, backlog=_backlog)}
    supervisor = Supervisor(engine, config, specs, stop_timeout=2)
    users = UserStore(engine, hasher=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    tokens = {}
    for role in (Role.VIEWER, Role.OPERATOR):
        users.add(role.value, role, "a long password")
        tokens[role] = users.new_token(role.value)
    # The server runs in the test's event loop, as the workflows it starts; the commands run in
    # a thread of their own.
    uvicorn_config = uvicorn.Config(create_app(supervisor, users), port=0, log_level="warning")
    ready: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    running = StoppableServer(uvicorn_config, on_ready=ready.set_result)
    task = asyncio.create_task(running.serve())
    try:
        port = await asyncio.wait_for(ready, timeout=15)
        yield Server(f"http://127.0.0.1:{port}", tokens, supervisor)
    finally:
        running.should_exit = True
        await task
        await supervisor.close()
        engine.dispose()


async def _crmsync(server: Server, role: Role | None, *args: str) -> tuple[int, str, str]:
    env = {"CRMSYNC_URL": server.url, "CRMSYNC_TOKEN": server.tokens[role] if role else ""}
    result = await asyncio.to_thread(CliRunner().invoke, app, ["workflow", *args], env=env)
    return result.exit_code, result.stdout, result.stderr


async def test_an_operator_starts_and_stops_a_workflow(server: Server) -> None:
    code, out, err = await _crmsync(server, Role.OPERATOR, "start", "inbound")
    assert code == 0, err
    assert "inbound: RUNNING" in out
    code, out, _err = await _crmsync(server, Role.VIEWER, "list", "--json")
    listed = {item["name"]: item for item in json.loads(out)}
    assert code == 0
    assert listed["inbound"]["status"] == "RUNNING"
    assert listed["inbound"]["backlog"] == 7
    assert listed["outbound"]["status"] == "STOPPED"
    server.supervisor.edit("inbound", lambda data: data, author="ada", note="an edit")
    code, out, err = await _crmsync(server, Role.OPERATOR, "stop", "inbound")
    assert code == 0
    assert "inbound: STOPPED" in out
    assert "pending" in err


async def test_a_workflow_that_fails_to_start_says_why(server: Server) -> None:
    code, _out, err = await _crmsync(server, Role.OPERATOR, "start", "outbound")
    assert code == 1
    assert "outbound failed to start" in err
    assert "the CRM refused the client secret" in err


async def test_a_viewer_is_refused_with_the_servers_reason(server: Server) -> None:
    code, _out, err = await _crmsync(server, Role.VIEWER, "start", "inbound")
    assert code == 1
    assert "403" in err
    assert "needs the operator role" in err
    assert not server.supervisor.is_running("inbound")


async def test_an_unknown_workflow_is_named(server: Server) -> None:
    code, _out, err = await _crmsync(server, Role.OPERATOR, "start", "nightly")
    assert code == 1
    assert "404" in err
    assert "nightly" in err
    # A name is one path segment: it cannot reach another route.
    code, _out, err = await _crmsync(server, Role.OPERATOR, "stop", "../mappings/contacts")
    assert code == 1
    assert "/api/workflows/..%2Fmappings%2Fcontacts/stop: 404" in err


async def test_the_token_comes_from_the_environment_only(server: Server) -> None:
    code, _out, err = await _crmsync(server, None, "list")
    assert code == 1
    assert "set CRMSYNC_TOKEN" in err
    refused = CliRunner().invoke(app, ["workflow", "list", "--token", "x"])
    assert refused.exit_code == 2


async def test_an_unreachable_server_is_said(server: Server) -> None:
    env = {"CRMSYNC_URL": "http://127.0.0.1:9", "CRMSYNC_TOKEN": server.tokens[Role.VIEWER]}
    result = await asyncio.to_thread(CliRunner().invoke, app, ["workflow", "list"], env=env)
    assert result.exit_code == 1
    assert "could not reach the server at http://127.0.0.1:9" in result.stderr
