"""The write loop waits for a queue that is unavailable (its server restarting, say) instead of
ending the writer: it tries again until stopped, and applies what comes once the queue is back."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import pytest
import sqlalchemy as sa

from crmsync.queue.base import Delivery
from crmsync.queue.errors import QueueError, QueueUnavailableError
from crmsync.state.store import StateStore
from crmsync.sync.progress import NoProgress
from crmsync.sync.write_loop import WriteLoop


class _Outage:
    """A queue whose first ``failures`` fetches find it unavailable; then it is empty."""

    def __init__(self, failures: int, stop: asyncio.Event, error: Exception) -> None:
        self.failures = failures
        self.fetches = 0
        self.stop = stop
        self.error = error

    async def fetch(
        self, mapping: str | None = None, *, max_messages: int = 10, wait_seconds: float = 0.0
    ) -> list[Delivery]:
        self.fetches += 1
        if self.fetches <= self.failures:
            raise self.error
        self.stop.set()  # the queue answered: the test is over
        return []

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        raise AssertionError("nothing was fetched")

    async def nack(self, deliveries: Sequence[Delivery], **_: object) -> None:
        raise AssertionError("nothing was fetched")


def _loop(tmp_path: Path, queue: _Outage) -> WriteLoop:
    state = StateStore(sa.create_engine(f"sqlite:///{tmp_path / 'store.db'}"))
    return WriteLoop(
        {},
        state,
        queue,  # type: ignore[arg-type]
        parent_wait_seconds=300,
        progress=NoProgress(),
        housekeeping=lambda _final: False,
    )


async def test_an_unavailable_queue_is_waited_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("crmsync.sync.write_loop._QUEUE_RETRY_SECONDS", 0.01)
    stop = asyncio.Event()
    queue = _Outage(3, stop, QueueUnavailableError("NATS did not answer for 30 s"))
    await asyncio.wait_for(_loop(tmp_path, queue).run(stop), 10)
    assert queue.fetches == 4


async def test_another_queue_error_ends_the_loop(tmp_path: Path) -> None:
    stop = asyncio.Event()
    queue = _Outage(1, stop, QueueError("the stream is gone"))
    with pytest.raises(QueueError, match="the stream is gone"):
        await _loop(tmp_path, queue).run(stop)
    assert queue.fetches == 1
