"""Behaviour every ChangeQueue backend must have (SQLite today, NATS JetStream later).

A backend's test module subclasses :class:`QueueConformance` and provides the ``queue_factory``
fixture: an async callable ``factory(**settings) -> ChangeQueue`` that opens another client on the
test's own, initially empty queue (each call: a new client on the SAME storage, like another
process connecting), with ``ack_wait_seconds`` and ``max_deliver`` as given. The fixture closes
the clients it opened. Timings use real time (short ack waits) so that servers can run it too.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from crmsync.queue import (
    Change,
    ChangeMessage,
    ChangeQueue,
    PayloadError,
    QueueClosedError,
)

QueueFactory = Callable[..., Awaitable[ChangeQueue]]

SHORT_WAIT = 0.3


def upserts(count: int, prefix: str = "r") -> list[Change]:
    return [Change("upsert", f"{prefix}{i}", i + 1, {"name": f"n{i}"}) for i in range(count)]


def message(mapping: str = "contacts", count: int = 3, **kwargs: Any) -> ChangeMessage:
    return ChangeMessage(mapping, upserts(count, prefix=f"{mapping}-"), **kwargs)


class QueueConformance:
    """Run against a backend by subclassing and defining the ``queue_factory`` fixture."""

    async def test_publish_returns_one_unique_id_per_message(
        self, queue_factory: QueueFactory
    ) -> None:
        queue = await queue_factory()
        ids = await queue.publish([message(), message(), message("accounts")])
        assert len(ids) == 3
        assert len(set(ids)) == 3
        assert all(isinstance(i, str) and i for i in ids)
        assert await queue.publish([]) == []

    async def test_a_message_comes_back_exactly_as_published(
        self, queue_factory: QueueFactory
    ) -> None:
        queue = await queue_factory()
        changes = [
            Change(
                "upsert",
                "a",
                7,
                {"s": "é\u0000x", "i": 2**62, "f": 1.5, "b": True, "n": None, "l": [1, {"k": "v"}]},
                {"s": "label"},
            ),
            Change("upsert", "b", "2026-01-01T00:00:00.1234567Z"),
            Change("delete", "c"),
        ]
        [message_id] = await queue.publish([ChangeMessage("contacts", changes, snapshot="s1")])
        [delivery] = await queue.fetch()
        assert delivery.attempt == 1
        assert delivery.message.message_id == message_id
        assert delivery.message.mapping == "contacts"
        assert delivery.message.snapshot == "s1"
        assert list(delivery.message.changes) == changes

    async def test_backlog_counts_changes_waiting_or_in_flight(
        self, queue_factory: QueueFactory
    ) -> None:
        queue = await queue_factory()
        assert await queue.backlog() == 0
        await queue.publish([message(count=5), message(count=2), message("accounts", count=4)])
        assert await queue.backlog() == 11
        assert await queue.backlog("contacts") == 7
        assert await queue.backlog("unknown") == 0
        deliveries = await queue.fetch("contacts", max_messages=1)
        assert await queue.backlog("contacts") == 7  # in flight still counts
        await queue.ack(deliveries)
        assert await queue.backlog("contacts") == 7 - len(deliveries[0].message.changes)
        assert await queue.backlog() == 11 - len(deliveries[0].message.changes)

    async def test_fetch_by_mapping_and_max_messages(self, queue_factory: QueueFactory) -> None:
        queue = await queue_factory()
        await queue.publish([message("contacts") for _ in range(3)] + [message("accounts")])
        accounts = await queue.fetch("accounts", max_messages=10)
        assert [d.message.mapping for d in accounts] == ["accounts"]
        first = await queue.fetch(max_messages=2)
        assert len(first) == 2
        rest = await queue.fetch(max_messages=10)
        assert len(rest) == 1
        assert await queue.fetch(max_messages=10) == []
        assert {d.message.mapping for d in first + rest} == {"contacts"}

    async def test_a_fetched_message_is_invisible_until_its_ack_wait_ends(
        self, queue_factory: QueueFactory
    ) -> None:
        writer = await queue_factory(ack_wait_seconds=SHORT_WAIT)
        other = await queue_factory(ack_wait_seconds=SHORT_WAIT)
        [message_id] = await writer.publish([message()])
        [first] = await writer.fetch()
        assert await other.fetch() == []
        await asyncio.sleep(SHORT_WAIT + 0.2)
        [again] = await other.fetch()
        assert again.message.message_id == message_id
        assert again.attempt == 2
        assert again.token != first.token

    async def test_ack_is_idempotent_and_ignores_unknown_tokens(
        self, queue_factory: QueueFactory
    ) -> None:
        queue = await queue_factory()
        await queue.publish([message(), message()])
        deliveries = await queue.fetch(max_messages=2)
        await queue.ack(deliveries[:1])
        await queue.ack(deliveries[:1])
        forged = type(deliveries[1])(deliveries[1].message, 1, "not-a-token")
        await queue.ack([forged])
        await queue.ack([])
        assert await queue.backlog() == len(deliveries[1].message.changes)
        await queue.ack(deliveries[1:])
        assert await queue.backlog() == 0

    async def test_a_late_ack_of_an_expired_delivery_leaves_the_redelivery_alone(
        self, queue_factory: QueueFactory
    ) -> None:
        queue = await queue_factory(ack_wait_seconds=SHORT_WAIT)
        await queue.publish([message()])
        [stale] = await queue.fetch()
        await asyncio.sleep(SHORT_WAIT + 0.2)
        [current] = await queue.fetch()
        await queue.ack([stale])
        assert await queue.backlog() == 3
        await queue.ack([current])
        assert await queue.backlog() == 0

    async def test_nack_redelivers_with_the_next_attempt(self, queue_factory: QueueFactory) -> None:
        queue = await queue_factory()
        [message_id] = await queue.publish([message()])
        [first] = await queue.fetch()
        await queue.nack([first])
        [second] = await queue.fetch()
        assert (second.message.message_id, second.attempt) == (message_id, 2)

    async def test_nack_with_a_delay_hides_the_message_until_then(
        self, queue_factory: QueueFactory
    ) -> None:
        queue = await queue_factory()
        await queue.publish([message()])
        [first] = await queue.fetch()
        await queue.nack([first], delay_seconds=SHORT_WAIT)
        assert await queue.fetch() == []
        assert await queue.backlog() == 3
        [again] = await queue.fetch(wait_seconds=SHORT_WAIT + 1.0)
        assert again.attempt == 2

    async def test_after_max_deliver_a_message_becomes_a_dead_letter(
        self, queue_factory: QueueFactory
    ) -> None:
        queue = await queue_factory(max_deliver=2)
        [message_id] = await queue.publish([message(count=4)])
        await queue.publish([message("accounts")])
        for attempt in (1, 2):
            [delivery] = await queue.fetch("contacts")
            assert delivery.attempt == attempt
            await queue.nack([delivery], reason=f"boom {attempt}")
        assert await queue.fetch("contacts") == []
        assert await queue.backlog("contacts") == 0
        assert await queue.dead_letter_count() == 1
        assert await queue.dead_letter_count("contacts") == 1
        assert await queue.dead_letter_count("accounts") == 0
        [dead] = await queue.dead_letters()
        assert dead.message.message_id == message_id
        assert len(dead.message.changes) == 4
        assert dead.attempts == 2
        assert "boom 2" in dead.reason
        assert await queue.dead_letters("accounts") == []

    async def test_an_unacked_message_is_dead_lettered_after_max_deliver_expiries(
        self, queue_factory: QueueFactory
    ) -> None:
        queue = await queue_factory(max_deliver=1, ack_wait_seconds=SHORT_WAIT)
        await queue.publish([message()])
        assert len(await queue.fetch()) == 1
        await asyncio.sleep(SHORT_WAIT + 0.2)
        assert await queue.fetch() == []
        [dead] = await queue.dead_letters()
        assert dead.attempts == 1
        assert dead.reason

    async def test_purge_drops_one_mapping_only(self, queue_factory: QueueFactory) -> None:
        queue = await queue_factory()
        await queue.publish([message(), message(), message("accounts")])
        in_flight = await queue.fetch("contacts", max_messages=1)
        assert await queue.purge("contacts") == 2
        assert await queue.purge("contacts") == 0
        assert await queue.backlog("contacts") == 0
        assert await queue.backlog("accounts") == 3
        await queue.ack(in_flight)  # harmless after a purge
        assert await queue.backlog() == 3

    async def test_fetch_waits_for_a_publish(self, queue_factory: QueueFactory) -> None:
        queue = await queue_factory()

        async def publish_later() -> None:
            await asyncio.sleep(0.2)
            await queue.publish([message()])

        task = asyncio.create_task(publish_later())
        started = time.monotonic()
        deliveries = await queue.fetch(wait_seconds=5.0)
        await task
        assert len(deliveries) == 1
        assert time.monotonic() - started < 2.0

    async def test_fetch_waits_no_longer_than_asked(self, queue_factory: QueueFactory) -> None:
        queue = await queue_factory()
        started = time.monotonic()
        assert await queue.fetch(wait_seconds=0.3) == []
        assert 0.25 <= time.monotonic() - started < 2.0

    async def test_messages_outlive_the_client_that_published_them(
        self, queue_factory: QueueFactory
    ) -> None:
        first = await queue_factory()
        ids = await first.publish([message(), message("accounts")])
        await first.aclose()
        second = await queue_factory()
        deliveries = await second.fetch(max_messages=10)
        assert sorted(d.message.message_id for d in deliveries) == sorted(ids)

    async def test_concurrent_consumers_never_share_a_message(
        self, queue_factory: QueueFactory
    ) -> None:
        producer = await queue_factory()
        ids = await producer.publish([message(count=1) for _ in range(60)])
        consumers = [await queue_factory() for _ in range(3)]
        seen: list[str] = []

        async def consume(queue: ChangeQueue) -> None:
            while deliveries := await queue.fetch(max_messages=4):
                seen.extend(d.message.message_id for d in deliveries)
                await asyncio.sleep(0)
                await queue.ack(deliveries)

        await asyncio.gather(*(consume(q) for q in consumers))
        assert sorted(seen) == sorted(ids)
        assert await producer.backlog() == 0

    async def test_values_that_are_not_json_native_are_refused(
        self, queue_factory: QueueFactory
    ) -> None:
        queue = await queue_factory()
        bad = ChangeMessage(
            "contacts", [Change("upsert", "ok"), Change("upsert", "x", 1, {"v": {1}})]
        )
        with pytest.raises(PayloadError) as caught:
            await queue.publish([message(), bad])
        assert caught.value.record_id == "x"
        assert caught.value.table == "contacts"
        assert await queue.backlog() == 0  # nothing of the refused batch was stored

    async def test_a_closed_queue_refuses_calls(self, queue_factory: QueueFactory) -> None:
        queue = await queue_factory()
        await queue.aclose()
        await queue.aclose()
        with pytest.raises(QueueClosedError):
            await queue.publish([message()])
        with pytest.raises(QueueClosedError):
            await queue.fetch()
