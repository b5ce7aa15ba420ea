"""Inbound filters: which CRM records a mapping propagates (SPEC §3, "Filters").

Each condition is compiled once into a predicate over a record's raw values. Values are compared
typed, by the field's CRM type: numbers as numbers, dates and times as instants, picklists by
their technical value, text case-insensitively (as Dataverse compares text). A missing or null
value makes every comparison false except ``is_empty``; an empty text also counts as empty. A
value that does not parse as its field's type never passes a comparison either.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from crmsync.config.models import FilterOp
from crmsync.connectors.base import CrmType, FieldInfo
from crmsync.sync.parse import (
    ConversionError,
    UnsupportedConversion,
    config_value,
    crm_parser,
    is_text_parser,
    text_of,
)

__all__ = ["Predicate", "combine", "compile_condition"]

#: Raw record values (by wire name) → whether the record passes.
Predicate = Callable[[Mapping[str, Any]], bool]

_ORDER = {
    FilterOp.EQ: operator.eq,
    FilterOp.NE: operator.ne,
    FilterOp.GT: operator.gt,
    FilterOp.GE: operator.ge,
    FilterOp.LT: operator.lt,
    FilterOp.LE: operator.le,
}
_TEXT_OPS: Mapping[FilterOp, Callable[[str, str], bool]] = {
    FilterOp.CONTAINS: lambda value, wanted: wanted in value,
    FilterOp.STARTS_WITH: str.startswith,
    FilterOp.ENDS_WITH: str.endswith,
}
_EQUALITY = (FilterOp.EQ, FilterOp.NE)
#: Types compared as text but never ordered (identifiers; values of unknown shape).
_UNORDERED_TEXT = (CrmType.LOOKUP, CrmType.UNIQUEIDENTIFIER, CrmType.OTHER)


def _is_empty(raw: Any) -> bool:
    return raw is None or raw == ""


def compile_condition(info: FieldInfo, op: FilterOp, value: Any) -> Predicate:
    """The predicate of one condition on ``info``.

    Raises :class:`UnsupportedConversion` when the comparison cannot apply to the field's type
    or ``value`` is not a value of the field.
    """
    wire = info.wire_name
    if op is FilterOp.IS_EMPTY:
        return lambda values: _is_empty(values.get(wire))
    if op is FilterOp.IS_NOT_EMPTY:
        return lambda values: not _is_empty(values.get(wire))

    parse = crm_parser(info)
    as_text = info.type is CrmType.OTHER or (info.type is CrmType.PICKLIST and not info.options)
    textual = as_text or is_text_parser(parse)
    if op in _TEXT_OPS and not textual:
        raise UnsupportedConversion(
            f"'{op.value}' applies to text fields, not to {info.type.value} fields"
        )
    if op not in _EQUALITY and op not in _TEXT_OPS:
        if info.type is CrmType.BOOLEAN:
            raise UnsupportedConversion("boolean fields can only be compared with eq and ne")
        if info.type in _UNORDERED_TEXT or as_text:
            raise UnsupportedConversion(
                f"'{op.value}' does not apply to {info.type.value} fields: use eq, ne or a "
                "text comparison"
            )

    typed: Callable[[Any], Any]
    if as_text:
        # Values of unknown shape (multi-select picklists, option-less picklists) are compared
        # on their text form, as written to Campaign.
        def typed_text(raw: Any) -> Any:
            return text_of(raw).casefold()

        typed = typed_text
        wanted: Any = text_of(value).casefold()
    elif textual:

        def typed_parsed(raw: Any) -> Any:
            return parse(raw).casefold()

        typed = typed_parsed
        wanted = text_of(config_value(info, value)).casefold()
    else:
        typed = parse
        wanted = config_value(info, value)

    compare: Callable[[Any, Any], bool] = _TEXT_OPS.get(op) or _ORDER[op]

    def predicate(values: Mapping[str, Any]) -> bool:
        raw = values.get(wire)
        if raw is None:
            return False
        try:
            return compare(typed(raw), wanted)
        except ConversionError:
            return False

    return predicate


def combine(predicates: Sequence[Predicate], mode: Literal["and", "or"]) -> Predicate:
    """All (``and``) or any (``or``) of ``predicates``; no predicates: everything passes."""
    chosen = tuple(predicates)
    if not chosen:
        return lambda _values: True
    if len(chosen) == 1:
        return chosen[0]
    if mode == "and":
        return lambda values: all(p(values) for p in chosen)
    return lambda values: any(p(values) for p in chosen)
