"""The Workers page: every registered ``crmsync run`` and ``serve`` process, live or gone, with
the leases each holds (polled every 5 s)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from crmsync.api.deps import SupervisorDep
from crmsync.console.session import Viewer
from crmsync.console.templating import render

router = APIRouter()


@router.get("/workers", response_class=HTMLResponse)
async def workers_page(request: Request, caller: Viewer, supervisor: SupervisorDep) -> HTMLResponse:
    """The whole page, or only the table when htmx polls it."""
    found = await asyncio.to_thread(supervisor.state.workers.all)
    template = "_workers.html" if request.headers.get("HX-Request") else "workers.html"
    return render(request, template, caller, page="workers", workers=found)
