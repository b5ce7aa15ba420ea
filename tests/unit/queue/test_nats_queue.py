"""The NATS JetStream queue: the conformance suite, plus what is particular to JetStream.

Runs against the local NATS server (see ``nats_url`` in tests/conftest.py), each test on a
stream of its own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import nats
import pytest
from nats.js import JetStreamContext
from queue_conformance import QueueConformance, QueueFactory, message

from crmsync.queue import Change, ChangeMessage, ChangeQueue, Delivery, QueueError
from crmsync.queue.errors import QueueUnavailableError
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


@pytest.fixture
async def queue(queue_factory: QueueFactory) -> NatsQueue:
    opened = await queue_factory()
    assert isinstance(opened, NatsQueue)
    return opened


@pytest.fixture
async def raw(nats_url: str) -> AsyncIterator[JetStreamContext]:
    """A plain JetStream client, to look at (or spoil) the stream behind the queue's back."""
    client = await nats.connect(nats_url)
    yield client.jetstream()
    await client.close()


def test_is_a_change_queue() -> None:
    queue = NatsQueue(NatsConnection(("nats://127.0.0.1:1",)), "S")
    assert isinstance(queue, ChangeQueue)


async def test_subjects_name_the_mapping_and_the_change_count(
    queue: NatsQueue, raw: JetStreamContext, nats_stream: str
) -> None:
    [message_id] = await queue.publish([message(count=4, snapshot="s1")])
    stored = await raw.get_msg(nats_stream, seq=1)
    assert stored.subject == f"{nats_stream}.changes.contacts.4"
    assert stored.headers == {"Nats-Msg-Id": message_id, "Crmsync-Snapshot": "s1"}


async def test_an_undecodable_payload_becomes_a_dead_letter(
    queue: NatsQueue, raw: JetStreamContext, nats_stream: str
) -> None:
    await raw.publish(f"{nats_stream}.changes.contacts.3", b"[not json")
    await queue.publish([message("accounts")])
    deliveries = await queue.fetch(max_messages=10)
    assert [d.message.mapping for d in deliveries] == ["accounts"]
    [dead] = await queue.dead_letters()
    assert dead.message.mapping == "contacts"
    assert dead.message.changes == []
    assert "undecodable" in dead.reason
    assert dead.attempts == 1
    assert await queue.backlog("contacts") == 0
    assert await queue.dead_letter_count("contacts") == 1


async def test_a_dead_letter_keeps_its_reason_whole_on_one_line(queue: NatsQueue) -> None:
    queue.max_deliver = 1
    [message_id] = await queue.publish([message(snapshot="s9")])
    await queue.nack(await queue.fetch(), reason="clé en double\nligne 2 ")
    [dead] = await queue.dead_letters("contacts")
    assert dead.reason == "clé en double ligne 2"
    assert dead.message.message_id == message_id
    assert dead.message.snapshot == "s9"
    assert (datetime.now(UTC) - dead.failed_at).total_seconds() < 60


async def test_dead_letters_are_listed_oldest_first_up_to_the_limit(queue: NatsQueue) -> None:
    queue.max_deliver = 1
    ids = await queue.publish([message(), message("accounts"), message()])
    for mapping in ("contacts", "accounts", "contacts"):
        await queue.nack(await queue.fetch(mapping, max_messages=1), reason=mapping)
    listed = await queue.dead_letters(limit=10)
    assert {d.message.message_id for d in listed} == set(ids)
    assert [d.reason for d in listed] == ["contacts", "accounts", "contacts"]
    assert len(await queue.dead_letters(limit=2)) == 2
    assert [d.reason for d in await queue.dead_letters("accounts")] == ["accounts"]
    assert await queue.dead_letter_count() == 3


async def test_a_token_of_another_stream_or_forged_is_ignored(
    queue: NatsQueue, raw: JetStreamContext, nats_stream: str
) -> None:
    await queue.publish([message()])
    [delivery] = await queue.fetch()
    reply = delivery.token.rpartition("|")[0]
    for token in (
        reply.replace(nats_stream, "OTHER"),
        f"{reply}|not-a-time",
        "PUBLIC.subject|9e99",
        reply,
    ):
        await queue.ack([Delivery(delivery.message, 1, token)])
    assert await queue.backlog() == 3
    await queue.ack([delivery])
    assert await queue.backlog() == 0


async def test_the_ack_wait_is_set_on_the_shared_consumer(
    queue_factory: QueueFactory, raw: JetStreamContext, nats_stream: str
) -> None:
    first = await queue_factory(ack_wait_seconds=40)
    await first.fetch("contacts")
    info = await raw.consumer_info(nats_stream, "crmsync_contacts")
    assert info.config.ack_wait == 40
    assert info.config.filter_subject == f"{nats_stream}.changes.contacts.*"
    assert info.config.max_deliver == -1
    second = await queue_factory(ack_wait_seconds=50)
    await second.fetch("contacts")
    info = await raw.consumer_info(nats_stream, "crmsync_contacts")
    assert info.config.ack_wait == 50


async def test_a_message_larger_than_the_server_takes_is_refused_before_any_is_sent(
    queue: NatsQueue,
) -> None:
    big = ChangeMessage("contacts", [Change("upsert", "x", 1, {"v": "x" * 2_000_000})])
    with pytest.raises(QueueError, match=r"'contacts'.*max_payload"):
        await queue.publish([message(), big])
    assert await queue.backlog() == 0


async def test_a_mapping_that_is_not_a_subject_token_is_refused(queue: NatsQueue) -> None:
    with pytest.raises(QueueError, match=r"mapping 'a\.b'"):
        await queue.publish([message("a.b")])
    with pytest.raises(QueueError, match="mapping '>'"):
        await queue.backlog(">")


async def test_a_missing_stream_is_refused_with_the_command_that_makes_it(nats_url: str) -> None:
    queue = NatsQueue(NatsConnection((nats_url,)), "CRMSYNC_NO_SUCH_STREAM")
    with pytest.raises(QueueError, match="does not exist: create it with 'crmsync queue init"):
        await queue.backlog()
    await queue.aclose()


async def test_an_unreachable_server_is_a_clear_error() -> None:
    connection = NatsConnection(("nats://127.0.0.1:1",), connect_timeout_seconds=0.5)
    queue = NatsQueue(connection, "S")
    with pytest.raises(QueueUnavailableError, match=r"cannot connect to NATS at nats://127\.0"):
        await queue.fetch()
    await queue.aclose()


@pytest.mark.parametrize(
    ("settings", "problem"),
    [({"ack_wait_seconds": 0}, "ack_wait_seconds"), ({"max_deliver": 0}, "max_deliver")],
)
def test_settings_are_checked(settings: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        NatsQueue(NatsConnection(("nats://127.0.0.1:4222",)), "S", **settings)


def test_a_stream_name_that_is_not_a_subject_token_is_refused() -> None:
    with pytest.raises(QueueError, match=r"stream name 'a\.b'"):
        NatsQueue(NatsConnection(("nats://127.0.0.1:4222",)), "a.b")
