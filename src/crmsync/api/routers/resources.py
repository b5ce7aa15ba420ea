"""``/api/resources``: Campaign resources; edits of custom ones become pending revisions of
``inbound`` (publishing them to the store is ``crmsync resources publish``)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Path, status

from crmsync.api.auth import Viewer, acting
from crmsync.api.deps import Resources
from crmsync.api.models import RevisionSaved, problem
from crmsync.api.services.resources import ResourceOut
from crmsync.api.users import Role
from crmsync.audit import Action, Actor
from crmsync.store import ResourceDefinition

router = APIRouter(prefix="/api/resources", tags=["resources"])

ResourceName = Annotated[str, Path(max_length=63)]
_EDIT_ERRORS: dict[int | str, dict[str, Any]] = {
    404: problem("no such resource"),
    409: problem("built in, exists already, or renamed"),
    422: problem("invalid body or refused by the configuration checks"),
}


@router.get("", operation_id="list_resources", response_model=list[ResourceOut])
async def list_resources(_user: Viewer, service: Resources) -> list[ResourceOut]:
    """``profile`` and the custom resources of the latest revision, with their publication."""
    return await asyncio.to_thread(service.list)


@router.get(
    "/{name}",
    operation_id="get_resource",
    response_model=ResourceOut,
    responses={404: problem("no such resource")},
)
async def get_resource(name: ResourceName, _user: Viewer, service: Resources) -> ResourceOut:
    return await asyncio.to_thread(service.get, name)


@router.post(
    "",
    operation_id="create_resource",
    response_model=RevisionSaved,
    status_code=status.HTTP_201_CREATED,
    responses=_EDIT_ERRORS,
)
def create_resource(
    resource: ResourceDefinition,
    by: Annotated[Actor, acting(Role.ADMIN, Action.RESOURCE_CREATE)],
    service: Resources,
) -> RevisionSaved:
    return service.create(resource, by=by)


@router.put(
    "/{name}", operation_id="update_resource", response_model=RevisionSaved, responses=_EDIT_ERRORS
)
def update_resource(
    name: ResourceName,
    resource: ResourceDefinition,
    by: Annotated[Actor, acting(Role.ADMIN, Action.RESOURCE_UPDATE)],
    service: Resources,
) -> RevisionSaved:
    return service.update(name, resource, by=by)


@router.delete(
    "/{name}", operation_id="delete_resource", response_model=RevisionSaved, responses=_EDIT_ERRORS
)
def delete_resource(
    name: ResourceName,
    by: Annotated[Actor, acting(Role.ADMIN, Action.RESOURCE_DELETE)],
    service: Resources,
) -> RevisionSaved:
    return service.delete(name, by=by)
