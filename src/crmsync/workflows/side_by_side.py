"""The ``outbound`` and ``optinout`` workflows started next to ``inbound`` in one process.

``crmsync run`` runs every workflow the configuration switches on: ``inbound`` when it has
mappings, ``outbound`` when an event type is on, ``optinout`` unless its direction is
``disabled``. Each runs as its own task on one stop signal, while this worker holds the
workflow's lease (:mod:`crmsync.workflows.leased`: another ``crmsync run`` of the configuration
runs it otherwise, and this one takes it over when that one stops); the holder records its
status (``STARTING`` → ``RUNNING`` → ``STOPPED`` | ``FAILED`` with the reason) for
``crmsync status``. One workflow failing does not stop the others; the failure is raised once
all have ended.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

from crmsync.config.models import Config
from crmsync.events.runner import open_outbound
from crmsync.optout.runner import open_optinout
from crmsync.runtime.workers import Worker
from crmsync.state.models import WorkflowStatus
from crmsync.state.statuses import WorkflowStatuses
from crmsync.state.workers import WorkerRole
from crmsync.store import create_engine_for
from crmsync.workflows.leased import run_leased, worker_for

__all__ = ["WorkflowRun", "configured", "run_side_by_side", "standard_runs"]

logger = logging.getLogger(__name__)

#: ``run(stop, once)`` → the workflow's counters.
RunFunction = Callable[[asyncio.Event, bool], Awaitable[Mapping[str, int]]]


@dataclass(frozen=True, slots=True)
class WorkflowRun:
    name: str
    run: RunFunction


def configured(config: Config) -> list[str]:
    """The workflows the configuration switches on, in the order they are started."""
    names = []
    if config.inbound.mappings:
        names.append("inbound")
    if config.outbound.enabled():
        names.append("outbound")
    if config.optinout.direction != "disabled":
        names.append("optinout")
    return names


def standard_runs(config: Config, environ: Mapping[str, str] | None = None) -> list[WorkflowRun]:
    """Runs of ``outbound`` and ``optinout`` when configured (``inbound`` has its own engine)."""
    runs = []
    if config.outbound.enabled():

        async def outbound(stop: asyncio.Event, once: bool) -> Mapping[str, int]:
            async with open_outbound(config, environ=environ) as workflow:
                return (await workflow.run(once=once, stop=stop)).as_dict()

        runs.append(WorkflowRun("outbound", outbound))
    if config.optinout.direction != "disabled":

        async def optinout(stop: asyncio.Event, once: bool) -> Mapping[str, int]:
            async with open_optinout(config, environ=environ) as workflow:
                return (await workflow.run(once=once, stop=stop)).as_dict()

        runs.append(WorkflowRun("optinout", optinout))
    return runs


async def run_side_by_side(
    config: Config,
    runs: Sequence[WorkflowRun],
    *,
    once: bool,
    stop: asyncio.Event,
    worker: Worker | None = None,
) -> dict[str, Mapping[str, int]]:
    """Run ``runs`` until ``stop`` (``once``: until each has nothing left), each while
    ``worker`` holds its lease (``None``: a worker registered for this call); counters by name
    (of the workflows this worker ran)."""
    if not runs:
        return {}
    engine = create_engine_for(config.store.url, schema=config.store.pg_schema)
    try:
        statuses = await asyncio.to_thread(WorkflowStatuses, engine)
        async with worker_for(config, worker, WorkerRole.ALL) as running:
            results = await asyncio.gather(
                *(_tracked(statuses, run, stop, once, running) for run in runs)
            )
    finally:
        engine.dispose()
    failures = [result for result in results if isinstance(result, BaseException)]
    if failures:
        raise failures[0]
    return {
        run.name: result
        for run, result in zip(runs, results, strict=True)
        if result is not None and not isinstance(result, BaseException)
    }


async def _tracked(
    statuses: WorkflowStatuses, run: WorkflowRun, stop: asyncio.Event, once: bool, worker: Worker
) -> Mapping[str, int] | BaseException | None:
    async def held(inner: asyncio.Event) -> Mapping[str, int]:
        await asyncio.to_thread(statuses.set, run.name, WorkflowStatus.STARTING)
        try:
            await asyncio.to_thread(statuses.set, run.name, WorkflowStatus.RUNNING)
            counts = await run.run(inner, once)
        except asyncio.CancelledError:
            await _stopped(statuses, run.name, worker)
            raise
        except Exception as exc:
            await asyncio.to_thread(statuses.set, run.name, WorkflowStatus.FAILED, str(exc))
            raise
        await _stopped(statuses, run.name, worker)
        return counts

    try:
        return await run_leased(worker, run.name, held, stop, once=once)
    except Exception as exc:  # recorded as the workflow's FAILED reason, raised by the caller
        logger.error("%s failed: %s", run.name, exc)
        return exc


async def _stopped(statuses: WorkflowStatuses, name: str, worker: Worker) -> None:
    """Record the workflow as stopped, unless its lease was lost: its new holder runs it."""
    if worker.holds(name):
        await asyncio.to_thread(statuses.set, name, WorkflowStatus.STOPPED)
