"""The SQLite queue survives kill -9: published messages stay, unacked ones come back."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from queue_conformance import message

from crmsync.queue import SQLiteQueue

PUBLISHER = """
import asyncio, sys
from crmsync.queue import Change, ChangeMessage, SQLiteQueue

async def main():
    queue = SQLiteQueue(sys.argv[1])
    changes = [Change("upsert", str(i), i, {"v": "x" * 200}) for i in range(500)]
    while True:
        ids = await queue.publish([ChangeMessage("contacts", changes) for _ in range(5)])
        print(" ".join(ids), flush=True)

asyncio.run(main())
"""

CONSUMER = """
import asyncio, sys
from crmsync.queue import SQLiteQueue

async def main():
    queue = SQLiteQueue(sys.argv[1], ack_wait_seconds=0.5)
    [delivery] = await queue.fetch()
    print(delivery.message.message_id, flush=True)
    await asyncio.sleep(60)

asyncio.run(main())
"""


def _start(code: str, path: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE, text=True, env=env
    )


def _kill(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    assert process.stdout is not None
    process.stdout.close()


async def test_every_returned_publish_survives_kill_9(tmp_path: Path) -> None:
    path = tmp_path / "queue.db"
    process = _start(PUBLISHER, path)
    assert process.stdout is not None
    confirmed: list[str] = []
    for _ in range(20):
        confirmed.extend(process.stdout.readline().split())
    _kill(process)

    async with SQLiteQueue(path) as queue:
        stored: set[str] = set()
        while deliveries := await queue.fetch(max_messages=100):
            stored.update(d.message.message_id for d in deliveries)
            assert all(len(d.message.changes) == 500 for d in deliveries)
    assert len(confirmed) == 100
    assert set(confirmed) <= stored


async def test_a_message_fetched_by_a_killed_consumer_is_redelivered(tmp_path: Path) -> None:
    path = tmp_path / "queue.db"
    async with SQLiteQueue(path) as queue:
        [message_id] = await queue.publish([message(count=2)])
        process = _start(CONSUMER, path)
        assert process.stdout is not None
        assert process.stdout.readline().strip() == message_id
        _kill(process)
        assert await queue.fetch() == []  # still leased by the dead consumer
        [again] = await queue.fetch(wait_seconds=5)
    assert again.message.message_id == message_id
    assert again.attempt == 2
