"""Per-attribute change times of the profile's opt-out attributes (SPEC §6).

Every opt-out attribute of ``profile`` has a companion ``<attribute>_changed_at`` column: the time
of its last change, which the opt-out conflict rule compares with the CRM's time. Whoever writes
opt-out values into the store (the inbound writer, the opt-in/out workflow, imports, the API)
passes the rows through :func:`stamp_opt_outs` first, so the time moves exactly when the value
does: a row that repeats the stored value keeps the stored time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from crmsync.store.bulk import bind_processor
from crmsync.store.key_lists import one_of
from crmsync.store.resources import OPT_OUT_CHANGED_SUFFIX, OptOutAttribute

__all__ = ["OPT_OUT_NAMES", "changed_at_column", "stamp_opt_outs"]

OPT_OUT_NAMES = frozenset(attribute.value for attribute in OptOutAttribute)


def changed_at_column(attribute: str) -> str:
    """The name of the column that holds the last-change time of ``attribute``."""
    return attribute + OPT_OUT_CHANGED_SUFFIX


def stamp_opt_outs(
    conn: sa.Connection,
    table: sa.Table,
    key_field: str,
    rows: Sequence[Mapping[str, Any]],
    *,
    now: datetime | None = None,
    driver_form: bool = False,
) -> list[dict[str, Any]]:
    """``rows`` with ``<attribute>_changed_at`` added for each opt-out attribute they carry.

    The time is ``now`` when the value differs from the stored one (or the row is new), the stored
    time otherwise. Rows without opt-out attributes come back unchanged. A row that already
    carries a change time for an attribute keeps it (the caller knows better, e.g. a file import).
    ``driver_form``: the rows hold values as the driver takes them
    (:func:`~crmsync.store.bulk.driver_rows`), and so do the times added.
    """
    out = [dict(row) for row in rows]
    if not out:
        return out
    attributes = [name for name in out[0] if name in OPT_OUT_NAMES and name in table.c]
    if not attributes:
        return out
    stamp: Any = now or datetime.now(UTC)
    keys = [row[key_field] for row in out]
    stored = _stored(conn, table, key_field, attributes, keys, raw=driver_form)
    stamps = {changed_at_column(attribute): stamp for attribute in attributes}
    if driver_form:
        stamps = {
            column: bind_processor(table.c[column].type, conn.dialect)(stamp) for column in stamps
        }
    for row in out:
        held = stored.get(row[key_field])
        for attribute in attributes:
            column = changed_at_column(attribute)
            if column in row:
                continue
            if held is not None and held[attribute] == row[attribute]:
                row[column] = held[column]
            else:
                row[column] = stamps[column]
    return out


def _stored(
    conn: sa.Connection,
    table: sa.Table,
    key_field: str,
    attributes: Sequence[str],
    keys: Sequence[Any],
    *,
    raw: bool,
) -> dict[Any, Mapping[str, Any]]:
    """Key → the stored attributes and times; ``raw``: as the driver returns them."""
    names = [name for attribute in attributes for name in (attribute, changed_at_column(attribute))]
    columns: list[sa.ColumnElement[Any]] = [table.c[key_field]]
    for name in names:
        column = table.c[name]
        columns.append(sa.type_coerce(column, sa.types.NullType()).label(name) if raw else column)
    wanted = [key for key in dict.fromkeys(keys) if key is not None]
    query = sa.select(*columns).where(one_of(table.c[key_field], wanted, conn.dialect))
    return {row[key_field]: dict(row) for row in conn.execute(query).mappings()}
