"""A workflow run by one worker at a time: the holder of its lease.

``outbound`` and ``optinout`` each read and write with a cursor or an outbox of their own: two
processes running one would send the same changes twice. :func:`run_leased` runs a workflow only
while this worker holds the workflow's lease (named after it): a second worker waits for the
lease, and takes the workflow over when the first stops or dies (its lease expires, or at once
when it died on the same machine). A worker that loses the lease (paused or cut off from the
store for longer than it lasts) stops the workflow, which hands back what it holds as a stop
does, and waits for the lease again. What a round sent between the lease's loss and the stop
is covered by each workflow's own guard: outbound events are upserts by event id, and opt-in
writes are conditional on the version read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping

from crmsync.config.models import Config
from crmsync.runtime.workers import Worker
from crmsync.state.workers import WorkerRole
from crmsync.store import create_engine_for

__all__ = ["run_leased", "worker_for"]

logger = logging.getLogger(__name__)

Counts = Mapping[str, int]


async def run_leased(
    worker: Worker,
    name: str,
    run: Callable[[asyncio.Event], Awaitable[Counts]],
    stop: asyncio.Event,
    *,
    once: bool,
) -> Counts | None:
    """Run ``run(inner_stop)`` while ``worker`` holds lease ``name``, until ``stop`` is set
    (with ``once``: until ``run`` returns); the counts of its runs added up, or ``None`` when it
    never ran. With ``once``, a workflow another live worker runs is left to it (``None``)."""
    totals: dict[str, int] = {}
    ran = False
    while not stop.is_set():
        if once:
            if not await asyncio.to_thread(worker.take, name):
                logger.info("%s: run by another worker; left to it", name)
                break
        elif not await worker.wait_to_take(name, stop):
            break
        ran = True
        inner = asyncio.Event()
        watchers = [
            asyncio.create_task(_relay(stop, inner)),
            asyncio.create_task(worker.watch(name, inner)),
        ]
        try:
            counts = await run(inner)
        finally:
            for watcher in watchers:
                watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(*watchers, return_exceptions=True)
            lost = not worker.holds(name)
            await asyncio.to_thread(worker.release, name)
        for key, value in counts.items():
            totals[key] = totals.get(key, 0) + value
        if once or not lost:
            break
        logger.warning("%s: stopped, its lease lost; waiting to take it again", name)
    return totals if ran else None


@contextlib.asynccontextmanager
async def worker_for(
    config: Config, worker: Worker | None, role: WorkerRole
) -> AsyncIterator[Worker]:
    """``worker``, or (``None``) a worker of ``role`` registered in ``config``'s store for as
    long as the context lasts."""
    if worker is not None:
        yield worker
        return
    engine = create_engine_for(config.store.url, schema=config.store.pg_schema)
    try:
        async with Worker(engine, role) as own:
            yield own
    finally:
        engine.dispose()


async def _relay(source: asyncio.Event, target: asyncio.Event) -> None:
    await source.wait()
    target.set()
