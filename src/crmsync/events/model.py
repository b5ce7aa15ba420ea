"""One marketing event as the store and the importers accept it.

An event names its profile by the profile's Campaign id (``profile_id``, the ``id`` of the
``profile`` row): events come from the Campaign side, which knows every profile, including those
with no CRM record. Whether an event reaches the CRM is decided when it is sent, from the
profile's ``external_id`` at that moment.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Self, get_args

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from crmsync.config.models import EventType

__all__ = ["EVENT_ID_PATTERN", "EVENT_TYPES", "BounceType", "Event"]

#: Event types in sending order.
EVENT_TYPES: tuple[EventType, ...] = get_args(EventType)
#: Event ids become CRM alternate-key / external-id values and appear in URLs: plain characters.
EVENT_ID_PATTERN = r"^[A-Za-z0-9._:-]{1,64}$"


class BounceType(StrEnum):
    HARD = "hard"
    SOFT = "soft"


def _aware_utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("the timestamp needs a time zone (e.g. 2026-05-01T09:30:00Z)")
    return value.astimezone(UTC)


Text = Annotated[str, Field(min_length=1, max_length=255)]


class Event(BaseModel):
    """A send, open, click (with its URL) or bounce (with its type and reason) of a delivery."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    type: EventType
    id: Annotated[str, Field(pattern=EVENT_ID_PATTERN)]
    profile_id: Annotated[int, Field(ge=1)]
    delivery_id: Text
    delivery_name: Annotated[str, Field(max_length=255)] | None = None
    occurred_at: Annotated[datetime, AfterValidator(_aware_utc)]
    url: Annotated[str, Field(min_length=1, max_length=2000)] | None = None
    bounce_type: BounceType | None = None
    reason: Annotated[str, Field(max_length=1000)] | None = None

    @model_validator(mode="after")
    def _details_match_type(self) -> Self:
        if self.type == "click" and self.url is None:
            raise ValueError("a click needs 'url'")
        if self.type != "click" and self.url is not None:
            raise ValueError(f"'url' is for clicks, not for {self.type} events")
        if self.type == "bounce" and self.bounce_type is None:
            raise ValueError("a bounce needs 'bounce_type' (hard or soft)")
        if self.type != "bounce" and (self.bounce_type is not None or self.reason is not None):
            raise ValueError(
                f"'bounce_type' and 'reason' are for bounces, not for {self.type} events"
            )
        return self
