"""The supervisor's specifications of the real workflows: inbound, outbound and optinout."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping

from crmsync.config.models import Config
from crmsync.events.runner import open_outbound
from crmsync.optout.runner import open_optinout
from crmsync.runtime.queues import open_queue
from crmsync.runtime.workers import Worker
from crmsync.state.counters import Counters
from crmsync.state.parked import ParkedChanges
from crmsync.state.workers import WorkerRole
from crmsync.store import create_engine_for
from crmsync.sync.engine import EngineOptions, InboundEngine
from crmsync.workflows.backlog import store_backlogs
from crmsync.workflows.leased import run_leased, worker_for
from crmsync.workflows.supervisor import WorkflowSpec

__all__ = ["inbound_backlog", "standard_specs"]

Started = Callable[[], Awaitable[None]]


async def inbound_backlog(config: Config) -> int:
    """Changes in the queue plus parked children (what ``crmsync status`` shows)."""
    engine = create_engine_for(config.store.url, schema=config.store.pg_schema)
    queue = open_queue(config)
    try:
        queued = await queue.backlog()
        parked = await asyncio.to_thread(lambda: ParkedChanges(engine).count())
        return queued + parked
    finally:
        await queue.aclose()
        engine.dispose()


async def _inbound_counters(config: Config) -> Mapping[str, int]:
    """The counters of every mapping, added up."""
    engine = create_engine_for(config.store.url, schema=config.store.pg_schema)
    try:
        counters = await asyncio.to_thread(lambda: Counters(engine).by_mapping())
    finally:
        engine.dispose()
    totals: dict[str, int] = {}
    for counts in counters.values():
        for name, value in counts.as_dict().items():
            totals[name] = totals.get(name, 0) + value
    return totals


def _store_backlog(name: str) -> Callable[[Config], Awaitable[int]]:
    async def measure(config: Config) -> int:
        engine = create_engine_for(config.store.url, schema=config.store.pg_schema)
        try:
            return (await asyncio.to_thread(store_backlogs, engine, config))[name]
        finally:
            engine.dispose()

    return measure


def standard_specs(
    environ: Mapping[str, str] | None = None,
    options: EngineOptions | None = None,
    worker: Worker | None = None,
) -> dict[str, WorkflowSpec]:
    """The three workflows as the supervisor runs them (``environ``: where secrets come from),
    taking their leases as ``worker`` (``None``: a worker registered for each run): the inbound
    engine its mappings' leases, outbound and optinout their own, waited for while another
    worker holds them."""

    async def inbound(
        config: Config, stop: asyncio.Event, started: Started
    ) -> Mapping[str, int] | None:
        async with (
            worker_for(config, worker, WorkerRole.SERVE) as running,
            InboundEngine(config, environ=environ, options=options, worker=running) as engine,
        ):
            await started()
            await engine.run(stop=stop)
        return None

    async def outbound(
        config: Config, stop: asyncio.Event, started: Started
    ) -> Mapping[str, int] | None:
        async def held(inner: asyncio.Event) -> Mapping[str, int]:
            async with open_outbound(config, environ=environ) as workflow:
                await started()
                return (await workflow.run(once=False, stop=inner)).as_dict()

        async with worker_for(config, worker, WorkerRole.SERVE) as running:
            return await run_leased(running, "outbound", held, stop, once=False)

    async def optinout(
        config: Config, stop: asyncio.Event, started: Started
    ) -> Mapping[str, int] | None:
        async def held(inner: asyncio.Event) -> Mapping[str, int]:
            async with open_optinout(config, environ=environ) as workflow:
                await started()
                return (await workflow.run(once=False, stop=inner)).as_dict()

        async with worker_for(config, worker, WorkerRole.SERVE) as running:
            return await run_leased(running, "optinout", held, stop, once=False)

    return {
        "inbound": WorkflowSpec(
            run=inbound,
            backlog=inbound_backlog,
            counters=_inbound_counters,
            not_configured=lambda c: None if c.inbound.mappings else "it has no mapping",
        ),
        "outbound": WorkflowSpec(
            run=outbound,
            backlog=_store_backlog("outbound"),
            not_configured=lambda c: (
                None if c.outbound.enabled() else "no event type is switched on"
            ),
        ),
        "optinout": WorkflowSpec(
            run=optinout,
            backlog=_store_backlog("optinout"),
            not_configured=lambda c: (
                None if c.optinout.direction != "disabled" else "its direction is 'disabled'"
            ),
        ),
    }
