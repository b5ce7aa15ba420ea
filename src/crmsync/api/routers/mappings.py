"""``/api/mappings``: inbound table mappings; edits become pending revisions of ``inbound``; the
conflicts the two-way merge logged for a mapping."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, status

from crmsync.api.auth import Viewer, acting
from crmsync.api.deps import Mappings
from crmsync.api.models import ConflictOut, MergePlanOut, ReplayOut, RevisionSaved, problem
from crmsync.api.users import Role
from crmsync.audit import Action, Actor
from crmsync.config.models import InboundMapping

router = APIRouter(
    prefix="/api/mappings",
    tags=["mappings"],
    responses={
        404: problem("no such mapping"),
        409: problem("exists already, fixed tables or key field, or a replay refused"),
    },
)

MappingName = Annotated[str, Path(max_length=255)]
#: Saving a mapping checks it against the CRM's metadata first.
_CHECKED: dict[int | str, dict[str, Any]] = {
    422: problem("invalid body, or refused by the configuration checks or the CRM metadata"),
    502: problem("the CRM failed: the mapping could not be checked, nothing is saved"),
}


@router.get("", operation_id="list_mappings", response_model=list[InboundMapping])
def list_mappings(_user: Viewer, service: Mappings) -> list[InboundMapping]:
    """The mappings of the latest revision (pending edits included)."""
    return service.list()


@router.post(
    "",
    operation_id="create_mapping",
    response_model=RevisionSaved,
    status_code=status.HTTP_201_CREATED,
    responses=_CHECKED,
)
async def create_mapping(
    mapping: InboundMapping,
    by: Annotated[Actor, acting(Role.ADMIN, Action.MAPPING_CREATE)],
    service: Mappings,
) -> RevisionSaved:
    return await service.create(mapping, by=by)


@router.get("/{name}", operation_id="get_mapping", response_model=InboundMapping)
def get_mapping(name: MappingName, _user: Viewer, service: Mappings) -> InboundMapping:
    return service.get(name)


@router.put(
    "/{name}", operation_id="update_mapping", response_model=RevisionSaved, responses=_CHECKED
)
async def update_mapping(
    name: MappingName,
    mapping: InboundMapping,
    by: Annotated[Actor, acting(Role.ADMIN, Action.MAPPING_UPDATE)],
    service: Mappings,
) -> RevisionSaved:
    return await service.update(name, mapping, by=by)


@router.delete("/{name}", operation_id="delete_mapping", response_model=RevisionSaved)
def delete_mapping(
    name: MappingName,
    by: Annotated[Actor, acting(Role.ADMIN, Action.MAPPING_DELETE)],
    service: Mappings,
) -> RevisionSaved:
    return service.delete(name, by=by)


@router.post(
    "/{name}/replay",
    operation_id="replay_mapping",
    response_model=ReplayOut,
    responses={502: problem("the CRM could not count the table's records: nothing recorded")},
)
async def replay_mapping(
    name: MappingName,
    by: Annotated[Actor, acting(Role.OPERATOR, Action.MAPPING_REPLAY)],
    service: Mappings,
) -> ReplayOut:
    """Replay every record at the next start of inbound (409 when refused: limits, pending;
    502 when the CRM cannot be reached or fails the count, and then nothing is recorded)."""
    return await service.replay(name, by=by)


@router.get(
    "/{name}/conflicts", operation_id="list_mapping_conflicts", response_model=list[ConflictOut]
)
async def list_mapping_conflicts(
    name: MappingName,
    _user: Viewer,
    service: Mappings,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    record: Annotated[str | None, Query(max_length=255, description="A CRM record's id.")] = None,
) -> list[ConflictOut]:
    """The conflicts of the two-way merge, newest first (none for a one-way mapping)."""
    return await asyncio.to_thread(service.conflicts, name, limit=limit, record_key=record)


@router.get(
    "/{name}/plan",
    operation_id="plan_mapping",
    response_model=MergePlanOut,
    responses={
        409: problem("the mapping is not two-way, or the store is not ready for it"),
        502: problem("the CRM could not be read: nothing was planned"),
    },
)
async def plan_mapping(
    name: MappingName,
    _user: Viewer,
    service: Mappings,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
) -> MergePlanOut:
    """What the next merge of a two-way mapping would write to each side, field by field, with
    each conflict and its winner; nothing is written to the store or the CRM (404 unknown, 409
    not two-way, 502 when the CRM cannot be read)."""
    return await service.plan(name, limit=limit)
