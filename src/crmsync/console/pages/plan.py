"""The plan page of a two-way mapping: what its next merge would write to each side, field by
field, with each conflict and its winner (see :mod:`crmsync.twoway.plan`); nothing is written."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse

from crmsync.api.deps import Mappings
from crmsync.api.services.mappings import MappingNotFound
from crmsync.console.session import Viewer
from crmsync.console.templating import render
from crmsync.errors import ConfigurationError, CrmsyncError

router = APIRouter()

MappingName = Annotated[str, Path(max_length=255)]


@router.get("/mappings/{name}/plan", response_class=HTMLResponse)
async def plan_page(
    name: MappingName, request: Request, caller: Viewer, service: Mappings
) -> HTMLResponse:
    try:
        plan = await service.plan(name)
    except CrmsyncError as exc:
        if isinstance(exc, MappingNotFound) or exc.code == "UNKNOWN_MAPPING":
            return render(
                request,
                "not_found.html",
                caller,
                status_code=404,
                page="mappings",
                text=exc.message,
            )
        # As the API answers: the configuration or the store refuses (409), the CRM failed (502).
        status = 409 if isinstance(exc, ConfigurationError) else 502
        return render(
            request,
            "plan.html",
            caller,
            status_code=status,
            page="mappings",
            name=name,
            plan=None,
            problem=exc.message,
        )
    return render(request, "plan.html", caller, page="mappings", name=name, plan=plan, problem=None)
