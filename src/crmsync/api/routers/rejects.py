"""``/api/rejects``: rejected records, filtered by workflow, mapping and code; two-way values
the CRM refused, sent again (``POST /api/rejects/retry``)."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Query

from crmsync.api.auth import Viewer, acting
from crmsync.api.deps import SupervisorDep
from crmsync.api.models import RejectOut, RetryIn, RetryOut, problem
from crmsync.api.users import Role
from crmsync.audit import Action, Actor, recorded
from crmsync.twoway.retry import retry_rejects

router = APIRouter(prefix="/api/rejects", tags=["rejects"])

Filter = Annotated[str | None, Query(max_length=255)]


@router.get("", operation_id="list_rejects", response_model=list[RejectOut])
async def list_rejects(
    _user: Viewer,
    supervisor: SupervisorDep,
    workflow: Filter = None,
    mapping: Filter = None,
    code: Filter = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[RejectOut]:
    """Newest first."""
    found = await asyncio.to_thread(
        supervisor.state.rejects.newest, workflow=workflow, mapping=mapping, code=code, limit=limit
    )
    return [
        RejectOut(
            id=r.id,
            at=r.at,
            workflow=r.workflow,
            mapping=r.mapping,
            record_id=r.record_id,
            code=r.code,
            message=r.message,
            record=dict(r.record),
        )
        for r in found
    ]


@router.post(
    "/retry",
    operation_id="retry_rejects",
    response_model=RetryOut,
    responses={
        404: problem("no inbound mapping of that name"),
        409: problem("the mapping is not two-way"),
    },
)
async def retry(
    body: RetryIn,
    by: Annotated[Actor, acting(Role.OPERATOR, Action.REJECTS_RETRY)],
    supervisor: SupervisorDep,
) -> RetryOut:
    """Queue the Campaign values of two-way mappings that the CRM refused for sending again
    (of one mapping, and of some records only, when given); the running inbound sends them.
    409 for a mapping that is not two-way, 404 for an unknown one."""
    with recorded(supervisor.engine, by, Action.REJECTS_RETRY, body.mapping or "") as details:
        config = await asyncio.to_thread(supervisor.config, "inbound")
        queued = await asyncio.to_thread(
            retry_rejects, config, supervisor.state, body.mapping, body.record_ids
        )
        details["queued"] = queued
    return RetryOut(queued=queued)
