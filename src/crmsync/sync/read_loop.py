"""The reader side of the inbound workflow: CRM change tracking → queue, for the mappings whose
lease this worker holds.

Each inbound mapping is read by one worker at a time: the holder of its lease ``inbound:<mapping>``
(:mod:`crmsync.runtime.workers`). :class:`ReadLoop` tries, every ``retry_seconds``, to take the
lease of each mapping it does not hold; a mapping it takes starts from the saved cursor (and a
replay requested for it is taken up then: a new holder is a new start of that mapping). It then
runs change-tracking rounds of its mappings every poll interval. A mapping whose lease is lost
(the worker was paused or cut off from the store for longer than the lease, and another worker
took it) is dropped at the fenced save that finds it out, and tried for again like the others.

With ``once``, a mapping another live worker holds at the first try is left to it; the loop ends
when a round of the mappings it holds finds no change (:attr:`ReadLoop.caught_up` is set).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping

from crmsync.errors import RateLimitedError, TransientError
from crmsync.queue.errors import QueueUnavailableError
from crmsync.runtime.workers import Worker, mapping_lease
from crmsync.state.errors import LeaseLostError
from crmsync.state.store import StateStore
from crmsync.sync.reader import MappingReader

__all__ = ["READ_FAILURES", "ReadLoop"]

logger = logging.getLogger(__name__)

#: Rounds failing one after the other (CRM unreachable, throttled) before the workflow fails.
READ_FAILURES = 5


class ReadLoop:
    """Reads the mappings of ``readers`` whose lease ``worker`` holds, every ``interval`` s."""

    def __init__(
        self,
        readers: Mapping[str, MappingReader],
        state: StateStore,
        worker: Worker,
        *,
        interval: float,
    ) -> None:
        self.readers = readers
        self.state = state
        self.worker = worker
        self.interval = interval
        #: The mappings whose replay this loop took up.
        self.replays: list[str] = []
        self.caught_up = asyncio.Event()
        #: ``once``: the mappings left to another worker.
        self._left: set[str] = set()
        self._tried_at: float | None = None

    def held(self) -> list[str]:
        """The mappings this worker reads now."""
        return [name for name in self.readers if self.worker.holds(mapping_lease(name))]

    async def run(self, stop: asyncio.Event, once: bool) -> None:
        failures = 0
        retry = self.worker.timing.retry_seconds
        while not stop.is_set():
            await self.take(once)
            if once and not self.held():
                self.caught_up.set()  # every mapping is read by another worker
                return
            try:
                changes = await self.round()
            except (TransientError, RateLimitedError, QueueUnavailableError) as exc:
                failures += 1
                if failures >= READ_FAILURES:
                    raise
                logger.warning("reading failed (%s); trying again in %.1f s", exc, self.interval)
                changes = -1
            else:
                failures = 0
            if once and changes == 0:
                self.caught_up.set()
                return
            if once and changes > 0:
                continue
            # A worker waiting for a mapping's lease looks again sooner than it polls.
            wait = self.interval if len(self.held()) == len(self.readers) else retry
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), min(wait, self.interval))

    async def take(self, once: bool = False) -> None:
        """Try to take the lease of each mapping not held (at most every ``retry_seconds``)."""
        now = time.monotonic()
        if self._tried_at is not None and now - self._tried_at < self.worker.timing.retry_seconds:
            return
        self._tried_at = now
        for name in self.readers:
            lease = mapping_lease(name)
            if name in self._left or self.worker.holds(lease):
                continue
            if await asyncio.to_thread(self.worker.take, lease):
                await asyncio.to_thread(self._taken, name)
            elif once:
                logger.info("%s: read by another worker; left to it", name)
                self._left.add(name)

    def _taken(self, name: str) -> None:
        """A mapping just taken: a replay requested for it starts now."""
        if self.state.replays.take(name) is not None:
            # A replay is a new snapshot: every record is read and written again, and the
            # seen-keys reconciliation removes what the CRM no longer holds.
            self.state.cursors.clear(name)
            self.replays.append(name)
            logger.info("%s: replay taken up; reading the CRM table in full", name)

    async def round(self) -> int:
        """One change-tracking round of every mapping held; returns the changes published."""
        total = 0
        for name, reader in self.readers.items():
            lease = mapping_lease(name)
            if not self.worker.holds(lease):
                continue
            try:
                total += (await reader.round()).changes
            except LeaseLostError as exc:
                logger.warning("%s: %s", name, exc)
                self.worker.release(lease)
        return total
