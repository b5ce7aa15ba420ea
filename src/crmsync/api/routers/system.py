"""``/health`` (no authentication) and ``/metrics`` (Prometheus text)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest
from pydantic import BaseModel

from crmsync.api.auth import Viewer
from crmsync.api.deps import SupervisorDep

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
    calls per side); rejects in total."""
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
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
