"""``/api/audit``: the operator audit trail, who did what and when (admins only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import AwareDatetime

from crmsync.api.auth import Admin
from crmsync.api.deps import Audit
from crmsync.api.services.audit import MAX_PAGE, AuditOut

router = APIRouter(prefix="/api/audit", tags=["audit"])


@router.get("", operation_id="list_audit", response_model=list[AuditOut])
async def list_audit(
    _user: Admin,
    service: Audit,
    user: Annotated[
        str | None,
        Query(
            max_length=255,
            description="A user: their own actions, their tokens' and the OS user's of that "
            "name; 'token:ada' or 'cli:root' for that actor only.",
        ),
    ] = None,
    action: Annotated[
        str | None,
        Query(
            max_length=64,
            description="An action ('workflow.start'), or a prefix ending in '.' ('workflow.').",
        ),
    ] = None,
    since: Annotated[
        AwareDatetime | None, Query(description="From this time, with its zone (ISO 8601).")
    ] = None,
    until: Annotated[
        AwareDatetime | None, Query(description="Before this time, with its zone (ISO 8601).")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    offset: Annotated[int, Query(ge=0, le=2**31)] = 0,
) -> list[AuditOut]:
    """Operator actions, newest first; every filter given must match."""
    return await service.entries(
        user=user, action=action, since=since, until=until, limit=limit, offset=offset
    )
