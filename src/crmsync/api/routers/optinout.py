"""``/api/optinout``: direction and mapping pairs of the opt-in/out workflow, and the fields a
pair may use."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from crmsync.api.auth import Viewer, acting
from crmsync.api.deps import OptInOut
from crmsync.api.models import RevisionSaved, problem
from crmsync.api.services.optinout import OptInOutFields, OptInOutSettings
from crmsync.api.users import Role
from crmsync.audit import Action, Actor
from crmsync.config.names import CRM_NAME_PATTERN

router = APIRouter(prefix="/api/optinout", tags=["optinout"])


@router.get("", operation_id="get_optinout", response_model=OptInOutSettings)
def get_optinout(
    _user: Viewer,
    service: OptInOut,
    latest: Annotated[bool, Query(description="With pending edits.")] = False,
) -> OptInOutSettings:
    """Direction, connection, contact table, pairs, decision log: the active revision of
    optinout (what it runs on), or with ``latest`` its pending edits."""
    return service.settings(latest=latest)


@router.put(
    "",
    operation_id="update_optinout",
    response_model=RevisionSaved,
    responses={
        404: problem("the connection is not known to the CRM metadata routes"),
        422: problem("invalid body, or refused by the configuration checks or the CRM metadata"),
        502: problem("the CRM failed: the pairs could not be checked, nothing is saved"),
    },
)
async def update_optinout(
    settings: OptInOutSettings,
    by: Annotated[Actor, acting(Role.ADMIN, Action.OPTINOUT_UPDATE)],
    service: OptInOut,
) -> RevisionSaved:
    """Save the settings as a pending revision of optinout, once the CRM fields of the pairs
    pass the contact table's metadata."""
    return await service.save(settings, by=by)


@router.get(
    "/fields",
    operation_id="get_optinout_fields",
    response_model=OptInOutFields,
    responses={
        404: problem("unknown connection or table"),
        502: problem("the CRM failed"),
    },
)
async def get_optinout_fields(
    _user: Viewer,
    service: OptInOut,
    connection: Annotated[str | None, Query(max_length=255)] = None,
    crm_table: Annotated[str | None, Query(pattern=CRM_NAME_PATTERN)] = None,
) -> OptInOutFields:
    """The Campaign opt-out attributes and the CRM contact table's Boolean fields."""
    return await service.fields(connection, crm_table)
