"""``/api/events``: record marketing events; the outbound workflow's four switches."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, status

from crmsync.api.auth import Operator, Viewer, acting
from crmsync.api.deps import Events
from crmsync.api.models import RevisionSaved, problem
from crmsync.api.services.events import MAX_BULK, EventIn, EventsRecorded
from crmsync.api.users import Role
from crmsync.audit import Action, Actor
from crmsync.config.models import OutboundEvents

router = APIRouter(prefix="/api/events", tags=["events"])

_RECORD_ERRORS: dict[int | str, dict[str, Any]] = {
    409: problem("unsubscribes before the store's profile table is published"),
    422: problem("an invalid event: nothing is recorded"),
}


@router.post(
    "",
    operation_id="record_event",
    response_model=EventsRecorded,
    status_code=status.HTTP_201_CREATED,
    responses=_RECORD_ERRORS,
)
async def record_event(event: EventIn, _user: Operator, service: Events) -> EventsRecorded:
    """Record one event (an id already recorded for its type adds nothing)."""
    return await asyncio.to_thread(service.record, [event])


@router.post(
    "/bulk",
    operation_id="record_events",
    response_model=EventsRecorded,
    status_code=status.HTTP_201_CREATED,
    responses=_RECORD_ERRORS,
)
async def record_events_bulk(
    events: Annotated[list[EventIn], Body(min_length=1, max_length=MAX_BULK)],
    _user: Operator,
    service: Events,
) -> EventsRecorded:
    """Record up to 10,000 events in one transaction: one invalid event records none."""
    return await asyncio.to_thread(service.record, events)


@router.get("/settings", operation_id="get_event_settings", response_model=OutboundEvents)
def get_event_settings(
    _user: Viewer,
    service: Events,
    latest: Annotated[bool, Query(description="With pending edits.")] = False,
) -> OutboundEvents:
    """Which event types flow to the CRM: the active revision of outbound (what it runs on),
    or with ``latest`` its pending edits."""
    return service.settings(latest=latest)


@router.put(
    "/settings",
    operation_id="update_event_settings",
    response_model=RevisionSaved,
    responses={422: problem("invalid body or refused by the configuration checks")},
)
def update_event_settings(
    switches: OutboundEvents,
    by: Annotated[Actor, acting(Role.ADMIN, Action.EVENTS_UPDATE)],
    service: Events,
) -> RevisionSaved:
    """Save the four switches as a pending revision of outbound."""
    return service.save_settings(switches, by=by)
