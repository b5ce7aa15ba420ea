"""The registry of workers: every ``crmsync run`` and ``crmsync serve`` process (and each writer
process an ``all`` worker starts), with its heartbeat.

A worker registers when it starts, beats every few seconds while it runs and says when it stops.
One whose last heartbeat is older than :data:`GONE_AFTER_SECONDS` (killed, its machine down or
cut off from the store) is shown as gone; rows of workers gone for :data:`PRUNE_AFTER` are
deleted by the next worker that starts. What a worker holds is read from the leases, never
copied: the registry cannot say a worker holds a duty it has lost.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal

import sqlalchemy as sa

from crmsync.state.part import StatePart

__all__ = [
    "GONE_AFTER_SECONDS",
    "PRUNE_AFTER",
    "RunRole",
    "WorkerRole",
    "WorkerView",
    "Workers",
]

#: A worker whose last heartbeat is older than this is shown as gone.
GONE_AFTER_SECONDS = 15.0
#: Rows of workers gone (stopped or silent) for this long are deleted.
PRUNE_AFTER = timedelta(days=1)


class WorkerRole(StrEnum):
    """What a worker does: ``crmsync run --role`` takes the first three."""

    ALL = "all"  # reads the CRM and writes the store (the default)
    READER = "reader"  # CRM → queue only: never writes records to the store
    WRITER = "writer"  # queue → store only: never calls the CRM
    SERVE = "serve"  # crmsync serve: the workflows started through the API


#: The roles ``crmsync run --role`` takes (the values of :class:`WorkerRole` but ``serve``).
RunRole = Literal["all", "reader", "writer"]


@dataclass(frozen=True, slots=True)
class WorkerView:
    """One registered worker, as every face lists it."""

    id: str
    role: str
    host: str
    machine: str
    pid: int
    started_at: datetime
    heartbeat_at: datetime
    stopped_at: datetime | None
    #: The leases it holds now (mappings as ``inbound:<mapping>``, workflows by name).
    holds: tuple[str, ...]
    #: Stopped, or silent for longer than :data:`GONE_AFTER_SECONDS`.
    gone: bool


class Workers(StatePart):
    """The workers (``crmsync_workers``)."""

    def register(self, worker_id: str, role: str, host: str, machine: str, pid: int) -> None:
        now = self._clock()
        t = self.tables.workers
        with self.engine.begin() as conn:
            conn.execute(
                sa.insert(t).values(
                    id=worker_id,
                    role=role,
                    host=host,
                    machine=machine,
                    pid=pid,
                    started_at=now,
                    heartbeat_at=now,
                )
            )
            conn.execute(
                sa.delete(t).where(
                    sa.func.coalesce(t.c.stopped_at, t.c.heartbeat_at) < now - PRUNE_AFTER
                )
            )

    def beat(self, worker_id: str) -> None:
        t = self.tables.workers
        with self.engine.begin() as conn:
            conn.execute(sa.update(t).where(t.c.id == worker_id).values(heartbeat_at=self._clock()))

    def stopped(self, worker_id: str) -> None:
        """The worker has stopped and given its leases up."""
        t = self.tables.workers
        with self.engine.begin() as conn:
            conn.execute(sa.update(t).where(t.c.id == worker_id).values(stopped_at=self._clock()))

    def all(self, *, gone_after: float = GONE_AFTER_SECONDS) -> list[WorkerView]:
        """Every registered worker, the live ones first, then by start."""
        now = self._clock()
        workers, leases = self.tables.workers, self.tables.leases
        with self.engine.connect() as conn:
            rows = list(conn.execute(sa.select(workers).order_by(workers.c.started_at)))
            held = list(
                conn.execute(
                    sa.select(leases.c.holder, leases.c.name)
                    .where(leases.c.expires_at > now)
                    .order_by(leases.c.name)
                )
            )
        holds: dict[str, list[str]] = {}
        for holder, name in held:
            holds.setdefault(holder, []).append(name)
        cutoff = now - timedelta(seconds=gone_after)
        views = [
            WorkerView(
                **row._mapping,
                holds=tuple(holds.get(row.id, ())),
                gone=row.stopped_at is not None or row.heartbeat_at < cutoff,
            )
            for row in rows
        ]
        return sorted(views, key=lambda view: view.gone)

    def get(self, worker_id: str) -> WorkerView | None:
        return next((view for view in self.all() if view.id == worker_id), None)

    def alive(self, roles: Iterable[str] | None = None) -> list[WorkerView]:
        """The live workers (of ``roles`` only, when given)."""
        wanted = None if roles is None else set(roles)
        return [
            view for view in self.all() if not view.gone and (wanted is None or view.role in wanted)
        ]
