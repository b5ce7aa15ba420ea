"""The supervisor: the three workflows of one process, started and stopped on demand.

Each workflow runs as an asyncio task on its *active* configuration revision (see
:mod:`crmsync.workflows.revisions`). Its status (``STOPPED`` → ``STARTING`` → ``RUNNING`` →
``STOPPED`` | ``FAILED`` with the reason) is recorded in the sync state, so that ``crmsync status``
and the API read the same thing.

Stopping is cooperative first: the workflow's stop event is set, so readers stop reading and the
writer hands undelivered messages back to the queue; only when the workflow has not ended after
``stop_timeout`` seconds is its task cancelled. A write cut short that way rolls back and its
message comes back from the queue: nothing is lost either way.

Edits never touch a running workflow: they become the workflow's pending revision, validated with
the configuration checks before they are saved, and are activated by the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml

from crmsync.config import ConfigError, ConfigIssue, check_config_text
from crmsync.config.models import Config
from crmsync.errors import ConfigurationError
from crmsync.runtime.workers import machine_id
from crmsync.state.models import WorkflowStatus
from crmsync.state.store import StateStore
from crmsync.workflows.revisions import (
    WORKFLOW_NAMES,
    Revision,
    RevisionStore,
    dump_yaml,
    store_moved,
)

__all__ = [
    "WORKFLOW_NAMES",
    "StopResult",
    "Supervisor",
    "WorkflowSpec",
    "WorkflowView",
]

logger = logging.getLogger(__name__)

#: ``run(config, stop, started)``: run until ``stop`` is set; await ``started()`` once syncing.
RunFunction = Callable[
    [Config, asyncio.Event, Callable[[], Awaitable[None]]], Awaitable[Mapping[str, int] | None]
]


@dataclass(frozen=True, slots=True)
class WorkflowSpec:
    """How to run one workflow and measure it."""

    run: RunFunction
    #: Changes read and waiting to be written.
    backlog: Callable[[Config], Awaitable[int]]
    #: Counters by name (totals so far); ``None``: the last run's result is shown.
    counters: Callable[[Config], Awaitable[Mapping[str, int]]] | None = None
    #: Why the configuration does not switch the workflow on (``None``: it does).
    not_configured: Callable[[Config], str | None] = lambda _config: None


@dataclass(frozen=True, slots=True)
class WorkflowView:
    """What the supervisor knows about one workflow."""

    name: str
    status: WorkflowStatus
    reason: str | None
    since: datetime | None
    backlog: int | None
    last_error: str | None
    counters: Mapping[str, int]
    active_revision: int | None
    pending_revision: int | None


@dataclass(frozen=True, slots=True)
class StopResult:
    workflow: str
    status: WorkflowStatus
    #: Set when the workflow has pending edits: they apply at its next start.
    warning: str | None


@dataclass(slots=True)
class _Running:
    task: asyncio.Task[None]
    stop: asyncio.Event


@dataclass(slots=True)
class _Memory:
    last_error: str | None = None
    counters: Mapping[str, int] = field(default_factory=dict)


class Supervisor:
    """The workflows of one configuration, their statuses and their configuration revisions.

    ``engine`` is the Campaign store (it holds the sync state and the revisions); ``initial_yaml``
    is the configuration file's text, every workflow's first revision. Revisions keep the text as
    written; their relative paths resolve against ``base``, the configuration file's folder (the
    working directory without it).
    """

    def __init__(
        self,
        engine: sa.Engine,
        initial_yaml: str,
        specs: Mapping[str, WorkflowSpec],
        *,
        environ: Mapping[str, str] | None = None,
        stop_timeout: float = 30.0,
        base: Path | None = None,
    ) -> None:
        self.engine = engine
        self.base = base
        self.specs = dict(specs)
        self.environ = environ
        self.stop_timeout = stop_timeout
        self.state = StateStore(engine)
        self.revisions = RevisionStore(engine)
        seed = check_config_text(initial_yaml, source="configuration file", base=base).config
        #: Where the revisions are kept (the configuration file's store): no revision moves it.
        self.store = seed.store if seed is not None else None
        self._running: dict[str, _Running] = {}
        self._memory = {name: _Memory() for name in self.specs}
        self._locks = {name: asyncio.Lock() for name in self.specs}
        for name in self.specs:
            self.revisions.seed(name, initial_yaml)
        statuses = self.state.statuses.all()
        # Workers of other processes (crmsync run, another serve) may run them now.
        here = (machine_id(), os.getpid())
        others = [view for view in self.state.workers.alive() if (view.machine, view.pid) != here]
        for name in self.specs:
            found = statuses.get(name)
            if others or found is None:
                continue
            if found.status in (WorkflowStatus.STARTING, WorkflowStatus.RUNNING):
                # Left so by a process that ended without stopping it: nothing runs it now.
                self.state.statuses.set(name, WorkflowStatus.STOPPED, "the previous process ended")

    # -- configuration ------------------------------------------------------------------------

    def _spec(self, name: str) -> WorkflowSpec:
        spec = self.specs.get(name)
        if spec is None:
            known = ", ".join(self.specs)
            raise ConfigurationError(
                f"there is no workflow '{name}' (workflows: {known})", code="UNKNOWN_WORKFLOW"
            )
        return spec

    def config(self, name: str, *, latest: bool = False) -> Config:
        """The workflow's active configuration (``latest``: with its pending edits)."""
        revision = self.revision(name, latest=latest)
        report = check_config_text(revision.yaml, source=f"revision {revision.id}", base=self.base)
        if not report.ok or report.config is None:
            raise ConfigError(list(report.errors))
        return report.config

    def revision(self, name: str, *, latest: bool = False) -> Revision:
        self._spec(name)
        found = self.revisions.latest(name) if latest else self.revisions.active(name)
        assert found is not None  # seeded on open
        return found

    def document(self, name: str) -> dict[str, Any]:
        """The workflow's latest configuration (pending edits included) as plain data."""
        data = yaml.safe_load(self.revision(name, latest=True).yaml)
        return data if isinstance(data, dict) else {}

    def edit(
        self,
        name: str,
        change: Callable[[dict[str, Any]], dict[str, Any]],
        *,
        author: str,
        note: str,
    ) -> Revision:
        """Apply ``change`` to the workflow's latest configuration and save the outcome as its
        pending revision, once it passes the configuration checks (:class:`ConfigError`
        otherwise, listing every problem; nothing is saved then)."""
        return self.propose(name, dump_yaml(change(self.document(name))), author=author, note=note)

    def check(self, name: str, yaml_text: str) -> Config:
        """``yaml_text`` as the workflow's configuration, once it passes the configuration
        checks and keeps the file's ``store:`` (:class:`ConfigError` otherwise, listing every
        problem)."""
        self._spec(name)
        report = check_config_text(yaml_text, source="edit", environ=self.environ, base=self.base)
        if report.errors or report.config is None:
            raise ConfigError(list(report.errors) or [ConfigIssue((), "not a configuration")])
        moved = None if self.store is None else store_moved(self.store, report.config)
        if moved is not None:
            raise ConfigError([moved])
        return report.config

    def propose(self, name: str, yaml_text: str, *, author: str, note: str) -> Revision:
        """Save ``yaml_text`` as the workflow's pending revision once it passes the checks."""
        self.check(name, yaml_text)
        return self.revisions.propose(name, yaml_text, author=author, note=note)

    def pending_warning(self, name: str) -> str | None:
        pending = self.revisions.pending(name)
        if pending is None:
            return None
        return (
            f"'{name}' has pending edits (revision {pending.id} by {pending.author}, "
            f"{pending.note}): they take effect when it is started again"
        )

    # -- status ---------------------------------------------------------------------------------

    def is_running(self, name: str) -> bool:
        running = self._running.get(name)
        return running is not None and not running.task.done()

    async def view(self, name: str, *, measure: bool = True) -> WorkflowView:
        """Status, backlog (``None`` when it could not be measured), counters, revisions."""
        spec = self._spec(name)
        found = (await asyncio.to_thread(self.state.statuses.all)).get(name)
        memory = self._memory[name]
        backlog: int | None = None
        counters: Mapping[str, int] = memory.counters
        if measure:
            try:
                config = self.config(name)
                backlog = await spec.backlog(config)
                if spec.counters is not None:
                    counters = await spec.counters(config)
            except Exception as exc:  # a view must not fail because a measure did
                logger.warning("%s: could not measure the backlog: %s", name, exc)
        active = self.revisions.active(name)
        pending = self.revisions.pending(name)
        return WorkflowView(
            name=name,
            status=found.status if found else WorkflowStatus.STOPPED,
            reason=found.reason if found else None,
            since=found.updated_at if found else None,
            backlog=backlog,
            last_error=memory.last_error,
            counters=dict(counters),
            active_revision=active.id if active else None,
            pending_revision=pending.id if pending else None,
        )

    async def views(self, *, measure: bool = True) -> list[WorkflowView]:
        return [await self.view(name, measure=measure) for name in self.specs]

    # -- start and stop -------------------------------------------------------------------------

    async def start(self, name: str) -> WorkflowView:
        """Start the workflow on its pending revision (activated now) or its active one.

        Starting a running workflow changes nothing. A configuration that does not switch the
        workflow on is refused (:class:`ConfigurationError`) and changes nothing either.
        """
        spec = self._spec(name)
        async with self._locks[name]:
            if self.is_running(name):
                return await self.view(name, measure=False)
            candidate = self.config(name, latest=True)
            reason = spec.not_configured(candidate)
            if reason is not None:
                raise ConfigurationError(
                    f"'{name}' cannot start: {reason}", code="WORKFLOW_NOT_CONFIGURED"
                )
            activated = self.revisions.activate(name)
            if activated is not None:
                logger.info("%s: revision %d is now active", name, activated.id)
            await asyncio.to_thread(self.state.statuses.set, name, WorkflowStatus.STARTING)
            stop = asyncio.Event()
            task = asyncio.create_task(self._run(name, spec, candidate, stop), name=name)
            self._running[name] = _Running(task, stop)
        return await self.view(name, measure=False)

    async def _run(
        self, name: str, spec: WorkflowSpec, config: Config, stop: asyncio.Event
    ) -> None:
        memory = self._memory[name]

        async def started() -> None:
            await asyncio.to_thread(self.state.statuses.set, name, WorkflowStatus.RUNNING)

        try:
            counts = await spec.run(config, stop, started)
        except asyncio.CancelledError:
            await asyncio.shield(
                asyncio.to_thread(self.state.statuses.set, name, WorkflowStatus.STOPPED)
            )
            raise
        except Exception as exc:  # recorded as the FAILED reason, shown by the status
            logger.error("%s failed: %s", name, exc)
            memory.last_error = str(exc) or type(exc).__name__
            await asyncio.to_thread(
                self.state.statuses.set, name, WorkflowStatus.FAILED, memory.last_error
            )
            return
        if counts is not None:
            memory.counters = dict(counts)
        await asyncio.to_thread(self.state.statuses.set, name, WorkflowStatus.STOPPED)

    async def stop(self, name: str) -> StopResult:
        """Stop the workflow: readers stop, the writer finishes or hands back what it holds.

        Safe at any moment, also when it is not running. The result warns when pending edits
        wait for the next start.
        """
        self._spec(name)
        async with self._locks[name]:
            running = self._running.pop(name, None)
            if running is not None and not running.task.done():
                running.stop.set()
                try:
                    await asyncio.wait_for(asyncio.shield(running.task), self.stop_timeout)
                except TimeoutError:
                    logger.warning(
                        "%s still running after %.0f s: cancelled", name, self.stop_timeout
                    )
                    running.task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await running.task
        view = await self.view(name, measure=False)
        return StopResult(name, view.status, self.pending_warning(name))

    async def close(self) -> None:
        """Stop every running workflow."""
        for name in list(self._running):
            await self.stop(name)
