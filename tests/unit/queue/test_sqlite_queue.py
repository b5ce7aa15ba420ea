"""The SQLite queue: the conformance suite, plus what is particular to the SQLite backend."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from queue_conformance import QueueConformance, QueueFactory, message

from crmsync.queue import ChangeQueue, QueueError, SQLiteQueue


@pytest.fixture
async def queue_factory(tmp_path: Path) -> AsyncIterator[QueueFactory]:
    opened: list[SQLiteQueue] = []

    async def factory(**settings: Any) -> ChangeQueue:
        queue = SQLiteQueue(tmp_path / "queue.db", poll_seconds=0.02, **settings)
        opened.append(queue)
        return queue

    yield factory
    for queue in opened:
        await queue.aclose()


class TestSQLiteQueueConformance(QueueConformance):
    pass


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def queue(tmp_path: Path, clock: FakeClock) -> AsyncIterator[SQLiteQueue]:
    async with SQLiteQueue(tmp_path / "q.db", clock=clock, ack_wait_seconds=60) as q:
        yield q


def test_is_a_change_queue(tmp_path: Path) -> None:
    queue = SQLiteQueue(tmp_path / "q.db")
    assert isinstance(queue, ChangeQueue)


async def test_redelivery_follows_the_ack_wait_exactly(
    queue: SQLiteQueue, clock: FakeClock
) -> None:
    await queue.publish([message()])
    assert len(await queue.fetch()) == 1
    clock.now += 59.9
    assert await queue.fetch() == []
    clock.now += 0.2
    [again] = await queue.fetch()
    assert again.attempt == 2


async def test_delayed_nack_uses_the_clock(queue: SQLiteQueue, clock: FakeClock) -> None:
    await queue.publish([message()])
    await queue.nack(await queue.fetch(), delay_seconds=30)
    clock.now += 29
    assert await queue.fetch() == []
    clock.now += 2
    assert len(await queue.fetch()) == 1


async def test_an_undecodable_payload_becomes_a_dead_letter(
    queue: SQLiteQueue, tmp_path: Path
) -> None:
    await queue.publish([message(), message("accounts")])
    with sqlite3.connect(tmp_path / "q.db") as raw:
        raw.execute(
            "UPDATE queue_payloads SET payload = ? WHERE seq ="
            " (SELECT seq FROM queue_messages WHERE mapping = 'contacts')",
            (b"[not json",),
        )
    raw.close()
    deliveries = await queue.fetch(max_messages=10)
    assert [d.message.mapping for d in deliveries] == ["accounts"]
    [dead] = await queue.dead_letters()
    assert dead.message.mapping == "contacts"
    assert "undecodable" in dead.reason
    assert await queue.backlog("contacts") == 0


async def test_dead_letters_can_be_retried(queue: SQLiteQueue) -> None:
    queue.max_deliver = 1
    [message_id] = await queue.publish([message(count=2)])
    await queue.nack(await queue.fetch(), reason="parent table missing")
    assert await queue.dead_letter_count() == 1
    assert await queue.retry_dead_letters("accounts") == 0
    assert await queue.retry_dead_letters() == 1
    assert await queue.dead_letter_count() == 0
    [delivery] = await queue.fetch()
    assert (delivery.message.message_id, delivery.attempt) == (message_id, 1)
    assert len(delivery.message.changes) == 2


async def test_durability_settings_are_applied(tmp_path: Path) -> None:
    async with SQLiteQueue(tmp_path / "q.db") as queue:
        mode = queue._conn.execute("PRAGMA journal_mode").fetchone()[0]
        sync = queue._conn.execute("PRAGMA synchronous").fetchone()[0]
    assert (mode, sync) == ("wal", 2)  # 2 = FULL
    async with SQLiteQueue(tmp_path / "q.db", synchronous="NORMAL") as queue:
        assert queue._conn.execute("PRAGMA synchronous").fetchone()[0] == 1


def test_a_file_that_is_not_a_queue_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(QueueError, match=r"junk\.db"):
        SQLiteQueue(path)


def test_a_newer_format_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "q.db"
    with sqlite3.connect(path) as raw:
        raw.execute("PRAGMA user_version = 99")
    raw.close()
    with pytest.raises(QueueError, match="format version 99"):
        SQLiteQueue(path)


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"ack_wait_seconds": 0}, "ack_wait_seconds"),
        ({"max_deliver": 0}, "max_deliver"),
        ({"synchronous": "OFF"}, "synchronous"),
    ],
)
def test_settings_are_checked(tmp_path: Path, settings: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        SQLiteQueue(tmp_path / "q.db", **settings)


async def test_max_messages_must_be_positive(queue: SQLiteQueue) -> None:
    with pytest.raises(ValueError, match="max_messages"):
        await queue.fetch(max_messages=0)


async def test_forget_removes_the_changes_of_records_wherever_they_wait(
    queue: SQLiteQueue,
) -> None:
    queue.max_deliver = 1
    [dead_id] = await queue.publish([message(count=3)])
    await queue.nack(await queue.fetch(), reason="kept aside")
    waiting, other = await queue.publish([message(count=3), message("accounts", count=3)])

    removed = await queue.forget("contacts", ["contacts-1", "contacts-2", "nobody"])

    assert removed == 4  # two changes in the waiting message, two in the dead letter
    [dead] = await queue.dead_letters()
    assert (dead.message.message_id, [c.id for c in dead.message.changes]) == (
        dead_id,
        ["contacts-0"],
    )
    deliveries = {d.message.message_id: d.message for d in await queue.fetch(max_messages=10)}
    assert [c.id for c in deliveries[waiting].changes] == ["contacts-0"]
    assert len(deliveries[other].changes) == 3  # another mapping's records are not touched
    assert await queue.forget("contacts", ["contacts-0"]) == 2
    assert await queue.forget("contacts", ["contacts-0"]) == 0
