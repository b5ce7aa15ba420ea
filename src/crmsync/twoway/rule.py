"""The field-level merge of one record of a two-way mapping (SPEC §7), as one pure function.

Three observations of one record meet, every value in Campaign terms (CRM values converted as
the inbound direction writes them):

- the **base**: the values both sides last agreed on, per mapped Campaign field (``None`` for a
  record never synced both ways; a field missing from it has no base either);
- the **Campaign side**: its current values and the time of its latest edit;
- the **CRM side**: its current values and the record's last-modified time (Dynamics 365 and
  Salesforce keep times per record, not per field).

:func:`merge` decides each field against the base:

- changed on **one side only** → that side's value, written to the other side;
- changed on **neither** → nothing is written: once both sides agree (and the base holds what
  they agree on), a merge writes nothing, so there is no echo and no ping-pong;
- changed on **both sides to the same value** → nothing is written and there is no conflict;
- changed on **both sides to different values** → a conflict: the newer change wins; a tie goes
  to the CRM, and so does a change whose time is unknown (the newer one cannot be proved). Times
  are compared at the CRM's precision: a CRM time of whole seconds (as both CRMs keep them) ties
  with a Campaign edit made within that second, since the CRM change may have come later in it;
- **no base** (first two-way sync) → where the sides differ the CRM wins, recorded as a conflict
  so that the Campaign value it replaces is not lost silently.

Different fields changed on each side therefore both survive. Values are compared as
:func:`crmsync.twoway.values.same_value` says (an empty text is no value; numbers as numbers;
date-times as instants). The result lists every field's decision, what to write to each side,
the conflicts and the new base. The engine that reads the change logs, keeps the bases and writes
both sides builds on this function.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from crmsync.store.types import CampaignType
from crmsync.twoway.values import same_value

__all__ = ["Change", "Conflict", "FieldMerge", "Merge", "Reason", "Side", "Winner", "merge"]


def _frozen(values: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(values))


@dataclass(frozen=True, slots=True)
class Side:
    """One side's current values of the mapped Campaign fields, and when it last changed."""

    values: Mapping[str, Any]
    #: Campaign: the time of the edit; CRM: the record's last-modified time. Time-zone aware.
    changed_at: datetime | None

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", _frozen(self.values))
        if self.changed_at is not None and self.changed_at.utcoffset() is None:
            raise ValueError(f"naive time {self.changed_at.isoformat()} has no time zone")


class Change(StrEnum):
    """Which side changed a field since the base."""

    NONE = "none"
    CAMPAIGN = "campaign"
    CRM = "crm"
    BOTH = "both"
    #: No base to tell: the record (or the field) was never synced both ways.
    NO_BASE = "no_base"


class Winner(StrEnum):
    CAMPAIGN = "campaign"
    CRM = "crm"


class Reason(StrEnum):
    """Why a conflict went to its winner."""

    CAMPAIGN_NEWER = "campaign_newer"
    CRM_NEWER = "crm_newer"
    TIE_TO_CRM = "tie_to_crm"
    TIME_UNKNOWN_TO_CRM = "time_unknown_to_crm"
    NO_BASE_TO_CRM = "no_base_to_crm"


@dataclass(frozen=True, slots=True)
class Conflict:
    """A field whose sides hold different values that cannot both survive."""

    field: str
    campaign_value: Any
    crm_value: Any
    campaign_changed_at: datetime | None
    crm_changed_at: datetime | None
    winner: Winner
    reason: Reason


@dataclass(frozen=True, slots=True)
class FieldMerge:
    """One field's decision: who changed it, the merged value, and which side to write."""

    field: str
    change: Change
    value: Any
    write_crm: bool
    write_campaign: bool
    conflict: Conflict | None = None


