"""Marketing events: recording them (one or many, all or nothing) and the outbound switches.

Recording goes through :func:`crmsync.events.record_events`: idempotent on the event id (per
type), one transaction for the whole list. The four switches that say which event types flow to
the CRM are part of ``outbound``'s configuration: changing them saves a pending revision.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from crmsync.api.models import RevisionSaved
from crmsync.api.services.edits import save_edit
from crmsync.audit import Action, Actor, recorded
from crmsync.config.models import OutboundEvents
from crmsync.events import Event, Unsubscribe, record_events
from crmsync.workflows.supervisor import Supervisor

__all__ = ["MAX_BULK", "EventIn", "EventService", "EventsRecorded"]

WORKFLOW = "outbound"
#: The most events one bulk call may carry.
MAX_BULK = 10_000

#: One event as the API accepts it: a send, open, click, bounce or unsubscribe (by ``type``).
EventIn = Annotated[Event | Unsubscribe, Field(discriminator="type")]


class EventsRecorded(BaseModel):
    model_config = ConfigDict(frozen=True)

    added: int = Field(description="Events recorded now.")
    duplicates: int = Field(description="Events whose id (of their type) was recorded before.")
    opted_out: int = Field(description="New unsubscribes that changed their profile's opt-outs.")


class EventService:
    def __init__(self, supervisor: Supervisor) -> None:
        self.supervisor = supervisor

    def record(self, events: Sequence[Event | Unsubscribe]) -> EventsRecorded:
        """Record ``events`` in one transaction (blocking: call it from a thread)."""
        result = record_events(self.supervisor.engine, events)
        return EventsRecorded(
            added=result.added, duplicates=result.duplicates, opted_out=result.opted_out
        )

    def settings(self, *, latest: bool = False) -> OutboundEvents:
        """The four switches of ``outbound``'s active revision, what the workflow runs on
        (``latest``: with its pending edits)."""
        return self.supervisor.config(WORKFLOW, latest=latest).outbound.events

    def save_settings(self, switches: OutboundEvents, *, by: Actor) -> RevisionSaved:
        def change(data: dict[str, Any]) -> dict[str, Any]:
            outbound = data.get("outbound") or {}
            outbound["events"] = switches.model_dump(mode="json")
            data["outbound"] = outbound
            return data

        on = [name for name, value in switches.model_dump().items() if value]
        with recorded(self.supervisor.engine, by, Action.EVENTS_UPDATE, WORKFLOW) as details:
            saved = save_edit(
                self.supervisor,
                WORKFLOW,
                change,
                author=by.user,
                note=f"outbound events switched on: {', '.join(on) or 'none'}",
                then="it takes effect when outbound is started again",
            )
            details.update(revision=saved.revision.id, on=on)
            return saved
