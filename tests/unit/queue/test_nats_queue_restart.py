"""The NATS queue across a restart of its server: nothing published is lost, the client
reconnects on its own, and a call made while the server is away waits for it, then fails clearly.

Each test runs its own ``nats-server -js`` (``nats_server`` in tests/conftest.py).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import nats
import pytest
from queue_conformance import message

from crmsync.queue.errors import QueueUnavailableError
from crmsync.queue.nats import NatsQueue
from crmsync.queue.nats_connection import NatsConnection
from crmsync.queue.nats_stream import StreamSettings, create_stream
from nats_support import NatsServer

STREAM = "CRMSYNC"


@pytest.fixture
def server(nats_server: Callable[..., NatsServer]) -> NatsServer:
    return nats_server()


@pytest.fixture
async def queue(server: NatsServer) -> AsyncIterator[NatsQueue]:
    client = await nats.connect(server.url)
    await create_stream(client.jetstream(), StreamSettings(STREAM))
    await client.close()
    connection = NatsConnection((server.url,), reconnect_wait_seconds=0.1)
    opened = NatsQueue(connection, STREAM, outage_seconds=1.0, request_timeout_seconds=0.5)
    yield opened
    await opened.aclose()


async def test_nothing_published_is_lost_when_the_server_is_killed(
    server: NatsServer, queue: NatsQueue
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
    server: NatsServer, queue: NatsQueue
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
    server: NatsServer, queue: NatsQueue
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
