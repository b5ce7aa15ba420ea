"""``/api/revisions``: who changed which workflow's configuration, when; export as YAML."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import PlainTextResponse, Response

from crmsync.api.auth import Viewer
from crmsync.api.deps import Workflows
from crmsync.api.models import RevisionChanges, RevisionOut, problem

router = APIRouter(
    prefix="/api/revisions",
    tags=["revisions"],
    responses={404: problem("no such workflow or revision")},
)


@router.get("", operation_id="list_revisions", response_model=list[RevisionOut])
def list_revisions(
    _user: Viewer,
    service: Workflows,
    workflow: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[RevisionOut]:
    """Newest first."""
    return service.revisions(workflow, limit)


@router.get(
    "/{workflow}/export",
    operation_id="export_revision",
    # Response, not PlainTextResponse: error answers stay documented as JSON.
    response_class=Response,
    responses={
        200: {
            "description": "The configuration file: a YAML mapping of its sections.",
            "content": {"application/yaml": {"schema": {"type": "object"}}},
        }
    },
)
def export_revision(
    workflow: str,
    _user: Viewer,
    service: Workflows,
    latest: Annotated[bool, Query(description="With pending edits.")] = False,
) -> Response:
    """The workflow's configuration file (its active revision, or with ``latest`` its pending)."""
    return PlainTextResponse(service.export(workflow, latest=latest), media_type="application/yaml")


@router.get(
    "/{revision_id}/changes", operation_id="revision_changes", response_model=RevisionChanges
)
def revision_changes(
    revision_id: Annotated[int, Path(ge=1, le=2**62)], _user: Viewer, service: Workflows
) -> RevisionChanges:
    """What the revision changed: a unified diff of its YAML against the workflow's revision
    before it."""
    revision, diff = service.changes(revision_id)
    return RevisionChanges(revision=revision, diff=diff)
