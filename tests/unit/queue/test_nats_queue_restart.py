"""The NATS queue across a restart of its server: nothing published is lost, the client
reconnects on its own, and a call made while the server is away waits for it, then fails clearly.

Each test runs its own ``nats-server -js`` (``CRMSYNC_TEST_NATS_SERVER``, default
/usr/sbin/nats-server) on a free port with its own store folder; without that program the tests
skip, except in CI (``CI=true``), where that is a failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import nats
import pytest
from queue_conformance import message

from crmsync.queue.errors import QueueUnavailableError
from crmsync.queue.nats import NatsQueue
from crmsync.queue.nats_connection import NatsConnection
from crmsync.queue.nats_stream import StreamSettings, create_stream

STREAM = "CRMSYNC"


class Server:
    """A ``nats-server -js`` of the test's own, which the test may stop and start again."""

    def __init__(self, program: str, store: Path) -> None:
        self.program = program
        self.store = store
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"nats://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.program, "-js", "-a", "127.0.0.1", "-p", str(self.port), "-sd", str(self.store)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as probe, contextlib.suppress(OSError):
                probe.connect(("127.0.0.1", self.port))
                return
            time.sleep(0.05)
        raise RuntimeError(f"nats-server did not start on port {self.port}")

    def stop(self, *, kill: bool = False) -> None:
        if self.process is not None:
            (self.process.kill if kill else self.process.terminate)()
            self.process.wait(timeout=10)
            self.process = None


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    program = os.environ.get("CRMSYNC_TEST_NATS_SERVER", "/usr/sbin/nats-server")
    if shutil.which(program) is None:
        reason = f"no nats-server program at {program}"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"{reason}; CI=true requires it")
        pytest.skip(f"{reason}; set CRMSYNC_TEST_NATS_SERVER")
    running = Server(program, tmp_path / "jetstream")
    running.start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
async def queue(server: Server) -> AsyncIterator[NatsQueue]:
    client = await nats.connect(server.url)
    await create_stream(client.jetstream(), StreamSettings(STREAM))
    await client.close()
    connection = NatsConnection((server.url,), reconnect_wait_seconds=0.1)
    opened = NatsQueue(connection, STREAM, outage_seconds=1.0, request_timeout_seconds=0.5)
    yield opened
    await opened.aclose()


async def test_nothing_published_is_lost_when_the_server_is_killed(
    server: Server, queue: NatsQueue
) -> None:
    ids = await queue.publish([message(count=2) for _ in range(20)])
    [held] = await queue.fetch(max_messages=1)
    server.stop(kill=True)
    server.start()
    assert await queue.backlog() == 40  # the same client, reconnected
    deliveries = await queue.fetch(max_messages=50)
    assert len(deliveries) == 19  # the held message is still in flight
    await queue.ack([*deliveries, held])
    assert await queue.backlog() == 0
    assert {d.message.message_id for d in [*deliveries, held]} == set(ids)


async def test_a_call_while_the_server_is_away_fails_clearly_after_the_outage_wait(
    server: Server, queue: NatsQueue
) -> None:
    await queue.publish([message()])
    server.stop()
    started = time.monotonic()
    with pytest.raises(QueueUnavailableError, match=r"did not answer for 1 s while counting"):
        await queue.backlog()
    assert time.monotonic() - started < 5
    server.start()
    assert await queue.backlog() == 3


async def test_a_call_waits_for_a_server_that_comes_back_in_time(
    server: Server, queue: NatsQueue
) -> None:
    queue._outage_seconds = 20
    [message_id] = await queue.publish([message()])
    server.stop()

    async def restart_later() -> None:
        await asyncio.sleep(0.5)
        await asyncio.to_thread(server.start)

    restart = asyncio.create_task(restart_later())
    [delivery] = await queue.fetch()
    await restart
    assert delivery.message.message_id == message_id
    [again] = await queue.publish([message("accounts")])
    assert again
