"""The conflict log of the two-way merge: every field whose sides could not both survive.

:func:`crmsync.twoway.rule.merge` lists the conflicts of one record (a field changed on both
sides to different values, or differing with no base); :func:`record_conflicts` keeps them in
``crmsync_twoway_conflicts`` (:mod:`crmsync.twoway.tables`), in the caller's transaction, so that
a conflict is logged exactly when the merge that decided it commits. Each entry holds the record,
the field, both values and both times, the winner and why, which merge found it (``found_by``:
``crm`` when a CRM change was merged, ``campaign`` when a Campaign edit was) and when it was
decided. The CLI (``crmsync mapping conflicts``), the API and the console read them with
:func:`list_conflicts`; ``status`` shows :func:`count_conflicts` and :func:`waiting_edits`.

The values are Campaign values, kept as JSON that a person reads as it is:

- ``None``, a text, an integer, a Boolean: as JSON holds them;
- a finite float: a JSON number; ``nan``, ``inf`` and ``-inf``: those texts;
- a :class:`~decimal.Decimal`: its text (``"12.50"``), the non-finite ones as a float's;
- a date: ISO 8601 text (``"2025-01-02"``); a date and time: ISO 8601 text in UTC
  (``"2025-01-02T03:04:05+00:00"``); a naive one is refused, as the store refuses it.

They are read back as those JSON values (texts, numbers, Booleans, ``None``), not as the
Python types they were written from: the log is for reading.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

import orjson
import sqlalchemy as sa

from crmsync.config.models import InboundMapping
from crmsync.twoway.rule import Conflict
from crmsync.twoway.tables import CHANGES, CONFLICTS

__all__ = [
    "ConflictEntry",
    "FoundBy",
    "TwoWayFigures",
    "count_conflicts",
    "json_value",
    "list_conflicts",
    "record_conflicts",
    "two_way_figures",
    "waiting_edits",
]


class FoundBy(StrEnum):
    """Which merge found a conflict."""

    #: A CRM change was merged.
    CRM = "crm"
    #: A Campaign edit was merged.
    CAMPAIGN = "campaign"


@dataclass(frozen=True, slots=True)
class ConflictEntry:
    """One logged conflict; the values as JSON values (see the module's description)."""

    id: int
    mapping: str
    record_key: str
    field: str
    campaign_value: Any
    crm_value: Any
    campaign_changed_at: datetime | None
    crm_changed_at: datetime | None
    #: :class:`~crmsync.twoway.rule.Winner` and :class:`~crmsync.twoway.rule.Reason` values.
    winner: str
    reason: str
    found_by: str
    decided_at: datetime


@dataclass(frozen=True, slots=True)
class TwoWayFigures:
    """What a two-way mapping shows beside its counters."""

    #: Conflicts logged for the mapping.
    conflicts: int
    #: Campaign edits of its resource not merged yet.
    waiting_edits: int


def record_conflicts(
    conn: sa.Connection,
    mapping: str,
    record_key: str,
    conflicts: Iterable[Conflict],
    *,
    found_by: str,
    at: datetime | None = None,
) -> int:
    """Log the ``conflicts`` of one record of ``mapping``, decided ``at`` (now by default), in
    ``conn``'s transaction; returns how many.

    Raises :class:`ValueError` for an empty record key, a ``found_by`` that is not a
    :class:`FoundBy`, a naive time, or a value that is not a Campaign value."""
    if not isinstance(record_key, str) or not record_key:
        raise ValueError(f"conflicts of {mapping}: a record key must be a non-empty text")
    try:
        finder = FoundBy(found_by)
    except ValueError:
        raise ValueError(
            f"conflicts of {mapping}: found_by must be one of "
            f"{', '.join(f.value for f in FoundBy)}, not {found_by!r}"
        ) from None
    decided_at = datetime.now(UTC) if at is None else _aware(at, "decision time")
    rows = [
        {
            "mapping": mapping,
            "record_key": record_key,
            "field": conflict.field,
            "campaign_value": _dump(conflict.campaign_value, mapping, record_key, conflict.field),
            "crm_value": _dump(conflict.crm_value, mapping, record_key, conflict.field),
            "campaign_changed_at": _aware_or_none(conflict.campaign_changed_at),
            "crm_changed_at": _aware_or_none(conflict.crm_changed_at),
            "winner": conflict.winner.value,
            "reason": conflict.reason.value,
            "found_by": finder.value,
            "decided_at": decided_at,
        }
        for conflict in conflicts
    ]
    if rows:
        conn.execute(CONFLICTS.insert(), rows)
    return len(rows)


def list_conflicts(
    conn: sa.Connection, mapping: str, *, limit: int = 100, record_key: str | None = None
) -> list[ConflictEntry]:
    """The conflicts of ``mapping`` (of one record when ``record_key`` is given), newest first,
    at most ``limit``."""
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    query = sa.select(CONFLICTS).where(CONFLICTS.c.mapping == mapping)
    if record_key is not None:
        query = query.where(CONFLICTS.c.record_key == record_key)
    rows = conn.execute(query.order_by(CONFLICTS.c.id.desc()).limit(limit))
    return [
        ConflictEntry(
            id=row.id,
            mapping=row.mapping,
            record_key=row.record_key,
            field=row.field,
            campaign_value=orjson.loads(row.campaign_value),
            crm_value=orjson.loads(row.crm_value),
            campaign_changed_at=row.campaign_changed_at,
            crm_changed_at=row.crm_changed_at,
            winner=row.winner,
            reason=row.reason,
            found_by=row.found_by,
            decided_at=row.decided_at,
        )
        for row in rows
    ]


def count_conflicts(conn: sa.Connection, mapping: str) -> int:
    """How many conflicts of ``mapping`` are logged."""
    query = sa.select(sa.func.count()).select_from(CONFLICTS)
    return int(conn.execute(query.where(CONFLICTS.c.mapping == mapping)).scalar_one())


def waiting_edits(conn: sa.Connection, resource: str) -> int:
    """How many Campaign edits of ``resource`` the change log holds: those not merged yet."""
    query = sa.select(sa.func.count()).select_from(CHANGES)
    return int(conn.execute(query.where(CHANGES.c.resource == resource)).scalar_one())


def two_way_figures(
    conn: sa.Connection, mappings: Iterable[InboundMapping]
) -> dict[str, TwoWayFigures]:
    """The figures of each two-way mapping among ``mappings``, by name (one-way ones have none)."""
    return {
        mapping.name: TwoWayFigures(
            conflicts=count_conflicts(conn, mapping.name),
            waiting_edits=waiting_edits(conn, mapping.resource),
        )
        for mapping in mappings
        if mapping.two_way
    }


def json_value(value: Any) -> Any:
    """A Campaign value as the JSON value the log keeps (see the module's description); raises
    :class:`ValueError` for a naive date and time and :class:`TypeError` for another type."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else _non_finite(value)
    if isinstance(value, Decimal):
        return str(value) if value.is_finite() else _non_finite(value)
    if isinstance(value, datetime):
        return _aware(value, "date and time").astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} {value!r} is not a Campaign value")


def _non_finite(value: float | Decimal) -> str:
    if value.is_nan() if isinstance(value, Decimal) else math.isnan(value):
        return "nan"
    return "inf" if value > 0 else "-inf"


def _dump(value: Any, mapping: str, record_key: str, field: str) -> str:
    try:
        return orjson.dumps(json_value(value)).decode()
    except (TypeError, ValueError) as exc:  # orjson's error (an integer over 64 bits) included
        raise ValueError(
            f"conflict of {mapping} record {record_key!r}, field {field!r}: {exc}"
        ) from None


def _aware(value: datetime, what: str) -> datetime:
    if value.utcoffset() is None:
        raise ValueError(f"naive {what} {value.isoformat()} has no time zone")
    return value


def _aware_or_none(value: datetime | None) -> datetime | None:
    return None if value is None else _aware(value, "change time")
