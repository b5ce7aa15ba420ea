"""Filter trees → OData ``$filter`` for the Dataverse Web API.

Strings are single-quoted with quotes doubled (OData ABNF ``SQUOTE-in-string``); GUIDs,
date-times (``2024-05-01T00:00:00Z``), dates, numbers and booleans are unquoted; lookups are
filtered by their ``_name_value`` property. Every level is parenthesised, so the tree's grouping
is the query's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

from crmsync.config.models import FilterOp
from crmsync.connectors.base import TableInfo
from crmsync.jobs.filters import (
    Condition,
    FilterLevel,
    render_filter,
    resolve_value,
)
from crmsync.jobs.query_values import field_of, typed_value

__all__ = ["odata_filter", "odata_in", "odata_literal", "odata_window"]

_COMPARE = {
    FilterOp.EQ: "eq",
    FilterOp.NE: "ne",
    FilterOp.GT: "gt",
    FilterOp.GE: "ge",
    FilterOp.LT: "lt",
    FilterOp.LE: "le",
}
_FUNCTIONS = {
    FilterOp.CONTAINS: "contains",
    FilterOp.STARTS_WITH: "startswith",
    FilterOp.ENDS_WITH: "endswith",
}


def odata_literal(value: Any) -> str:
    """The OData literal of a typed value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, date):
        return value.isoformat()
    return "'" + str(value).replace("'", "''") + "'"


def _condition(
    info: TableInfo, item: Condition, where: str, variables: Mapping[str, str], now: datetime
) -> str:
    field = field_of(info, item.field, where)
    name = field.wire_name
    if item.op == FilterOp.IS_EMPTY:
        return f"{name} eq null"
    if item.op == FilterOp.IS_NOT_EMPTY:
        return f"{name} ne null"
    value = typed_value(field, resolve_value(item.value, variables, now), where, guid_ids=True)
    if item.op in _FUNCTIONS:
        return f"{_FUNCTIONS[item.op]}({name},{odata_literal(str(value))})"
    return f"{name} {_COMPARE[item.op]} {odata_literal(value)}"


def odata_filter(
    info: TableInfo,
    level: FilterLevel,
    variables: Mapping[str, str],
    *,
    now: datetime,
    where: str = "filter",
) -> str:
    """The ``$filter`` text of ``level``; field errors name the condition (``filter[2]``)."""
    return render_filter(
        level,
        lambda item, here: _condition(info, item, here, variables, now),
        lambda join: str(join),
        where,
    )


def odata_window(field: str, start: datetime | None, end: datetime) -> str:
    """``start <= field < end`` (the automatic index's window)."""
    upper = f"{field} lt {odata_literal(end)}"
    return upper if start is None else f"({field} ge {odata_literal(start)} and {upper})"


def odata_in(field: str, ids: Sequence[UUID]) -> str:
    """``field in (id, …)`` for GUID ids (``eq`` for one: a one-item list reads as a group)."""
    if len(ids) == 1:
        return f"{field} eq {ids[0]}"
    return f"{field} in ({','.join(str(value) for value in ids)})"
