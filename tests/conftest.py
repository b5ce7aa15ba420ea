"""Marks every test by its folder: ``tests/unit`` → unit, ``tests/integration`` → integration.

Also the NATS JetStream server of the tests that need one (the local one,
``CRMSYNC_TEST_NATS_URL``, default ``nats://127.0.0.1:4222``): each test gets a stream of its own,
deleted afterwards. When the server cannot be reached the tests skip with the reason, except in
CI (``CI=true``), where that is a failure: CI must test what it claims to.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import nats
import pytest

from crmsync.queue.nats_stream import StreamSettings, create_stream

_ROOT = Path(__file__).parent
DEFAULT_NATS_URL = "nats://127.0.0.1:4222"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        kind = item.path.relative_to(_ROOT).parts[0]
        if kind in ("unit", "integration"):
            item.add_marker(getattr(pytest.mark, kind))


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
        reason = f"NATS at {url} is unusable ({problem})"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"{reason}; CI=true requires it")
        pytest.skip(f"{reason}; set CRMSYNC_TEST_NATS_URL or start nats-server -js")
    return url


@pytest.fixture
async def nats_stream(nats_url: str) -> AsyncIterator[str]:
    """The name of a fresh stream made for the change queue, deleted after the test."""
    name = f"CRMSYNC_TEST_{uuid.uuid4().hex[:12].upper()}"
    client = await nats.connect(nats_url)
    js = client.jetstream()
    await create_stream(js, StreamSettings(name))
    try:
        yield name
    finally:
        await js.delete_stream(name)
        await client.close()
