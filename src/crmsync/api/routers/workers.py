"""``/api/workers``: every registered worker (``crmsync run`` and ``serve`` processes), live or
gone, with the leases each holds."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter

from crmsync.api.auth import Viewer
from crmsync.api.deps import SupervisorDep
from crmsync.api.models import WorkerOut

router = APIRouter(prefix="/api/workers", tags=["workers"])


@router.get("", operation_id="list_workers", response_model=list[WorkerOut])
async def list_workers(_user: Viewer, supervisor: SupervisorDep) -> list[WorkerOut]:
    """The live workers first, then the gone ones (stopped, or silent beyond the timeout) until
    they are pruned, a day after."""
    found = await asyncio.to_thread(supervisor.state.workers.all)
    return [
        WorkerOut(
            id=w.id,
            role=w.role,
            host=w.host,
            pid=w.pid,
            started_at=w.started_at,
            heartbeat_at=w.heartbeat_at,
            stopped_at=w.stopped_at,
            holds=list(w.holds),
            gone=w.gone,
        )
        for w in found
    ]
