"""``/health`` (no authentication) and ``/metrics`` (Prometheus text)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest
from pydantic import BaseModel

from crmsync.api.auth import Viewer
from crmsync.api.deps import SupervisorDep
from crmsync.state.workers import WorkerRole, WorkerView

router = APIRouter(tags=["system"])


class HealthOut(BaseModel):
    status: str


@router.get("/health", operation_id="health", response_model=HealthOut)
def health() -> HealthOut:
    return HealthOut(status="ok")


@router.get(
    "/metrics",
    operation_id="metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}},
)
async def metrics(_user: Viewer, supervisor: SupervisorDep) -> Response:
    """Backlog and status per workflow; counters per inbound mapping (read, written, rejected,
    calls per side); rejects in total; live workers by role, gone ones, and each lease held."""
    # A registry per request: the values are read from the state, not accumulated in process.
    registry = CollectorRegistry()
    backlog = Gauge("crmsync_backlog", "Changes waiting", ["workflow"], registry=registry)
    running = Gauge("crmsync_workflow_up", "1 when RUNNING", ["workflow"], registry=registry)
    records = Gauge(
        "crmsync_records", "Inbound counters", ["mapping", "counter"], registry=registry
    )
    rejects = Gauge("crmsync_rejects", "Rejected records", registry=registry)
    for view in await supervisor.views():
        backlog.labels(view.name).set(view.backlog if view.backlog is not None else float("nan"))
        running.labels(view.name).set(1 if view.status == "RUNNING" else 0)
    counters = await asyncio.to_thread(supervisor.state.counters.by_mapping)
    for mapping, counts in counters.items():
        for name, value in counts.as_dict().items():
            records.labels(mapping, name).set(value)
    rejects.set(await asyncio.to_thread(supervisor.state.rejects.count))
    _workers(registry, await asyncio.to_thread(supervisor.state.workers.all))
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


def _workers(registry: CollectorRegistry, workers: list[WorkerView]) -> None:
    """``crmsync_workers{role}`` (live), ``crmsync_workers_gone`` and ``crmsync_lease_held``."""
    live = Gauge("crmsync_workers", "Live workers", ["role"], registry=registry)
    gone = Gauge("crmsync_workers_gone", "Workers stopped or silent", registry=registry)
    held = Gauge("crmsync_lease_held", "1 when a worker holds it", ["lease"], registry=registry)
    for role in WorkerRole:
        live.labels(role.value).set(sum(1 for w in workers if not w.gone and w.role == role))
    gone.set(sum(1 for w in workers if w.gone))
    for worker in workers:
        for lease in worker.holds:
            held.labels(lease).set(1)
