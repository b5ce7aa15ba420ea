"""The mapping editor: keys, field mappings, replacements, filters and advanced settings.

The form is drawn by the server from a draft (see :mod:`crmsync.console.mapping_form`): adding or
removing a row, or choosing another field, posts the form and gets it back redrawn. Saving goes
through :class:`~crmsync.api.services.mappings.MappingService` as a pending revision; problems
are shown next to the input they name.
"""

from __future__ import annotations

import asyncio
import re
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, Response

from crmsync.api.deps import Crm, Mappings, Resources, SupervisorDep
from crmsync.api.services.crm import CrmField, CrmService
from crmsync.api.services.resources import ResourceOut, ResourceService
from crmsync.config import ConfigError
from crmsync.config.models import FilterOp
from crmsync.connectors.base import CrmType
from crmsync.console.forms import form_fields
from crmsync.console.mapping_form import (
    DraftInvalid,
    add_row,
    draft_from_form,
    draft_from_mapping,
    issues_by_path,
    mapping_from_draft,
    remove_row,
)
from crmsync.console.session import Admin, Caller, Viewer
from crmsync.console.templating import PREFIX, render
from crmsync.errors import CrmsyncError
from crmsync.twoway import TwoWayFigures
from crmsync.workflows.supervisor import Supervisor

router = APIRouter()

_Name = Annotated[str, Query(max_length=255)]
_ACTION = re.compile(r"(add|remove)-(fields|replacements|filters)(?:-(\d{1,4}))?")


async def _editor(
    request: Request,
    caller: Caller,
    draft: dict[str, Any],
    *,
    mode: str,
    crm: CrmService,
    resources: ResourceService,
    supervisor: Supervisor,
    issues: dict[str, str] | None = None,
    status_code: int = 200,
    template: str = "_editor.html",
    figures: TwoWayFigures | None = None,
    two_way: bool = False,
) -> HTMLResponse:
    """The editor for ``draft``, with the CRM table's and the resource's fields (and a two-way
    mapping's ``figures`` on its page)."""
    fields: list[CrmField] = []
    primary_key = ""
    problem = None
    try:
        detail = await crm.table(draft["connection"], draft["crm_table"])
        fields, primary_key = list(detail.fields), detail.primary_key
    except CrmsyncError as exc:
        problem = f"the CRM table's fields could not be read: {exc.message}"
    resource = _resource(resources, draft["resource"])
    return render(
        request,
        template,
        caller,
        status_code=status_code,
        page="mappings",
        draft=draft,
        mode=mode,
        crm_fields={f.name: f for f in fields},
        crm_primary_key=primary_key,
        campaign_fields={f.name: f for f in resource.fields} if resource else {},
        campaign_keys=_keys(resource) if resource else (),
        ops=[op.value for op in FilterOp],
        choice_types=(CrmType.PICKLIST, CrmType.BOOLEAN),
        issues=issues or {},
        metadata_problem=problem,
        warning=supervisor.pending_warning("inbound"),
        figures=figures,
        two_way=two_way,
    )


def _resource(resources: ResourceService, name: str) -> ResourceOut | None:
    try:
        return resources.get(name)
    except CrmsyncError:
        return None


def _keys(resource: ResourceOut) -> list[str]:
    """The fields that may hold the CRM id: the identifier and the unique fields."""
    return [f.name for f in resource.fields if f.unique or f.name == resource.identifier]


@router.get("/mappings/new", response_class=HTMLResponse)
async def new_mapping(
    request: Request,
    caller: Admin,
    crm: Crm,
    resources: Resources,
    supervisor: SupervisorDep,
    connection: _Name = "",
    crm_table: _Name = "",
    resource: _Name = "",
    name: _Name = "",
) -> HTMLResponse:
    found = _resource(resources, resource)
    key = found.identifier if found else None
    draft = draft_from_form(
        {
            "name": name,
            "connection": connection,
            "crm_table": crm_table,
            "resource": resource,
            "pk_campaign": key or "",
            "apply_deletes": "on",
        }
    )
    add_row(draft, "fields")
    return await _editor(
        request,
        caller,
        draft,
        mode="new",
        crm=crm,
        resources=resources,
        supervisor=supervisor,
        template="editor.html",
    )


@router.get("/mappings/{name}/edit", response_class=HTMLResponse)
async def edit_mapping(
    name: Annotated[str, Path(max_length=255)],
    request: Request,
    caller: Viewer,
    service: Mappings,
    crm: Crm,
    resources: Resources,
    supervisor: SupervisorDep,
) -> HTMLResponse:
    try:
        mapping = service.get(name)
    except CrmsyncError as exc:
        return render(
            request, "not_found.html", caller, status_code=404, page="mappings", text=exc.message
        )
    figures = await asyncio.to_thread(service.figures, [mapping])
    return await _editor(
        request,
        caller,
        draft_from_mapping(mapping),
        mode="edit",
        crm=crm,
        resources=resources,
        supervisor=supervisor,
        template="editor.html",
        figures=figures.get(name),
        two_way=mapping.two_way,
    )


@router.post("/mappings/editor", response_class=HTMLResponse)
async def redraw(
    request: Request, caller: Admin, crm: Crm, resources: Resources, supervisor: SupervisorDep
) -> Response:
    """The editor again, after the action of the button pressed (add or remove a row) or with
    the field just chosen."""
    form = await form_fields(request)
    draft = draft_from_form(form)
    action = _ACTION.fullmatch(form.get("action", ""))
    if action is not None:
        verb, kind, index = action.groups()
        if verb == "add":
            add_row(draft, kind)
        elif index is not None:
            remove_row(draft, kind, int(index))
    mode = "edit" if form.get("mode") == "edit" else "new"
    return await _editor(
        request, caller, draft, mode=mode, crm=crm, resources=resources, supervisor=supervisor
    )


@router.post("/mappings/save", response_class=HTMLResponse)
async def save(
    request: Request,
    caller: Admin,
    service: Mappings,
    crm: Crm,
    resources: Resources,
    supervisor: SupervisorDep,
) -> Response:
    """Save the mapping as a pending revision of inbound, or show its problems."""
    form = await form_fields(request)
    draft = draft_from_form(form)
    mode = "edit" if form.get("mode") == "edit" else "new"
    try:
        detail = await crm.table(draft["connection"], draft["crm_table"])
        crm_fields = {f.name: f for f in detail.fields}
    except CrmsyncError:
        crm_fields = {}
    resource = _resource(resources, draft["resource"])
    campaign_types = {f.name: f.type for f in resource.fields} if resource else {}
    names = [m.name for m in service.list()]
    try:
        mapping = mapping_from_draft(
            draft,
            {name: f.type for name, f in crm_fields.items()},
            {name: tuple(o.value for o in f.options) for name, f in crm_fields.items()},
            campaign_types,
        )
        if mode == "edit":
            saved = await service.update(draft["name"], mapping, by=caller.actor)
        else:
            saved = await service.create(mapping, by=caller.actor)
    except DraftInvalid as exc:
        issues = exc.issues
    except ConfigError as exc:
        index = names.index(draft["name"]) if draft["name"] in names else len(names)
        issues = issues_by_path(exc, index)
    except CrmsyncError as exc:
        issues = {"(mapping)": exc.message}
    else:
        return Response(
            status_code=204, headers={"HX-Redirect": f"{PREFIX}/mappings?saved={saved.revision.id}"}
        )
    return await _editor(
        request,
        caller,
        draft,
        mode=mode,
        crm=crm,
        resources=resources,
        supervisor=supervisor,
        issues=issues,
        status_code=422,
    )
