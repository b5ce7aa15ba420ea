"""Filter trees → SOQL ``WHERE`` conditions for Salesforce.

String literals use the connector's SOQL quoting (backslash escapes); ``LIKE`` patterns also
escape ``%`` and ``_`` so that user text matches literally. Date-times are written in UTC
(``2024-05-01T00:00:00.000Z``), dates as ``2024-05-01``, both unquoted. Every level is
parenthesised: SOQL refuses ``AND`` and ``OR`` mixed without parentheses.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from crmsync.config.models import FilterOp
from crmsync.connectors.base import TableInfo
from crmsync.connectors.salesforce.soql import format_datetime, literal, quote_string
from crmsync.jobs.filters import (
    Condition,
    FilterLevel,
    render_filter,
    resolve_value,
)
from crmsync.jobs.query_values import field_of, typed_value

__all__ = ["soql_filter", "soql_in", "soql_like", "soql_window"]

_COMPARE = {
    FilterOp.EQ: "=",
    FilterOp.NE: "!=",
    FilterOp.GT: ">",
    FilterOp.GE: ">=",
    FilterOp.LT: "<",
    FilterOp.LE: "<=",
}


def soql_like(text: str, op: FilterOp) -> str:
    """A ``LIKE`` literal matching ``text`` literally (contains / starts with / ends with)."""
    inner = quote_string(text)[1:-1].replace("%", "\\%").replace("_", "\\_")
    prefix = "%" if op in (FilterOp.CONTAINS, FilterOp.ENDS_WITH) else ""
    suffix = "%" if op in (FilterOp.CONTAINS, FilterOp.STARTS_WITH) else ""
    return f"'{prefix}{inner}{suffix}'"


def _condition(
    info: TableInfo, item: Condition, where: str, variables: Mapping[str, str], now: datetime
) -> str:
    field = field_of(info, item.field, where)
    if item.op == FilterOp.IS_EMPTY:
        return f"{field.name} = null"
    if item.op == FilterOp.IS_NOT_EMPTY:
        return f"{field.name} != null"
    value = typed_value(field, resolve_value(item.value, variables, now), where, guid_ids=False)
    if item.op in (FilterOp.CONTAINS, FilterOp.STARTS_WITH, FilterOp.ENDS_WITH):
        return f"{field.name} LIKE {soql_like(str(value), item.op)}"
    return f"{field.name} {_COMPARE[item.op]} {literal(value)}"


def soql_filter(
    info: TableInfo,
    level: FilterLevel,
    variables: Mapping[str, str],
    *,
    now: datetime,
    where: str = "filter",
) -> str:
    """The ``WHERE`` condition of ``level``; field errors name the condition (``filter[2]``)."""
    return render_filter(
        level,
        lambda item, here: _condition(info, item, here, variables, now),
        lambda join: str(join).upper(),
        where,
    )


def soql_window(field: str, start: datetime | None, end: datetime) -> str:
    """``start <= field < end`` (the automatic index's window)."""
    upper = f"{field} < {format_datetime(end)}"
    return upper if start is None else f"({field} >= {format_datetime(start)} AND {upper})"


def soql_in(field: str, ids: Sequence[str]) -> str:
    """``field IN ('id', …)``."""
    return f"{field} IN ({', '.join(quote_string(value) for value in ids)})"
