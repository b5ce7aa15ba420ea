"""The Revisions page: who changed which workflow's configuration, what and when."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from crmsync.api.deps import Workflows
from crmsync.console.session import Viewer
from crmsync.console.templating import message, render
from crmsync.errors import ConfigurationError

router = APIRouter()


@router.get("/revisions", response_class=HTMLResponse)
def revisions_page(
    request: Request,
    caller: Viewer,
    service: Workflows,
    workflow: Annotated[str, Query(max_length=64)] = "",
) -> HTMLResponse:
    try:
        found = service.revisions(workflow or None, 200)
    except ConfigurationError as exc:
        return message(request, exc.message, status_code=404, kind="error")
    return render(
        request, "revisions.html", caller, page="revisions", revisions=found, chosen=workflow
    )
