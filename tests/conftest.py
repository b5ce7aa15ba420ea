"""Marks every test by its folder: ``tests/unit`` → unit, ``tests/integration`` → integration.

Also the NATS JetStream servers of the tests that need one: the local one
(``CRMSYNC_TEST_NATS_URL``, default ``nats://127.0.0.1:4222``), where each test gets a stream of
its own, deleted afterwards; and servers a test starts itself (``nats_server``: the program
``CRMSYNC_TEST_NATS_SERVER``, default /usr/sbin/nats-server, on a free port with its own store
folder), which it may stop and start again. When either is missing the tests skip with the
reason, except in CI (``CI=true``), where that is a failure: CI must test what it claims to.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NoReturn

import nats
import pytest

from crmsync.queue.nats_stream import StreamSettings, create_stream
from nats_support import NatsServer

_ROOT = Path(__file__).parent
DEFAULT_NATS_URL = "nats://127.0.0.1:4222"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        kind = item.path.relative_to(_ROOT).parts[0]
        if kind in ("unit", "integration"):
            item.add_marker(getattr(pytest.mark, kind))


def _missing(reason: str) -> NoReturn:
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{reason}; CI=true requires it")
    pytest.skip(reason)


async def _jetstream_problem(url: str) -> str | None:
    try:
        client = await nats.connect(url, connect_timeout=2, allow_reconnect=False)
    except Exception as exc:  # any failure to connect means: no server for the tests
        return f"cannot connect: {exc or type(exc).__name__}"
    try:
        await client.jetstream().account_info()
    except Exception as exc:
        return f"JetStream is not enabled: {exc or type(exc).__name__}"
    finally:
        await client.close()
    return None


@pytest.fixture(scope="session")
def nats_url() -> str:
    """The URL of a NATS server with JetStream."""
    url = os.environ.get("CRMSYNC_TEST_NATS_URL", DEFAULT_NATS_URL)
    problem = asyncio.run(_jetstream_problem(url))
    if problem is not None:
        _missing(f"NATS at {url} is unusable ({problem}); set CRMSYNC_TEST_NATS_URL")
    return url


async def _stream(url: str, name: str, *, create: bool) -> None:
    client = await nats.connect(url)
    js = client.jetstream()
    try:
        if create:
            await create_stream(js, StreamSettings(name))
        else:
            await js.delete_stream(name)
    finally:
        await client.close()


@pytest.fixture
def nats_stream(nats_url: str) -> Iterator[str]:
    """The name of a fresh stream made for the change queue, deleted after the test."""
    name = f"CRMSYNC_TEST_{uuid.uuid4().hex[:12].upper()}"
    asyncio.run(_stream(nats_url, name, create=True))
    try:
        yield name
    finally:
        asyncio.run(_stream(nats_url, name, create=False))


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[Callable[..., NatsServer]]:
    """``nats_server(*options)``: a started server of the test's own, with more command-line
    ``options`` (``--tls``, ``--user``…); stopped after the test."""
    program = os.environ.get("CRMSYNC_TEST_NATS_SERVER", "/usr/sbin/nats-server")
    if shutil.which(program) is None:
        _missing(f"no nats-server program at {program}; set CRMSYNC_TEST_NATS_SERVER")
    started: list[NatsServer] = []

    def start(*options: str) -> NatsServer:
        server = NatsServer(program, tmp_path / f"jetstream-{len(started)}", options)
        started.append(server)
        server.start()
        return server

    yield start
    for server in started:
        server.stop()
