"""The compiled per-record fill of a mapping's rows: each field's common shape written as it is,
anything else through the field's step, names bound as values (never part of the code)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from crmsync.connectors.base import Record
from crmsync.sync.convert import Shape
from crmsync.sync.parse import ConversionError, RejectCode
from crmsync.sync.row_fill import FieldError, compile_fill

#: Column and wire names a configuration may hold, that would break code they were part of.
ODD = 'a"); raise SystemExit("x'


def _stepped(value: Any, _record: Record) -> Any:
    if value == "bad":
        raise ConversionError(RejectCode.INVALID_VALUE, "not a value")
    return ("stepped", value)


def _fill(*fields: tuple[str, Shape, int, Any, Any]) -> Any:
    plan = [
        (column, f"wire_{column}", int(shape), limit, _stepped, process, fast)
        for column, shape, limit, process, fast in fields
    ]
    fill = compile_fill(plan)

    def row(values: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        fill(values.get, out, Record("id-1", values, {}, 1))
        return out

    return row


def test_values_of_their_shape_are_written_as_they_are_others_through_the_step() -> None:
    row = _fill(
        ("text", Shape.TEXT, 5, None, None),
        ("number", Shape.INT, 0, None, None),
        ("flag", Shape.BOOL, 0, None, ("no", "yes")),
        ("amount", Shape.FLOAT, 0, None, None),
        ("day", Shape.DATE, 0, None, False),
        ("stamp", Shape.DATETIME, 0, None, True),
        ("other", Shape.NONE, 0, None, None),
    )
    values = {
        "wire_text": "abc",
        "wire_number": 7,
        "wire_flag": True,
        "wire_amount": 1.5,
        "wire_day": "2024-02-29",
        "wire_stamp": "2024-02-29T10:11:12Z",
        "wire_other": "x",
    }
    assert row(values) == {
        "text": "abc",
        "number": 7,
        "flag": "yes",
        "amount": 1.5,
        "day": date(2024, 2, 29),
        "stamp": "2024-02-29 10:11:12.000000",
        "other": ("stepped", "x"),
    }
    odd = {
        "wire_text": "abcdef",  # longer than the limit
        "wire_number": 2**63,  # beyond 64 bits
        "wire_flag": 1,
        "wire_amount": float("inf"),
        "wire_day": "2024-02-30",  # no such day
        "wire_stamp": "2024-W09-4T10:11:12",  # another layout
    }
    assert row(odd) == {
        "text": ("stepped", "abcdef"),
        "number": ("stepped", 2**63),
        "flag": ("stepped", 1),
        "amount": ("stepped", float("inf")),
        "day": ("stepped", "2024-02-30"),
        "stamp": ("stepped", "2024-W09-4T10:11:12"),
        "other": ("stepped", None),
    }


def test_a_date_time_not_written_as_text_is_its_parse_and_the_processor_follows_the_step() -> None:
    row = _fill(("stamp", Shape.DATETIME, 0, None, False), ("n", Shape.NONE, 0, repr, None))
    assert row({"wire_stamp": "2024-02-29T10:11:12Z", "wire_n": 3}) == {
        "stamp": datetime(2024, 2, 29, 10, 11, 12, tzinfo=UTC),
        "n": "('stepped', 3)",
    }


def test_names_are_values_not_code() -> None:
    fill = compile_fill([(ODD, ODD, int(Shape.TEXT), 10, _stepped, None, None)])
    out: dict[str, Any] = {}
    fill({ODD: "value"}.get, out, Record("id-1", {}, {}, 1))
    assert out == {ODD: "value"}


def test_a_refused_value_names_its_field() -> None:
    row = _fill(("text", Shape.TEXT, 2, None, None), ("other", Shape.NONE, 0, None, None))
    with pytest.raises(FieldError) as caught:
        row({"wire_text": "ok", "wire_other": "bad"})
    assert (caught.value.column, caught.value.wire) == ("other", "wire_other")
    assert caught.value.error.code is RejectCode.INVALID_VALUE


def test_a_mapping_without_fields_fills_nothing() -> None:
    out: dict[str, Any] = {"key": "k"}
    compile_fill([])({}.get, out, Record("k", {}, {}, 1))
    assert out == {"key": "k"}
