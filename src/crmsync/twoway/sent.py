"""What a round of the Campaign → CRM side is writing to the CRM, kept until its outcome is saved.

A round writes the CRM, then saves the outcome (bases, log rows applied) in one store transaction.
Killed in between, it leaves the CRM holding values the base does not know: the next merge would
take crmsync's own write for a CRM change, newer than any Campaign edit made meanwhile, and let it
overwrite that edit. So before writing, a round commits the values it sends, per record
(:func:`save_sent`, in ``crmsync_twoway_sent``, one row per round: a round killed before it
settled a record leaves its values beside the next round's); the transaction that saves the
outcome deletes them (:func:`forget_sent`). A merge that finds such values (:func:`load_sent`)
counts every sent field the CRM now holds as synced (:func:`with_sent`): that value is what both
sides agreed on, since Campaign held it and crmsync wrote it. A field the CRM does not hold was
not written (the write was refused, or never made) or was changed since: the base stays as it
was.

The transaction that saves the round's outcome deletes its sent values, unless a later CRM change
was merged first (the base is that change's, which may not hold the write yet): then the CRM →
Campaign side deletes them when it merges a CRM change that holds them (:func:`landed`), its
values becoming the base.

The values are kept as the base keeps its values (:func:`~crmsync.twoway.base.encode_base`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from crmsync.store.key_lists import one_of
from crmsync.store.types import CampaignType
from crmsync.twoway.base import BATCH, Base, decode_base, encode_base
from crmsync.twoway.tables import SENT
from crmsync.twoway.values import same_value

__all__ = ["forget_sent", "landed", "load_sent", "save_sent", "with_sent"]


def save_sent(
    conn: sa.Connection,
    mapping: str,
    sent: Mapping[str, Mapping[str, Any]],
    types: Mapping[str, CampaignType],
) -> None:
    """Keep, for each record key of ``mapping``, the Campaign values (field → value, in Campaign
    terms) this round is writing to the CRM, beside what earlier rounds that were killed before
    settling the record left: any of them may be in the CRM now."""
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


def load_sent(
    conn: sa.Connection, mapping: str, keys: Iterable[str]
) -> dict[str, tuple[Base, ...]]:
    """The values unsettled rounds were sending to the records of ``mapping`` with these keys."""
    wanted = list(dict.fromkeys(keys))
    if not wanted:
        return {}
    found = conn.execute(
        sa.select(SENT.c.record_key, SENT.c.field_values)
        .where(SENT.c.mapping == mapping, one_of(SENT.c.record_key, wanted, conn.dialect))
        .order_by(SENT.c.sent_at)
    )
    sent: dict[str, tuple[Base, ...]] = {}
    for key, text in found:
        values = Base(*decode_base(text, f"{mapping} record {key!r} (sent)"))
        sent[key] = (*sent.get(key, ()), values)
    return sent


def forget_sent(conn: sa.Connection, mapping: str, keys: Iterable[str]) -> None:
    """Drop the sent values of these records of ``mapping`` (their round's outcome is saved)."""
    wanted = list(dict.fromkeys(keys))
    if wanted:
        conn.execute(
            sa.delete(SENT).where(
                SENT.c.mapping == mapping, one_of(SENT.c.record_key, wanted, conn.dialect)
            )
        )


def with_sent(
    base: Base | None,
    sent: Sequence[Base] | None,
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
    for values in sent:
        for name, value in values.values.items():
            kind = fields.get(name)
            if (
                kind is not None
                and values.types[name] is kind
                and same_value(kind, crm[name], value)
            ):
                merged[name] = value
    return merged if merged or values_for is not None else None


def landed(
    sent: Sequence[Base], crm: Mapping[str, Any], fields: Mapping[str, CampaignType]
) -> bool:
    """Whether the CRM's values (``crm``, in Campaign terms) hold a value one of the ``sent``
    rounds sent: a write was made, and a base of these values includes it."""
    return any(
        name in fields and same_value(fields[name], crm[name], value)
        for values in sent
        for name, value in values.values.items()
    )
