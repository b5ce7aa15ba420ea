"""The base of a record that has no base row: its Campaign row, as crmsync last wrote it.

A base row (``crmsync_twoway_base``) is written when a merge decides something about a record;
a record the inbound writer only inserted has none, so that an initial load of a two-way mapping
writes no more than a one-way one. Its base is what crmsync wrote, which the store still holds:

- a merged field no pending Campaign edit touched holds it as crmsync wrote it (crmsync's own
  writes are not logged, and every other edit is);
- a field a pending edit touched held it before its first pending edit: that edit's old value in
  the change log (the JSON the database rendered, decoded here to the field's type);
- the CRM version is the row's ``source_version`` (Dataverse: the row version itself).

A record whose pending edits include the insert of its row (a client created it with a CRM id)
has no base. The same knowledge holds for a mapping just turned two-way: its rows' current values
are what one-way sync last wrote (edits made before the capture existed are part of them).

When the Campaign → CRM side consumes the pending edits of such a record without deciding a new
base (a CRM refusal, a record the CRM deleted), it writes this base as a base row first.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa

from crmsync.store.key_lists import one_of
from crmsync.store.types import CampaignType
from crmsync.twoway.base import Base
from crmsync.twoway.mapping import TwoWayMapping
from crmsync.twoway.tables import CHANGES

__all__ = ["implicit_bases", "log_value"]

_VERSION = "source_version"
_TEXT = (CampaignType.STRING, CampaignType.TEXT)
_NUMBERS = (CampaignType.DOUBLE, CampaignType.FLOAT)


def implicit_bases(
    conn: sa.Connection,
    two_way: TwoWayMapping,
    table: sa.Table,
    held: Mapping[str, Mapping[str, Any]],
    keys: Sequence[str],
) -> dict[str, Base]:
    """The bases of these records (keys of ``held``, their Campaign values) from their rows and
    the change log; a record with no base (see the module) is left out."""
    wanted = [key for key in dict.fromkeys(keys) if key in held]
    if not wanted:
        return {}
    key_column = table.c[two_way.key_field]
    versions = dict(
        conn.execute(
            sa.select(key_column, table.c[_VERSION]).where(one_of(key_column, wanted, conn.dialect))
        ).all()
    )
    old = _first_old_values(conn, two_way.resource, wanted)
    bases: dict[str, Base] = {}
    for key in wanted:
        before = old.get(key, {})
        if before is None:
            continue  # the row was inserted by a client: never synced
        values: dict[str, Any] = {}
        for name, kind in two_way.fields.items():
            if name not in before:
                values[name] = held[key][name]
                continue
            try:
                values[name] = log_value(kind, before[name])
            except (TypeError, ValueError):
                continue  # not a value of the field: no base for it
        version = versions.get(key)
        bases[key] = Base(
            values,
            {name: two_way.fields[name] for name in values},
            crm_version=None if version is None else str(version),
            implicit=True,
        )
    return bases


def _first_old_values(
    conn: sa.Connection, resource: str, keys: list[str]
) -> dict[str, dict[str, Any] | None]:
    """Per record with pending edits: each field's value before its first pending edit; ``None``
    for a record whose row a pending edit inserted."""
    found: dict[str, dict[str, Any] | None] = {}
    rows = conn.execute(
        sa.select(CHANGES.c.record_key, CHANGES.c.operation, CHANGES.c.old_values)
        .where(CHANGES.c.resource == resource, one_of(CHANGES.c.record_key, keys, conn.dialect))
        .order_by(CHANGES.c.entry)
    )
    for key, operation, text in rows:
        if key in found and found[key] is None:
            continue
        if operation == "insert":
            found[key] = None
            continue
        before = found.setdefault(key, {})
        assert before is not None
        for name, value in json.loads(text).items():
            before.setdefault(name, value)
    return found


def log_value(kind: CampaignType, value: Any) -> Any:
    """A value of the change log (JSON as the database rendered the column: SQLite booleans as
    ``0``/``1`` and times as ``YYYY-MM-DD HH:MM:SS.ffffff`` in UTC, PostgreSQL's ISO 8601) as a
    value of a ``kind`` field; raises :class:`ValueError` or :class:`TypeError` for another."""
    if value is None:
        return None
    if kind in _TEXT:
        if not isinstance(value, str):
            raise TypeError(f"{value!r} is not a text")
        return value
    if kind is CampaignType.BOOLEAN:
        if isinstance(value, bool) or value in (0, 1):
            return bool(value)
        raise ValueError(f"{value!r} is not a Boolean")
    if kind is CampaignType.INTEGER:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{value!r} is not an integer")
        return value
    if kind in _NUMBERS:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise TypeError(f"{value!r} is not a number")
        return float(value)
    if kind is CampaignType.DATE:
        return date.fromisoformat(str(value)[:10])
    if kind is CampaignType.DATETIME:
        moment = datetime.fromisoformat(str(value))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)  # SQLite keeps the UTC wall clock
        return moment.astimezone(UTC)
    raise TypeError(f"a {kind} value cannot come from the change log")
