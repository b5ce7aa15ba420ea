"""The writer side of the inbound workflow: queue messages → Campaign store, with housekeeping.

:class:`WriteLoop` fetches messages, applies each in one store transaction (in a worker thread)
and acknowledges them after the commit; every 50 messages, and whenever the queue is idle, it
does the housekeeping: releases parked children whose parent arrived, reconciles complete
snapshots and turns children parked too long into ``PARENT_MISSING`` rejects. It runs in the
engine's process or in writer processes of their own (:mod:`crmsync.sync.writer_process`), in
any number of workers: the durable queue is the boundary between reading and writing. The
housekeeping is done by one loop at a time, the holder of its lease (the ``housekeeping``
callable says whether this loop may do a pass).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy.exc import OperationalError

from crmsync.queue.base import ChangeQueue, Delivery
from crmsync.queue.errors import QueueUnavailableError
from crmsync.state.store import StateStore
from crmsync.sync.progress import InboundProgress
from crmsync.sync.writer import WORKFLOW, MappingWriter

__all__ = ["WriteLoop", "with_retries"]

logger = logging.getLogger(__name__)
_T = TypeVar("_T")

_FETCH = 4
_LOCK_RETRIES = 8
#: Messages applied between two housekeeping passes while the queue is busy.
_HOUSEKEEPING_EVERY = 50
#: Seconds between two tries of a queue that is unavailable.
_QUEUE_RETRY_SECONDS = 1.0


def with_retries(fn: Callable[..., _T], *args: Any) -> _T:
    """Call ``fn(*args)`` (one store transaction), again when SQLite refuses a transaction whose
    snapshot another connection moved on (``database is locked`` at once, without waiting for the
    busy timeout); the last failure is raised."""
    for attempt in range(_LOCK_RETRIES):
        try:
            return fn(*args)
        except OperationalError:
            if attempt == _LOCK_RETRIES - 1:
                raise
            time.sleep(0.02 * (attempt + 1))
    raise AssertionError("unreachable")


class WriteLoop:
    """Applies the queue's messages with ``writers`` (one per mapping) until stopped.

    ``lock`` serialises store transactions with the readers of the same process (SQLite refuses
    a write transaction whose snapshot another connection of the process has moved on).
    ``housekeeping(final)``: whether this loop may release parked children, reconcile snapshots
    and expire parked children now (``final``: and reject every child still parked); one loop of
    all the workers does, the holder of the housekeeping lease. ``None``: always.
    """

    def __init__(
        self,
        writers: Mapping[str, MappingWriter],
        state: StateStore,
        queue: ChangeQueue,
        *,
        parent_wait_seconds: float,
        progress: InboundProgress,
        lock: threading.Lock | None = None,
        housekeeping: Callable[[bool], bool] | None = None,
    ) -> None:
        self.writers = writers
        self.state = state
        self.queue = queue
        self.parent_wait_seconds = parent_wait_seconds
        self.progress = progress
        self.lock = lock or threading.Lock()
        self._may_housekeep = housekeeping or (lambda _final: True)
        self._since_housekeeping = 0

    async def run(self, stop: asyncio.Event, caught_up: asyncio.Event | None = None) -> None:
        """Apply messages until ``stop`` is set or, with ``caught_up``, until it is set and the
        queue is drained; then children still parked are rejected (no parent can arrive any
        more in this run)."""
        self._since_housekeeping = 0
        while not stop.is_set():
            try:
                if await self._cycle(stop, caught_up):
                    return
            except QueueUnavailableError as exc:
                # A writer's work is the queue's: it waits for it, whatever the outage lasts
                # (fetched messages not acknowledged come back, and are applied harmlessly).
                logger.warning("the queue is unavailable (%s); trying again", exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), _QUEUE_RETRY_SECONDS)

    async def _cycle(self, stop: asyncio.Event, caught_up: asyncio.Event | None) -> bool:
        """One fetch, applied and acknowledged, and housekeeping when due; ``True`` when the
        loop is done (stopped, or caught up and drained)."""
        queue = self.queue
        deliveries = await queue.fetch(max_messages=_FETCH, wait_seconds=0.2)
        # Acknowledged together once applied: one queue commit per fetch, not per message
        # (a message applied and not yet acknowledged comes back, and is applied harmlessly).
        applied: list[Delivery] = []
        groups: dict[str, list[Delivery]] = {}
        for delivery in deliveries:
            groups.setdefault(delivery.message.mapping, []).append(delivery)
        for group in groups.values():
            if stop.is_set():
                await queue.ack(applied)
                done = {delivery.token for delivery in applied}
                rest = [d for d in deliveries if d.token not in done]
                await queue.nack(rest, reason="the engine stopped")
                return True
            if await self._apply(group):
                applied.extend(group)
        if applied:
            await queue.ack(applied)
        self._since_housekeeping += len(deliveries)
        if deliveries and self._since_housekeeping < _HOUSEKEEPING_EVERY:
            return False
        self._since_housekeeping = 0
        housekept = await asyncio.to_thread(self._may_housekeep, False)
        if housekept:
            await asyncio.to_thread(self.locked, self.housekeeping)
            await self.report_backlog()
        drained = caught_up is not None and caught_up.is_set() and not deliveries
        if drained and not await self.queued():
            await self.finish(housekept=housekept)
            return True
        return False

    async def finish(self, *, housekept: bool = False) -> None:
        """The last housekeeping of a run that caught up and drained its queue (``housekept``:
        the regular pass has just been done)."""
        if not housekept and await asyncio.to_thread(self._may_housekeep, False):
            await asyncio.to_thread(self.locked, self.housekeeping)
        if self.state.parked.count() and await asyncio.to_thread(self._may_housekeep, True):
            # Caught up and drained: no parent can arrive any more in this run.
            await asyncio.to_thread(self.locked, self.housekeeping, True)

    async def queued(self) -> int:
        """Changes waiting or in flight in the queue, over the loop's mappings."""
        total = 0
        for name in self.writers:
            total += await self.queue.backlog(name)
        return total

    async def report_backlog(self) -> None:
        for name in self.writers:
            queued = await self.queue.backlog(name)
            self.progress.backlog(name, queued + self.state.parked.count(name))

    async def _apply(self, deliveries: list[Delivery]) -> bool:
        """Apply the deliveries of one mapping in one transaction; ``True`` when committed (to
        be acknowledged), ``False`` when they were given back to the queue."""
        queue = self.queue
        mapping = deliveries[0].message.mapping
        writer = self.writers.get(mapping)
        if writer is None:
            reason = f"mapping '{mapping}' is not in the configuration"
            await queue.nack(deliveries, delay_seconds=3600, reason=reason)
            return False
        messages = [delivery.message for delivery in deliveries]
        try:
            await asyncio.to_thread(self.locked, with_retries, writer.apply_all, messages)
        except OperationalError as exc:
            logger.warning("%s: store busy (%s); the messages come back", writer.name, exc.orig)
            await queue.nack(deliveries, delay_seconds=1.0, reason=str(exc.orig))
            return False
        return True

    def locked(self, fn: Callable[..., _T], *args: Any) -> _T:
        with self.lock:
            return fn(*args)

    def housekeeping(self, final: bool = False) -> None:
        """Release parked children, reconcile complete snapshots, expire old parked children
        (all of them when ``final``)."""
        state = self.state
        for writer in self.writers.values():
            while with_retries(writer.release_parked):
                pass
            with_retries(writer.reconcile_snapshots)
        now = datetime.now(UTC)
        cutoff = (
            now + timedelta(days=1) if final else now - timedelta(seconds=self.parent_wait_seconds)
        )
        while expired := with_retries(state.parked.reject_expired, WORKFLOW, cutoff):
            per_mapping: dict[str, int] = {}
            for parked in expired:
                per_mapping[parked.mapping] = per_mapping.get(parked.mapping, 0) + 1
            with state.engine.begin() as conn:
                for name, count in per_mapping.items():
                    state.counters.add(conn, name, rejected=count)
            logger.warning("%d children never saw their parent: rejected", len(expired))