@dataclass(frozen=True, slots=True)
class Merge:
    """The merge of one record."""

    fields: tuple[FieldMerge, ...]
    #: Campaign field → value to write to the CRM (in Campaign terms); empty: no CRM write.
    to_crm: Mapping[str, Any] = field(default_factory=dict)
    #: Campaign field → value to write to Campaign; empty: no Campaign write.
    to_campaign: Mapping[str, Any] = field(default_factory=dict)
    conflicts: tuple[Conflict, ...] = ()
    #: The values both sides hold once the writes are made: the next merge's base.
    base: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("to_crm", "to_campaign", "base"):
            object.__setattr__(self, name, _frozen(getattr(self, name)))


def merge(
    fields: Mapping[str, CampaignType],
    base: Mapping[str, Any] | None,
    campaign: Side,
    crm: Side,
) -> Merge:
    """Merge one record's mapped ``fields`` (Campaign field → its type) field by field.

    Both sides must hold a value (``None`` included) for every field; raises :class:`ValueError`
    naming the missing fields otherwise.
    """
    for side, name in ((campaign, "Campaign"), (crm, "CRM")):
        missing = [f for f in fields if f not in side.values]
        if missing:
            raise ValueError(f"the {name} side has no value for field(s) {', '.join(missing)}")
    decisions = tuple(
        _merge_field(name, kind, base, campaign, crm) for name, kind in fields.items()
    )
    return Merge(
        fields=decisions,
        to_crm={d.field: d.value for d in decisions if d.write_crm},
        to_campaign={d.field: d.value for d in decisions if d.write_campaign},
        conflicts=tuple(d.conflict for d in decisions if d.conflict is not None),
        base={d.field: d.value for d in decisions},
    )


def _merge_field(
    name: str,
    kind: CampaignType,
    base: Mapping[str, Any] | None,
    campaign: Side,
    crm: Side,
) -> FieldMerge:
    ours, theirs = campaign.values[name], crm.values[name]
    if base is None or name not in base:
        if same_value(kind, ours, theirs):
            return FieldMerge(name, Change.NONE, theirs, False, False)
        conflict = _conflict(name, campaign, crm, Winner.CRM, Reason.NO_BASE_TO_CRM)
        return FieldMerge(name, Change.NO_BASE, theirs, False, True, conflict)
    was = base[name]
    campaign_changed = not same_value(kind, ours, was)
    crm_changed = not same_value(kind, theirs, was)
    if not campaign_changed and not crm_changed:
        return FieldMerge(name, Change.NONE, theirs, False, False)
    if not crm_changed:
        return FieldMerge(name, Change.CAMPAIGN, ours, True, False)
    if not campaign_changed:
        return FieldMerge(name, Change.CRM, theirs, False, True)
    if same_value(kind, ours, theirs):
        return FieldMerge(name, Change.BOTH, theirs, False, False)
    winner, reason = _newer(campaign.changed_at, crm.changed_at)
    conflict = _conflict(name, campaign, crm, winner, reason)
    if winner is Winner.CAMPAIGN:
        return FieldMerge(name, Change.BOTH, ours, True, False, conflict)
    return FieldMerge(name, Change.BOTH, theirs, False, True, conflict)


def _newer(campaign_at: datetime | None, crm_at: datetime | None) -> tuple[Winner, Reason]:
    if campaign_at is None or crm_at is None:
        return Winner.CRM, Reason.TIME_UNKNOWN_TO_CRM
    if crm_at.microsecond == 0:
        # The CRM keeps whole seconds: a CRM change later in the second of a Campaign edit
        # shows an earlier time. Compared at the CRM's precision, that is a tie.
        campaign_at = campaign_at.replace(microsecond=0)
    if campaign_at > crm_at:
        return Winner.CAMPAIGN, Reason.CAMPAIGN_NEWER
    if campaign_at < crm_at:
        return Winner.CRM, Reason.CRM_NEWER
    return Winner.CRM, Reason.TIE_TO_CRM


def _conflict(name: str, campaign: Side, crm: Side, winner: Winner, reason: Reason) -> Conflict:
    return Conflict(
        field=name,
        campaign_value=campaign.values[name],
        crm_value=crm.values[name],
        campaign_changed_at=campaign.changed_at,
        crm_changed_at=crm.changed_at,
        winner=winner,
        reason=reason,
    )
