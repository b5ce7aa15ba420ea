"""What a round of the Campaign → CRM side is writing to the CRM, kept until its outcome is saved.

A round writes the CRM, then saves the outcome (bases, log rows applied) in one store transaction.
Killed in between, it leaves the CRM holding values the base does not know: the next merge would
take crmsync's own write for a CRM change, newer than any Campaign edit made meanwhile, and let it
overwrite that edit. So before writing, a round commits the values it sends, per record
(:func:`save_sent`, in ``crmsync_twoway_sent``, one row per round: a round killed before it
settled a record leaves its values beside the next round's); the transaction that saves the
outcome deletes them (:func:`forget_rounds`). A merge that finds such values (:func:`load_sent`)
counts every sent field the CRM now holds as synced (:func:`with_sent`): that value is what both
sides agreed on, since Campaign held it and crmsync wrote it. A field the CRM does not hold was
not written (the write was refused, or never made) or was changed since: the base stays as it
was.

The transaction that saves the round's outcome deletes its sent values and those of the killed
rounds it merged with, unless a later CRM change was merged first (the base is that change's, which
may not hold the write yet): then the CRM → Campaign side deletes them when it merges a CRM change
that holds them (:func:`landed`), its values becoming the base. Each is deleted by its round
(:class:`Sent`): a CRM change that holds one round's values says nothing of a round still writing.

The values are kept as the base keeps its values (:func:`~crmsync.twoway.base.encode_base`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from crmsync.store.key_lists import one_of
from crmsync.store.types import CampaignType
from crmsync.twoway.base import BATCH, Base, decode_base, encode_base
from crmsync.twoway.tables import SENT
from crmsync.twoway.values import same_value

__all__ = ["Sent", "forget_rounds", "landed", "load_sent", "save_sent", "with_sent"]


@dataclass(frozen=True, slots=True)
class Sent:
    """The values one round sent to one record (field → value, in Campaign terms, as a base
    keeps them), and that round's id."""

    round: str
    values: Base


def save_sent(
    conn: sa.Connection,
    mapping: str,
    sent: Mapping[str, Mapping[str, Any]],
    types: Mapping[str, CampaignType],
) -> str:
    """Keep, for each record key of ``mapping``, the Campaign values (field → value, in Campaign
    terms) this round is writing to the CRM, beside what earlier rounds that were killed before
    settling the record left: any of them may be in the CRM now. Returns the round's id."""
    now = datetime.now(UTC)
    round_id = uuid.uuid4().hex
    rows = [
        {
            "mapping": mapping,
            "record_key": key,
            "sent_id": round_id,
            "field_values": encode_base(
                Base(values, {name: types[name] for name in values}), mapping, key
            ),
            "sent_at": now,
        }
        for key, values in sent.items()
    ]
    for start in range(0, len(rows), BATCH):
        conn.execute(sa.insert(SENT), rows[start : start + BATCH])
    return round_id


def load_sent(
    conn: sa.Connection, mapping: str, keys: Iterable[str]
) -> dict[str, tuple[Sent, ...]]:
    """The values unsettled rounds were sending to the records of ``mapping`` with these keys."""
    wanted = list(dict.fromkeys(keys))
    if not wanted:
        return {}
    found = conn.execute(
        sa.select(SENT.c.record_key, SENT.c.sent_id, SENT.c.field_values)
        .where(SENT.c.mapping == mapping, one_of(SENT.c.record_key, wanted, conn.dialect))
        .order_by(SENT.c.sent_at)
    )
    sent: dict[str, tuple[Sent, ...]] = {}
    for key, round_id, text in found:
        values = decode_base(text, f"{mapping} record {key!r} (sent)")
        sent[key] = (*sent.get(key, ()), Sent(round_id, values))
    return sent


def forget_rounds(conn: sa.Connection, mapping: str, rounds: Iterable[tuple[str, str]]) -> None:
    """Drop what these rounds sent to these records of ``mapping`` (record key, round id): their
    outcome is saved, or a base holds their values."""
    by_round: dict[str, list[str]] = {}
    for key, round_id in dict.fromkeys(rounds):
        by_round.setdefault(round_id, []).append(key)
    for round_id, keys in by_round.items():
        conn.execute(
            sa.delete(SENT).where(
                SENT.c.mapping == mapping,
                SENT.c.sent_id == round_id,
                one_of(SENT.c.record_key, keys, conn.dialect),
            )
        )


def with_sent(
    base: Base | None,
    sent: Sequence[Sent] | None,
    crm: Mapping[str, Any],
    fields: Mapping[str, CampaignType],
) -> Mapping[str, Any] | None:
    """The merge's base for today's ``fields`` (:meth:`Base.values_for`; ``None``: none) with
    each field the CRM holds (``crm``, in Campaign terms) at a value one of the ``sent`` rounds
    sent taken as synced."""
    values_for = None if base is None else base.values_for(fields)
    if not sent:
        return values_for
    merged = dict(values_for or {})
    for each in sent:
        for name, value in each.values.values.items():
            kind = fields.get(name)
            if (
                kind is not None
                and each.values.types[name] is kind
                and same_value(kind, crm[name], value)
            ):
                merged[name] = value
    return merged if merged or values_for is not None else None


def landed(
    sent: Sequence[Sent], crm: Mapping[str, Any], fields: Mapping[str, CampaignType]
) -> list[str]:
    """The ids of the ``sent`` rounds a value of which the CRM's values (``crm``, in Campaign
    terms) hold: their write was made, and a base of these values includes it."""
    return [
        each.round
        for each in sent
        if any(
            name in fields and same_value(fields[name], crm[name], value)
            for name, value in each.values.values.items()
        )
    ]
