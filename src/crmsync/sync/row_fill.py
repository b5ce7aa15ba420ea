"""The per-record loop of :meth:`~crmsync.sync.transform.CompiledMapping.row_maker`, compiled
once per mapping into one Python function with a statement per field.

A loop over the planned fields spends most of a row's time on itself (unpacking each field's
plan, choosing its shape's check) rather than on the checks: the function made here has each
field's check written out, its constants bound once. Its source is made of fixed text and
numbered names only (``c3``, ``w3``, …, bound to each field's column, wire name, limit, step):
nothing of a configuration is part of the code.

Each field's value goes one of two ways, as in the loop it replaces: a value of its field's
common shape (:class:`~crmsync.sync.convert.Shape`) is written as it is, or as its parse; any
other goes through the field's step (and the column's processor). A step's
:class:`~crmsync.sync.parse.ConversionError` is raised as :class:`FieldError`, naming the field.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any

from crmsync.connectors.base import Record
from crmsync.sync.convert import Shape
from crmsync.sync.parse import ConversionError

__all__ = ["FieldError", "Fill", "compile_fill"]

#: ``fill(get, row, record)``: the record's fields (``get``: its values' ``get``) into ``row``.
Fill = Callable[[Callable[[str], Any], dict[str, Any], Record], None]

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


class FieldError(Exception):
    """The step of field ``wire`` (into ``column``) refused its value."""

    def __init__(self, column: str, wire: str, error: ConversionError) -> None:
        super().__init__(error.message)
        self.column, self.wire, self.error = column, wire, error


def _day(value: str) -> date | None:
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None  # not a date: the step says why


def _stamp(value: str) -> datetime | None:
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None  # not a date and time: the step says why


def _slow(column: str, wire: str, step: Any, process: Any) -> Callable[[Any, Record], Any]:
    """A field's way for values not of its shape: its step, then its column's processor."""

    def convert(value: Any, record: Record) -> Any:
        try:
            converted = step(value, record)
            return converted if process is None else process(converted)
        except ConversionError as exc:
            raise FieldError(column, wire, exc) from None

    return convert


#: Per shape: the condition a value ``v`` of that shape meets (``{i}``: the field's number),
#: and what is written then.
_FAST: dict[Shape, tuple[str, str]] = {
    Shape.TEXT: ('type(v) is str and len(v) <= n{i} and "\\x00" not in v', "v"),
    Shape.INT: ("type(v) is int and _INT64_MIN <= v <= _INT64_MAX", "v"),
    Shape.BOOL: ("v is True or v is False", "f{i}[v]"),
    Shape.FLOAT: ("type(v) is float and -_INF < v < _INF", "v"),
    Shape.DATE: (
        'type(v) is str and len(v) == 10 and v[4] == v[7] == "-" and v.isascii()'
        " and (d := _day(v)) is not None",
        "v if f{i} else d",
    ),
    # Every separator checked: Python's parser also reads other layouts of 20 characters
    # (ISO week dates, times without colons), which the text written would garble.
    Shape.DATETIME: (
        'type(v) is str and len(v) == 20 and v[4] == v[7] == "-" and v[10] == "T"'
        ' and v[13] == v[16] == ":" and v[19] == "Z" and v.isascii()'
        " and (s := _stamp(v)) is not None",
        'f"{{v[:10]}} {{v[11:19]}}.000000" if f{i} else s',
    ),
}


def compile_fill(plan: Sequence[tuple[str, str, int, int, Any, Any, Any]]) -> Fill:
    """The fill function of ``plan``: per field (column, wire name, shape, text limit, step,
    processor or ``None``, the shape's constant), as
    :meth:`~crmsync.sync.transform.CompiledMapping.row_maker` plans them."""
    names: dict[str, Any] = {
        "_INT64_MIN": _INT64_MIN,
        "_INT64_MAX": _INT64_MAX,
        "_INF": math.inf,
        "_day": _day,
        "_stamp": _stamp,
    }
    lines = ["def fill(get, row, record):"]
    for i, (column, wire, shape, limit, step, process, fast) in enumerate(plan):
        names.update({f"c{i}": column, f"w{i}": wire, f"n{i}": limit, f"f{i}": fast})
        names[f"slow{i}"] = _slow(column, wire, step, process)
        lines.append(f"    v = get(w{i})")
        if Shape(shape) in _FAST:
            condition, written = _FAST[Shape(shape)]
            lines.append(f"    if {condition.format(i=i)}:")
            lines.append(f"        row[c{i}] = {written.format(i=i)}")
            lines.append("    else:")
            lines.append(f"        row[c{i}] = slow{i}(v, record)")
        else:
            lines.append(f"    row[c{i}] = slow{i}(v, record)")
    if not plan:
        lines.append("    return None")
    exec(compile("\n".join(lines), "<crmsync row fill>", "exec"), names)  # noqa: S102
    fill: Fill = names["fill"]
    return fill
