"""One marketing event as the store and the importers accept it.

An event names its profile by the profile's Campaign id (``profile_id``, the ``id`` of the
``profile`` row): events come from the Campaign side, which knows every profile, including those
with no CRM record. Whether an event reaches the CRM is decided when it is sent, from the
profile's ``external_id`` at that moment.

An :class:`Unsubscribe` is not sent as an event: recording it changes the profile's opt-out
attributes (see :mod:`crmsync.events.record`), which the opt-in/out workflow carries to the CRM.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal, Self, get_args

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from crmsync.config.models import EventType
from crmsync.store.resources import OptOutAttribute

__all__ = [
    "EVENT_ID_PATTERN",
    "EVENT_TYPES",
    "UNSUBSCRIBE",
    "AnyEvent",
    "BounceType",
    "Event",
    "Unsubscribe",
]

#: Event types in sending order.
EVENT_TYPES: tuple[EventType, ...] = get_args(EventType)
#: The ``type`` of an unsubscribe (not one of :data:`EVENT_TYPES`: it is never sent as an event).
UNSUBSCRIBE = "unsubscribe"
#: Event ids become CRM alternate-key / external-id values and appear in URLs: plain characters.
EVENT_ID_PATTERN = r"^[A-Za-z0-9._:-]{1,64}$"


class BounceType(StrEnum):
    HARD = "hard"
    SOFT = "soft"


def _aware_utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("the timestamp needs a time zone (e.g. 2026-05-01T09:30:00Z)")
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("the timestamp is out of range once in UTC (years 1 to 9999)") from None


#: Text of an event: no NUL character, which PostgreSQL's text columns cannot hold.
_NO_NUL = r"^[^\x00]*$"
Text = Annotated[str, Field(min_length=1, max_length=255, pattern=_NO_NUL)]
OptionalText = Annotated[str, Field(max_length=255, pattern=_NO_NUL)] | None
#: A profile's Campaign id: the ``id`` of its row, a 64-bit integer on every store.
ProfileId = Annotated[int, Field(ge=1, le=2**63 - 1)]


class Event(BaseModel):
    """A send, open, click (with its URL) or bounce (with its type and reason) of a delivery."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    type: EventType
    id: Annotated[str, Field(pattern=EVENT_ID_PATTERN)]
    profile_id: ProfileId
    delivery_id: Text
    delivery_name: OptionalText = None
    occurred_at: Annotated[datetime, AfterValidator(_aware_utc)]
    url: Annotated[str, Field(min_length=1, max_length=2000, pattern=_NO_NUL)] | None = None
    bounce_type: BounceType | None = None
    reason: Annotated[str, Field(max_length=1000, pattern=_NO_NUL)] | None = None

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


def _attribute_list(value: Any) -> Any:
    """A CSV cell names several attributes in one string: ``optout_email;optout_sms``."""
    if isinstance(value, str):
        return tuple(part for part in re.split(r"[;,\s]+", value) if part)
    return value


def _distinct(value: tuple[OptOutAttribute, ...]) -> tuple[OptOutAttribute, ...]:
    if not value:
        raise ValueError("name at least one opt-out attribute")
    return tuple(dict.fromkeys(value))


class Unsubscribe(BaseModel):
    """A person unsubscribed (e.g. through a delivery's unsubscribe link) from some channels.

    ``attributes`` are opt-out attributes of the fixed list (SPEC §6), ``optout_email`` unless
    given. Recording it opts the profile out of each of them.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    type: Literal["unsubscribe"]
    id: Annotated[str, Field(pattern=EVENT_ID_PATTERN)]
    profile_id: ProfileId
    attributes: Annotated[
        tuple[OptOutAttribute, ...], BeforeValidator(_attribute_list), AfterValidator(_distinct)
    ] = (OptOutAttribute.EMAIL,)
    occurred_at: Annotated[datetime, AfterValidator(_aware_utc)]
    delivery_id: Text | None = None
    delivery_name: OptionalText = None


#: What a file line or an API call may hold.
AnyEvent = Event | Unsubscribe
