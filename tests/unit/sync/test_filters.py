"""Inbound filters: every comparison on every kind of field, nulls, And and Or."""

from __future__ import annotations

from typing import Any

import pytest

from crmsync.config.models import FilterOp
from crmsync.connectors.base import CrmType, FieldInfo, Option
from crmsync.sync.filters import combine, compile_condition
from crmsync.sync.parse import UnsupportedConversion

T = CrmType
O = FilterOp  # noqa: E741
TIER = FieldInfo("tier", T.PICKLIST, options=(Option(1, "Bronze"), Option(2, "Gold")))
RATING = FieldInfo("Rating", T.PICKLIST, options=(Option("Hot", "Hot"), Option("Cold", "Cold")))
FLAG = FieldInfo("flag", T.BOOLEAN, options=(Option(False, "No"), Option(True, "Yes")))
OWNER = FieldInfo("owner", T.LOOKUP, read_name="_owner_value")
FIELDS = {
    T.STRING: FieldInfo("name", T.STRING),
    T.MEMO: FieldInfo("notes", T.MEMO),
    T.INTEGER: FieldInfo("count", T.INTEGER),
    T.BIGINT: FieldInfo("big", T.BIGINT),
    T.DECIMAL: FieldInfo("rate", T.DECIMAL),
    T.DOUBLE: FieldInfo("score", T.DOUBLE),
    T.MONEY: FieldInfo("revenue", T.MONEY),
    T.DATETIME: FieldInfo("modified", T.DATETIME, date_behavior="UserLocal"),
    T.DATE: FieldInfo("birth", T.DATE, date_behavior="DateOnly"),
    T.UNIQUEIDENTIFIER: FieldInfo("uid", T.UNIQUEIDENTIFIER),
    T.OTHER: FieldInfo("multi", T.OTHER),
}


def check(field: FieldInfo, op: FilterOp, wanted: Any, raw: Any) -> bool:
    predicate = compile_condition(field, op, wanted)
    values = {} if raw is _ABSENT else {field.wire_name: raw}
    return predicate(values)


class _Absent:
    """A field missing from the record (its repr names the test, the same in every process)."""

    def __repr__(self) -> str:
        return "absent"


_ABSENT = _Absent()
S, N, D, DT, DA = (FIELDS[t] for t in (T.STRING, T.INTEGER, T.DECIMAL, T.DATETIME, T.DATE))

CASES: list[tuple[FieldInfo, FilterOp, Any, Any, bool]] = [
    # text: case-insensitive, like Dataverse
    (S, O.EQ, "Gold", "gold", True),
    (S, O.EQ, "Gold", "Golden", False),
    (S, O.NE, "Gold", "GOLD", False),
    (S, O.NE, "Gold", "Silver", True),
    (S, O.GT, "b", "C", True),
    (S, O.GE, "b", "B", True),
    (S, O.LT, "b", "A", True),
    (S, O.LE, "b", "c", False),
    (S, O.CONTAINS, "ÖBERG", "Åsa Öberg", True),
    (S, O.CONTAINS, "x", "Åsa", False),
    (S, O.STARTS_WITH, "åS", "Åsa", True),
    (S, O.STARTS_WITH, "sa", "Åsa", False),
    (S, O.ENDS_WITH, "@EXAMPLE.com", "a@example.COM", True),
    (S, O.ENDS_WITH, "@example.org", "a@example.com", False),
    (FIELDS[T.MEMO], O.CONTAINS, "vip", "A VIP customer", True),
    # numbers: compared as numbers, not text
    (N, O.EQ, 10, 10, True),
    (N, O.EQ, "10", 10, True),
    (N, O.GT, 9, 10, True),
    (N, O.GT, 10, 9, False),
    (N, O.GE, 10, 10, True),
    (N, O.LT, 100, 20, True),
    (N, O.LE, 9, 10, False),
    (N, O.NE, 1, 2, True),
    (FIELDS[T.BIGINT], O.GT, 2**53, 2**53 + 1, True),
    (D, O.EQ, 0.1, 0.1, True),
    (D, O.EQ, "0.1", 0.1, True),
    (D, O.LT, 1.5, 1.25, True),
    (FIELDS[T.DOUBLE], O.GE, -1, -1.0, True),
    (FIELDS[T.MONEY], O.GT, 1000, 999.99, False),
    (FIELDS[T.MONEY], O.GT, 1000, 1000.01, True),
    # dates and times: compared as instants, whatever the offsets
    (DT, O.EQ, "2024-01-31T10:00:00Z", "2024-01-31T11:00:00+01:00", True),
    (DT, O.GT, "2024-01-31T10:00:00Z", "2024-01-31T10:30:00+01:00", False),
    (DT, O.GE, "2024-01-31", "2024-01-31T00:00:00.000+0000", True),
    (DT, O.LT, "2024-01-31T10:00:00Z", "2024-01-31T09:59:59Z", True),
    (DT, O.LE, "2024-03-31T01:00:00Z", "2024-03-31T03:00:00+02:00", True),
    (DA, O.EQ, "2024-01-31", "2024-01-31", True),
    (DA, O.GT, "2024-01-31", "2024-02-01", True),
    (DA, O.LT, "2024-01-31", "2024-01-30", True),
    (DA, O.EQ, "2024-01-31", "2024-01-31T00:00:00+14:00", True),
    # picklists: technical values, or labels in the configuration
    (TIER, O.EQ, 2, 2, True),
    (TIER, O.EQ, "Gold", 2, True),
    (TIER, O.NE, "Gold", 1, True),
    (TIER, O.GE, 2, 1, False),
    (RATING, O.EQ, "hot", "Hot", True),
    (RATING, O.STARTS_WITH, "co", "Cold", True),
    # booleans
    (FLAG, O.EQ, True, True, True),
    (FLAG, O.EQ, "Yes", True, True),
    (FLAG, O.EQ, False, True, False),
    (FLAG, O.NE, False, True, True),
    # identifiers: case-insensitive equality
    (OWNER, O.EQ, "ABC-1", "abc-1", True),
    (OWNER, O.NE, "ABC-1", "abc-2", True),
    (FIELDS[T.UNIQUEIDENTIFIER], O.STARTS_WITH, "00000000", "00000000-0000", True),
    # values of unknown shape: their text form
    (FIELDS[T.OTHER], O.CONTAINS, "2", "1,2,3", True),
    (FIELDS[T.OTHER], O.EQ, "[1,2]", [1, 2], True),
    # empty checks
    (S, O.IS_EMPTY, None, None, True),
    (S, O.IS_EMPTY, None, _ABSENT, True),
    (S, O.IS_EMPTY, None, "", True),
    (S, O.IS_EMPTY, None, "x", False),
    (S, O.IS_NOT_EMPTY, None, "x", True),
    (S, O.IS_NOT_EMPTY, None, "", False),
    (N, O.IS_EMPTY, None, 0, False),
    (FLAG, O.IS_NOT_EMPTY, None, False, True),
    (OWNER, O.IS_EMPTY, None, None, True),
]


