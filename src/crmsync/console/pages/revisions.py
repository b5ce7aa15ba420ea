"""The Revisions page: who changed which workflow's configuration, what and when."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse

from crmsync.api.deps import Workflows
from crmsync.api.errors import NotFound
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


@router.get("/revisions/{revision_id}", response_class=HTMLResponse)
def revision_page(
    request: Request,
    caller: Viewer,
    service: Workflows,
    revision_id: Annotated[int, Path(ge=1, le=2**62)],
) -> HTMLResponse:
    try:
        revision, diff = service.changes(revision_id)
    except NotFound as exc:
        return render(request, "not_found.html", caller, status_code=404, text=exc.message)
    return render(request, "revision.html", caller, page="revisions", revision=revision, diff=diff)
