"""One mapped field's conversion step, built once when a mapping is compiled.

A step takes the raw CRM value of one field (``None`` when empty or missing) and returns the
Campaign value: empty values become the field's empty value (or a reject), replacements are looked
up on the typed CRM value, anything else is converted by the field's emitter. Steps are closures
over precomputed tables so that a record costs a few calls per field and nothing more.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from crmsync.connectors.base import CrmType, FieldInfo, Record
from crmsync.sync.convert import AS_IS, Emitter, Shape
from crmsync.sync.parse import ConversionError, Parser

__all__ = ["MISS", "FieldStep", "Replacements", "Step", "build_step", "key_function"]

#: A raw CRM value (``None`` when missing) and its record → the Campaign value.
Step = Callable[[Any, Record], Any]
#: "No replacement": distinct from every value, ``None`` included.
MISS: Any = object()


class FieldStep(NamedTuple):
    """The Campaign column, the record key (wire name) its value is read from, and the step;
    ``shape``: the common case its step only checks (see :func:`~crmsync.sync.convert.
    value_shape`), with the longest text allowed in ``limit``."""

    column: str
    wire: str
    step: Step
    shape: Shape = Shape.NONE
    limit: int = 0


@dataclass(frozen=True, slots=True)
class Replacements:
    """One field's replacements: typed CRM value (compared by ``key_of``) → Campaign value;
    ``null_hit`` replaces empty values (:data:`MISS` when there is no such replacement)."""

    hits: dict[Any, Any]
    null_hit: Any = MISS
    key_of: Callable[[Any], Any] | None = None


def key_function(info: FieldInfo) -> Callable[[Any], Any] | None:
    """How typed values of ``info`` are matched by replacements: identifiers ignore case."""
    if info.type in (CrmType.LOOKUP, CrmType.UNIQUEIDENTIFIER):
        return str.casefold
    return None


def build_step(
    parse: Parser,
    emit: Emitter,
    null_value: Any,
    null_error: ConversionError | None,
    replacements: Replacements,
) -> Step:
    """One field's step: empty values, replacements (on the typed CRM value), conversion.

    An empty value becomes ``null_value``, or raises a fresh copy of ``null_error`` when set.
    """
    if replacements.null_hit is not MISS:
        null_value, null_error = replacements.null_hit, None
    hits, key_of = replacements.hits, replacements.key_of

    def on_null() -> Any:
        if null_error is not None:
            raise ConversionError(null_error.code, null_error.message)
        return null_value

    if hits:

        def replacing(raw: Any, record: Record) -> Any:
            if raw is None:
                return on_null()
            typed = parse(raw)
            found = hits.get(typed if key_of is None else key_of(typed), MISS)
            if found is not MISS:
                return found
            return emit(typed, record)

        return replacing

    if emit is AS_IS:  # the typed value is the Campaign value: save a call per record

        def parsed(raw: Any, _record: Record) -> Any:
            return on_null() if raw is None else parse(raw)

        return parsed

    def converting(raw: Any, record: Record) -> Any:
        return on_null() if raw is None else emit(parse(raw), record)

    return converting