@pytest.mark.parametrize(
    ("field", "op", "wanted", "raw", "expected"),
    [
        pytest.param(*case, id=f"{case[0].type.value}-{case[1].value}-{case[2]!r}-{case[3]!r}")
        for case in CASES
    ],
)
def test_condition(field: FieldInfo, op: FilterOp, wanted: Any, raw: Any, expected: bool) -> None:
    assert check(field, op, wanted, raw) is expected


VALUE_OPS = [op for op in FilterOp if op not in (O.IS_EMPTY, O.IS_NOT_EMPTY)]
ALL_FIELDS = [*FIELDS.values(), TIER, RATING, FLAG, OWNER]


def _wanted(field: FieldInfo) -> Any:
    if field.type is T.PICKLIST:
        return field.options[0].value
    return {
        T.DATETIME: "2024-01-31T10:00:00Z",
        T.DATE: "2024-01-31",
        T.BOOLEAN: True,
    }.get(field.type, "1")


@pytest.mark.parametrize("field", ALL_FIELDS, ids=lambda f: f.type.value + ":" + f.name)
@pytest.mark.parametrize("op", VALUE_OPS, ids=lambda op: op.value)
@pytest.mark.parametrize("raw", [None, _ABSENT], ids=["null", "missing"])
def test_every_comparison_against_null_is_false(field: FieldInfo, op: FilterOp, raw: Any) -> None:
    try:
        predicate = compile_condition(field, op, _wanted(field))
    except UnsupportedConversion:
        return  # a comparison the field's type does not offer (tested below)
    assert predicate({} if raw is _ABSENT else {field.wire_name: None}) is False


@pytest.mark.parametrize(
    ("field", "op", "value", "message"),
    [
        (N, O.CONTAINS, "1", "applies to text fields"),
        (DT, O.STARTS_WITH, "2024", "applies to text fields"),
        (TIER, O.ENDS_WITH, "d", "applies to text fields"),
        (FLAG, O.GT, True, "only be compared with eq and ne"),
        (OWNER, O.GT, "a", "does not apply to Lookup"),
        (FIELDS[T.OTHER], O.LT, "a", "does not apply to Other"),
        (N, O.EQ, "ten", "not a whole number"),
        (DT, O.GT, "yesterday", "not an ISO 8601 date and time"),
        (DA, O.EQ, "31/01/2024", "not an ISO 8601 date"),
        (TIER, O.EQ, "Platinum", "not a value of Picklist field"),
        (FLAG, O.EQ, "perhaps", "not a value of Boolean field"),
    ],
)
def test_refused_at_compile_time(field: FieldInfo, op: FilterOp, value: Any, message: str) -> None:
    with pytest.raises(UnsupportedConversion, match=message):
        compile_condition(field, op, value)


def test_a_value_that_does_not_parse_never_passes() -> None:
    assert check(N, O.NE, 1, "not a number") is False
    assert check(DT, O.LT, "2030-01-01T00:00:00Z", "garbage") is False
    assert check(DT, O.LT, "2030-01-01T00:00:00Z", "2024-01-01T00:00:00") is False


def test_lookups_are_read_under_their_wire_name() -> None:
    predicate = compile_condition(OWNER, O.EQ, "abc")
    assert predicate({"_owner_value": "ABC"}) is True
    assert predicate({"owner": "abc"}) is False


class TestCombine:
    def test_no_filters_pass_everything(self) -> None:
        assert combine([], "and")({}) is True
        assert combine([], "or")({}) is True

    @pytest.mark.parametrize(
        ("count", "city", "and_", "or_"),
        [
            (10, "Oslo", True, True),
            (10, "Bergen", False, True),
            (1, "Oslo", False, True),
            (1, "Bergen", False, False),
            (None, None, False, False),
        ],
    )
    def test_and_needs_all_or_needs_any(
        self, count: int | None, city: str | None, and_: bool, or_: bool
    ) -> None:
        conditions = [
            compile_condition(N, O.GE, 5),
            compile_condition(S, O.EQ, "oslo"),
        ]
        values = {"count": count, "name": city}
        assert combine(conditions, "and")(values) is and_
        assert combine(conditions, "or")(values) is or_

    def test_a_single_condition_is_itself(self) -> None:
        only = compile_condition(N, O.EQ, 1)
        assert combine([only], "or") is only
