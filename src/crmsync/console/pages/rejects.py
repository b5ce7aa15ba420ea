"""The Rejects page: rejected records, newest first, filtered by workflow, mapping and code."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from crmsync.api.deps import SupervisorDep
from crmsync.console.session import Viewer
from crmsync.console.templating import render

router = APIRouter()

_Filter = Annotated[str, Query(max_length=255)]


@router.get("/rejects", response_class=HTMLResponse)
async def rejects_page(
    request: Request,
    caller: Viewer,
    supervisor: SupervisorDep,
    workflow: _Filter = "",
    mapping: _Filter = "",
    code: _Filter = "",
) -> HTMLResponse:
    """The whole page, or only the table when htmx asks (filters changed)."""
    found = await asyncio.to_thread(
        supervisor.state.rejects.newest,
        workflow=workflow or None,
        mapping=mapping or None,
        code=code or None,
        limit=200,
    )
    template = "_rejects.html" if request.headers.get("HX-Request") else "rejects.html"
    chosen = {"workflow": workflow, "mapping": mapping, "code": code}
    return render(request, template, caller, page="rejects", rejects=found, chosen=chosen)
