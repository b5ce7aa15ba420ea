"""The Outbound events page (four switches) and the Opt-in/out page (direction, pairs).

Both save through their services as pending revisions; problems are listed by their path.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from pydantic import ValidationError

from crmsync.api.deps import Events, OptInOut, SupervisorDep
from crmsync.api.services.optinout import OptInOutSettings
from crmsync.config import ConfigError
from crmsync.config.models import OutboundEvents
from crmsync.console.forms import form_fields
from crmsync.console.session import Admin, Caller, Viewer
from crmsync.console.templating import render
from crmsync.errors import CrmsyncError
from crmsync.workflows.supervisor import Supervisor

router = APIRouter()

EVENT_TYPES = ("send", "open", "click", "bounce")
DIRECTIONS = {
    "disabled": "disabled",
    "crm_to_campaign": "CRM → Campaign",
    "campaign_to_crm": "Campaign → CRM",
    "bidirectional": "both ways (the newest change wins)",
}


def _problems(exc: Exception) -> dict[str, str]:
    """The problems of a refused edit, by their path."""
    if isinstance(exc, ValidationError):
        return {".".join(str(p) for p in e["loc"]) or "(form)": e["msg"] for e in exc.errors()}
    if isinstance(exc, ConfigError):
        return {issue.path: issue.message for issue in exc.issues if issue.is_error}
    if isinstance(exc, CrmsyncError):
        return {"(form)": exc.message}
    raise exc


# -- outbound events ---------------------------------------------------------------------------


def _events_page(
    request: Request,
    caller: Caller,
    switches: OutboundEvents,
    supervisor: Supervisor,
    **context: Any,
) -> HTMLResponse:
    return render(
        request,
        "events.html",
        caller,
        page="events",
        switches=switches.model_dump(),
        types=EVENT_TYPES,
        warning=supervisor.pending_warning("outbound"),
        **context,
    )


@router.get("/events", response_class=HTMLResponse)
def events_page(
    request: Request, caller: Viewer, service: Events, supervisor: SupervisorDep
) -> HTMLResponse:
    # The form edits the latest revision (pending edits included).
    return _events_page(request, caller, service.settings(latest=True), supervisor)


@router.post("/events", response_class=HTMLResponse)
async def save_events(
    request: Request, caller: Admin, service: Events, supervisor: SupervisorDep
) -> HTMLResponse:
    form = await form_fields(request)
    switches = OutboundEvents(**{name: form.get(name) == "on" for name in EVENT_TYPES})
    try:
        saved = service.save_settings(switches, by=caller.actor)
    except CrmsyncError as exc:
        return _events_page(
            request, caller, switches, supervisor, issues=_problems(exc), status_code=422
        )
    return _events_page(request, caller, switches, supervisor, status_note=saved.message)


# -- opt-in/out --------------------------------------------------------------------------------


async def _optinout_page(
    request: Request,
    caller: Caller,
    service: OptInOut,
    supervisor: Supervisor,
    settings: dict[str, Any],
    **context: Any,
) -> HTMLResponse:
    crm_fields: list[str] = []
    problem = None
    try:
        found = await service.crm_fields(
            settings.get("connection") or None, settings.get("crm_table") or None
        )
        crm_fields = [f.name for f in found.fields] if found else []
    except CrmsyncError as exc:
        problem = f"the CRM contact table's fields could not be read: {exc.message}"
    pairs = {m["campaign"]: m["crm"] for m in settings.get("mappings", ())}
    return render(
        request,
        "optinout.html",
        caller,
        page="optinout",
        settings=settings,
        pairs=pairs,
        directions=DIRECTIONS,
        connections=sorted(supervisor.config("optinout", latest=True).connections),
        campaign_fields=service.campaign_fields(),
        crm_fields=crm_fields,
        metadata_problem=problem,
        warning=supervisor.pending_warning("optinout"),
        **context,
    )


@router.get("/optinout", response_class=HTMLResponse)
async def optinout_page(
    request: Request, caller: Viewer, service: OptInOut, supervisor: SupervisorDep
) -> HTMLResponse:
    settings = service.settings(latest=True).model_dump(mode="json")
    return await _optinout_page(request, caller, service, supervisor, settings)


@router.post("/optinout", response_class=HTMLResponse)
async def save_optinout(
    request: Request, caller: Admin, service: OptInOut, supervisor: SupervisorDep
) -> HTMLResponse:
    form = await form_fields(request)
    pairs = [
        {"crm": form[f"pair-{a.name}"], "campaign": a.name}
        for a in service.campaign_fields()
        if form.get(f"pair-{a.name}")
    ]
    settings: dict[str, Any] = {
        "direction": form.get("direction", "disabled"),
        "connection": form.get("connection") or None,
        "crm_table": form.get("crm_table") or None,
        "mappings": pairs,
        "log_decisions": form.get("log_decisions") == "on",
    }
    try:
        saved = await service.save(OptInOutSettings.model_validate(settings), by=caller.actor)
    except (ValidationError, CrmsyncError) as exc:
        return await _optinout_page(
            request, caller, service, supervisor, settings, issues=_problems(exc), status_code=422
        )
    return await _optinout_page(
        request, caller, service, supervisor, settings, status_note=saved.message
    )
