"""The NATS JetStream queue: the conformance suite, plus what is particular to JetStream.

Runs against the local NATS server (see ``nats_url`` in tests/conftest.py), each test on a
stream of its own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from queue_conformance import QueueConformance, QueueFactory

from crmsync.queue import ChangeQueue
from crmsync.queue.nats import NatsQueue
from crmsync.queue.nats_connection import NatsConnection


@pytest.fixture
async def queue_factory(nats_url: str, nats_stream: str) -> AsyncIterator[QueueFactory]:
    opened: list[NatsQueue] = []

    async def factory(**settings: Any) -> ChangeQueue:
        queue = NatsQueue(NatsConnection((nats_url,)), nats_stream, poll_seconds=0.02, **settings)
        opened.append(queue)
        return queue

    yield factory
    for queue in opened:
        await queue.aclose()


class TestNatsQueueConformance(QueueConformance):
    pass
