"""The Inbound mappings page: the list with edit, delete and replay (and a two-way mapping's
conflicts and Campaign edits waiting), and "Add new mapping"."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse

from crmsync.api.deps import Crm, Mappings, Resources, SupervisorDep
from crmsync.console.session import Admin, Caller, Operator, Viewer
from crmsync.console.templating import message, render
from crmsync.errors import CrmsyncError
from crmsync.workflows.supervisor import Supervisor

router = APIRouter()

MappingName = Annotated[str, Path(max_length=255)]


async def _list(
    request: Request,
    caller: Caller,
    service: Mappings,
    supervisor: Supervisor,
    *,
    note: str | None = None,
    template: str = "_mapping_list.html",
    **context: Any,
) -> HTMLResponse:
    replays = await asyncio.to_thread(supervisor.state.replays.pending)
    mappings = service.list()
    return render(
        request,
        template,
        caller,
        page="mappings",
        mappings=mappings,
        figures=await asyncio.to_thread(service.figures, mappings),
        replaying={r.mapping for r in replays},
        warning=supervisor.pending_warning("inbound"),
        connections=sorted(supervisor.config("inbound", latest=True).connections),
        note=note,
        **context,
    )


@router.get("/mappings", response_class=HTMLResponse)
async def mappings_page(
    request: Request,
    caller: Viewer,
    service: Mappings,
    supervisor: SupervisorDep,
    saved: Annotated[int | None, Query(ge=1)] = None,
) -> HTMLResponse:
    """The list; ``saved``: the revision the editor has just saved."""
    note = None
    if saved is not None:
        note = f"saved as pending revision {saved}: it takes effect when inbound is started again"
    return await _list(
        request, caller, service, supervisor, template="mappings.html", status_note=note
    )


@router.get("/mappings/choices", response_class=HTMLResponse)
async def new_mapping_choices(
    request: Request,
    caller: Admin,
    service: Mappings,
    crm: Crm,
    resources: Resources,
    connection: Annotated[str, Query(max_length=255)] = "",
) -> HTMLResponse:
    """The tables and resources a new mapping may pair: those not mapped yet on either side."""
    mapped = service.list()
    connections = crm.connections()
    chosen = connection or (connections[0] if connections else "")
    try:
        tables = await crm.tables(chosen) if chosen else []
    except CrmsyncError as exc:
        return message(request, f"the CRM tables could not be read: {exc.message}", kind="error")
    taken = {m.crm_table for m in mapped if m.connection == chosen}
    used = {m.resource for m in mapped}
    return render(
        request,
        "_mapping_choices.html",
        caller,
        connections=connections,
        connection=chosen,
        tables=sorted((t for t in tables if t.name not in taken), key=lambda t: t.name),
        resources=[r.name for r in resources.list() if r.name not in used],
    )


@router.post("/mappings/{name}/delete", response_class=HTMLResponse)
async def delete_mapping(
    name: MappingName,
    request: Request,
    caller: Admin,
    service: Mappings,
    supervisor: SupervisorDep,
) -> HTMLResponse:
    try:
        saved = service.delete(name, by=caller.actor)
    except CrmsyncError as exc:
        return message(request, exc.message, status_code=409, kind="error")
    return await _list(request, caller, service, supervisor, note=saved.message)


@router.post("/mappings/{name}/replay", response_class=HTMLResponse)
async def replay_mapping(
    name: MappingName,
    request: Request,
    caller: Operator,
    service: Mappings,
    supervisor: SupervisorDep,
) -> HTMLResponse:
    try:
        replay = await service.replay(name, by=caller.actor)
    except CrmsyncError as exc:
        return message(request, exc.message, status_code=409, kind="error")
    note = (
        f"replay of '{replay.mapping}' requested ({replay.table_rows:,} rows in the CRM): "
        "it runs at the next start of inbound"
    )
    return await _list(request, caller, service, supervisor, note=note)
