"""Which batches the binary COPY takes: values of their column's own Python type, or None."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from crmsync.store import UtcDateTime
from crmsync.store.copy_merge import copyable

TABLE = sa.Table(
    "t",
    sa.MetaData(),
    sa.Column("text", sa.String(10)),
    sa.Column("memo", sa.Text()),
    sa.Column("number", sa.BigInteger()),
    sa.Column("flag", sa.Boolean()),
    sa.Column("ratio", sa.Double()),
    sa.Column("day", sa.Date()),
    sa.Column("at", UtcDateTime()),
    sa.Column("amount", sa.Numeric()),
    sa.Column("small", sa.Integer()),
    sa.Column("single", sa.Float(precision=24)),
)
COLUMNS = ("text", "memo", "number", "flag", "ratio", "day", "at")
GOOD = ("a", "b", 1, True, 0.5, date(2020, 1, 1), datetime(2020, 1, 1, tzinfo=UTC))


def test_values_of_their_columns_types_and_nulls_are_copyable() -> None:
    nulls = (None,) * len(COLUMNS)
    assert copyable(TABLE, COLUMNS, [GOOD, nulls, (*GOOD[:4], 2, *GOOD[5:])])


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("text", 5),
        ("memo", b"bytes"),
        ("number", True),  # a bool is no integer here
        ("number", 1.5),
        ("flag", 1),
        ("ratio", "0.5"),
        ("day", datetime(2020, 1, 1, tzinfo=UTC)),  # a datetime is no date here
        ("day", "2020-01-01"),
        ("at", "2020-01-01T00:00:00Z"),
    ],
)
def test_a_value_of_another_type_is_not(column: str, value: Any) -> None:
    loose = list(GOOD)
    loose[COLUMNS.index(column)] = value
    assert not copyable(TABLE, COLUMNS, [GOOD, tuple(loose)])


def test_a_column_type_without_a_binary_source_is_not() -> None:
    assert not copyable(TABLE, ("amount",), [(None,)])


@pytest.mark.parametrize(
    ("column", "fits", "too_big"),
    [
        ("number", [-(2**63), 2**63 - 1], 2**63),
        ("small", [-(2**31), 2**31 - 1], -(2**31) - 1),
        ("single", [3.4e38, -3.4e38, float("inf"), float("nan")], 3.5e38),
    ],
)
def test_numbers_out_of_their_columns_range_are_not(
    column: str, fits: list[Any], too_big: Any
) -> None:
    rows = [(value,) for value in fits]
    assert copyable(TABLE, (column,), rows)
    assert not copyable(TABLE, (column,), [*rows, (too_big,)])
    assert copyable(TABLE, ("ratio",), [(3.5e38,)])  # double precision
