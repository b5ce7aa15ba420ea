"""``/api/workflows``: status, start and stop of inbound, outbound and optinout."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from crmsync.api.auth import Viewer, acting
from crmsync.api.deps import Workflows
from crmsync.api.models import StopOut, WorkflowOut, problem
from crmsync.api.users import Role
from crmsync.audit import Action, Actor

router = APIRouter(
    prefix="/api/workflows",
    tags=["workflows"],
    responses={
        404: problem("no such workflow"),
        409: problem("the configuration does not switch it on"),
    },
)

WorkflowName = Annotated[str, Path(max_length=64, description="inbound, outbound or optinout")]


@router.get("", operation_id="list_workflows", response_model=list[WorkflowOut])
async def list_workflows(_user: Viewer, service: Workflows) -> list[WorkflowOut]:
    return await service.all()


@router.get("/{name}", operation_id="get_workflow", response_model=WorkflowOut)
async def get_workflow(name: WorkflowName, _user: Viewer, service: Workflows) -> WorkflowOut:
    return await service.get(name)


@router.post("/{name}/start", operation_id="start_workflow", response_model=WorkflowOut)
async def start_workflow(
    name: WorkflowName,
    by: Annotated[Actor, acting(Role.OPERATOR, Action.WORKFLOW_START)],
    service: Workflows,
) -> WorkflowOut:
    """Start on the pending revision (activated now) or the active one."""
    return await service.start(name, by=by)


@router.post("/{name}/stop", operation_id="stop_workflow", response_model=StopOut)
async def stop_workflow(
    name: WorkflowName,
    by: Annotated[Actor, acting(Role.OPERATOR, Action.WORKFLOW_STOP)],
    service: Workflows,
) -> StopOut:
    """Stop cleanly; ``warning`` says when pending edits wait for the next start."""
    return await service.stop(name, by=by)
