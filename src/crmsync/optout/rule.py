"""The opt-out conflict rule of SPEC §6, as one pure function.

Two observations of the same opt-out meet: the CRM's value with its record's last-modified time
(Dynamics 365 and Salesforce keep times per record, not per field) and the Campaign store's value
with the attribute's own last-change time. :func:`decide` says which value both sides must hold:

- **Campaign strictly newer** → the Campaign value wins;
- **CRM newer or equal** → opted out (``True``) wins if either side is opted out, else ``False``.

A missing time cannot prove that an opt-in is newer, so it takes the CRM-newer-or-equal branch:
an opt-out on either side then wins. Together this keeps the legal promise: a person who opted out
stays opted out unless a strictly newer opt-in exists.

:func:`latest` picks one side's current observation from any number of its changes (duplicates
and arrival order do not matter; on equal times an opt-out beats an opt-in), so that
``decide(latest(crm_changes), latest(campaign_changes))`` is independent of processing order.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

__all__ = ["Decision", "Observation", "Reason", "Winner", "decide", "latest"]


@dataclass(frozen=True, slots=True)
class Observation:
    """One side's value of one opt-out (``True`` = opted out) and when it last changed."""

    opted_out: bool
    changed_at: datetime | None


class Winner(StrEnum):
    CRM = "crm"
    CAMPAIGN = "campaign"
    #: Both sides already agree: nothing to write.
    NONE = "none"


class Reason(StrEnum):
    CAMPAIGN_NEWER = "campaign_newer"
    CRM_NEWER_OPT_OUT_WINS = "crm_newer_or_equal_opt_out_wins"
    TIME_UNKNOWN_OPT_OUT_WINS = "time_unknown_opt_out_wins"
    SAME_VALUE = "same_value"
    #: Not a rule outcome: a one-way direction copies its source (used by the workflow's log).
    SOURCE_OF_TRUTH = "one_way_source_of_truth"


@dataclass(frozen=True, slots=True)
class Decision:
    """The value both sides must hold, which side prevailed, why, and which side to write."""

    opted_out: bool
    winner: Winner
    reason: Reason
    write_crm: bool
    write_campaign: bool


def decide(crm: Observation, campaign: Observation) -> Decision:
    """Resolve one opt-out between the CRM and the Campaign store (SPEC §6, bidirectional)."""
    if crm.opted_out == campaign.opted_out:
        return Decision(crm.opted_out, Winner.NONE, Reason.SAME_VALUE, False, False)
    if crm.changed_at is None or campaign.changed_at is None:
        value, reason = True, Reason.TIME_UNKNOWN_OPT_OUT_WINS
    elif campaign.changed_at > crm.changed_at:
        value, reason = campaign.opted_out, Reason.CAMPAIGN_NEWER
    else:
        # The values differ, so one of them is True: opted out wins.
        value, reason = True, Reason.CRM_NEWER_OPT_OUT_WINS
    winner = Winner.CRM if crm.opted_out == value else Winner.CAMPAIGN
    return Decision(value, winner, reason, crm.opted_out != value, campaign.opted_out != value)


def latest(observations: Iterable[Observation]) -> Observation | None:
    """The current observation of one side: the newest; on equal times, an opt-out.

    Unknown times count as older than any known time. ``None`` when there is none.
    """
    best: Observation | None = None
    for item in observations:
        if best is None or _beats(item, best):
            best = item
    return best


def _beats(item: Observation, held: Observation) -> bool:
    if item.changed_at != held.changed_at:
        if item.changed_at is None or held.changed_at is None:
            return held.changed_at is None
        return item.changed_at > held.changed_at
    return item.opted_out and not held.opted_out
