"""The Workflows page: status, backlog and counters live (polled), start/stop for operators."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse

from crmsync.api.deps import SupervisorDep, Workflows
from crmsync.api.models import WorkflowOut
from crmsync.console.session import Caller, Operator, Viewer
from crmsync.console.templating import PREFIX, message, render
from crmsync.errors import ConfigurationError
from crmsync.workflows.supervisor import Supervisor

router = APIRouter()

WorkflowName = Annotated[str, Path(max_length=64)]

#: Where each workflow's configuration is edited.
EDIT_PAGES = {
    "inbound": f"{PREFIX}/mappings",
    "outbound": f"{PREFIX}/events",
    "optinout": f"{PREFIX}/optinout",
}


def _card(
    request: Request,
    caller: Caller,
    workflow: WorkflowOut,
    supervisor: Supervisor,
    *,
    note: str | None = None,
) -> HTMLResponse:
    return render(
        request,
        "_workflow.html",
        caller,
        workflow=workflow,
        warning=supervisor.pending_warning(workflow.name),
        edit=EDIT_PAGES.get(workflow.name),
        note=note,
    )


@router.get("/workflows", response_class=HTMLResponse)
async def workflows_page(
    request: Request, caller: Viewer, service: Workflows, supervisor: SupervisorDep
) -> HTMLResponse:
    views = await service.all()
    cards = [
        (view, supervisor.pending_warning(view.name), EDIT_PAGES.get(view.name)) for view in views
    ]
    return render(request, "workflows.html", caller, page="workflows", cards=cards)


@router.get("/workflows/{name}", response_class=HTMLResponse)
async def workflow_card(
    name: WorkflowName,
    request: Request,
    caller: Viewer,
    service: Workflows,
    supervisor: SupervisorDep,
) -> HTMLResponse:
    """One workflow's card (polled every 2 s by the page)."""
    try:
        workflow = await service.get(name)
    except ConfigurationError as exc:
        return message(request, exc.message, status_code=404, kind="error")
    return _card(request, caller, workflow, supervisor)


@router.post("/workflows/{name}/start", response_class=HTMLResponse)
async def start(
    name: WorkflowName,
    request: Request,
    caller: Operator,
    service: Workflows,
    supervisor: SupervisorDep,
) -> HTMLResponse:
    try:
        workflow = await service.start(name, by=caller.actor)
    except ConfigurationError as exc:
        return message(request, exc.message, status_code=409, kind="error")
    return _card(request, caller, workflow, supervisor, note=f"{name} started")


@router.post("/workflows/{name}/stop", response_class=HTMLResponse)
async def stop(
    name: WorkflowName,
    request: Request,
    caller: Operator,
    service: Workflows,
    supervisor: SupervisorDep,
) -> HTMLResponse:
    try:
        stopped = await service.stop(name, by=caller.actor)
    except ConfigurationError as exc:
        return message(request, exc.message, status_code=409, kind="error")
    workflow = await service.get(name)
    return _card(request, caller, workflow, supervisor, note=stopped.warning or f"{name} stopped")
