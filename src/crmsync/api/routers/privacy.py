"""``/api/privacy``: privacy deletes, their records and the suppression list (admins only; see
docs/privacy.md). A profile is named in the body, never in the URL, so that an email does not
end up in access logs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from crmsync.api.auth import Admin, acting
from crmsync.api.deps import Privacy
from crmsync.api.models import problem
from crmsync.api.services.privacy import (
    LookupOut,
    PrivacyDeleteIn,
    PrivacyDeleteOut,
    PrivacyRecordOut,
    ProfileIn,
    SuppressionOut,
    UnsuppressIn,
)
from crmsync.api.users import Role
from crmsync.audit import Action, Actor

router = APIRouter(prefix="/api/privacy", tags=["privacy"])


@router.post(
    "/lookup",
    operation_id="look_up_profile",
    response_model=LookupOut,
    responses={404: problem("no profile matches"), 409: problem("several profiles match")},
)
async def look_up(body: ProfileIn, _user: Admin, service: Privacy) -> LookupOut:
    """The profile's ids and how many linked records and events a delete would remove."""
    return await service.look_up(body)


@router.post(
    "/deletes",
    operation_id="privacy_delete",
    response_model=PrivacyDeleteOut,
    responses={
        404: problem("no profile matches, and no earlier privacy delete of one"),
        409: problem("refused as asked (several profiles match, no CRM id for a CRM delete)"),
    },
)
async def delete(
    body: PrivacyDeleteIn,
    by: Annotated[Actor, acting(Role.ADMIN, Action.PRIVACY_DELETE)],
    service: Privacy,
) -> PrivacyDeleteOut:
    """Remove the profile, its linked records and what crmsync keeps about them, suppress its
    ids, and with ``crm_delete`` delete the CRM record too (exactly once: asking again finishes
    a delete a failure interrupted). A CRM refusal is in the record; the local delete stands."""
    return await service.delete(body, by)


@router.get("/deletes", operation_id="list_privacy_records", response_model=list[PrivacyRecordOut])
async def list_records(
    _user: Admin, service: Privacy, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> list[PrivacyRecordOut]:
    """Privacy deletes and lifted suppressions, newest first."""
    return await service.records(limit)


@router.get("/suppressions", operation_id="list_suppressions", response_model=list[SuppressionOut])
async def list_suppressions(_user: Admin, service: Privacy) -> list[SuppressionOut]:
    """The suppression list, oldest first: ids and email hashes only."""
    return await service.suppressions()


@router.post(
    "/unsuppress",
    operation_id="unsuppress",
    response_model=PrivacyRecordOut,
    responses={404: problem("not suppressed")},
)
async def unsuppress(
    body: UnsuppressIn,
    by: Annotated[Actor, acting(Role.ADMIN, Action.PRIVACY_UNSUPPRESS)],
    service: Privacy,
) -> PrivacyRecordOut:
    """Lift one suppression (a CRM id, or an email): the CRM may bring it back from then on."""
    return await service.unsuppress(body, by)
