"""Filter trees → OData ``$filter`` (parsed back with a real OData parser) and SOQL text."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from odata_query.grammar import ODataLexer, ODataParser

from crmsync.config.models import FilterOp
from crmsync.connectors.base import CrmType, FieldInfo, TableInfo
from crmsync.errors import ConfigurationError
from crmsync.jobs.filters import parse_filter
from crmsync.jobs.odata_filter import odata_filter, odata_in, odata_window
from crmsync.jobs.soql_filter import soql_filter, soql_in, soql_like, soql_window

NOW = datetime(2024, 3, 31, 12, 0, tzinfo=UTC)


def _info(pk: str) -> TableInfo:
    fields = {
        "name": FieldInfo("name", CrmType.STRING),
        "age": FieldInfo("age", CrmType.INTEGER),
        "score": FieldInfo("score", CrmType.DOUBLE),
        "active": FieldInfo("active", CrmType.BOOLEAN),
        "seen": FieldInfo("seen", CrmType.DATETIME),
        "born": FieldInfo("born", CrmType.DATE),
        "owner": FieldInfo("owner", CrmType.LOOKUP, read_name="_owner_value"),
        pk: FieldInfo(pk, CrmType.UNIQUEIDENTIFIER),
    }
    return TableInfo("t", "ts", pk, "name", True, fields)


def _parse_odata(text: str) -> Any:
    return ODataParser().parse(ODataLexer().tokenize(text))


TREES: list[Any] = [
    [{"field": "name", "op": "eq", "value": "O'Brien"}],
    [{"field": "name", "op": "contains", "value": "50%_off'"}],
    [{"field": "name", "op": "starts_with", "value": "a\\b"}],
    [{"field": "name", "op": "ends_with", "value": 'quote " and \n newline'}],
    [
        {"field": "age", "op": "ge", "value": 18},
        {"join": "and", "field": "score", "op": "lt", "value": 2.5},
    ],
    [{"field": "active", "op": "ne", "value": False}],
    [{"field": "seen", "op": "ge", "value": {"days_ago": 7}}],
    [{"field": "seen", "op": "lt", "value": "2024-03-31T02:30:00+02:00"}],
    [{"field": "born", "op": "eq", "value": date(1990, 5, 1)}],
    [{"field": "name", "op": "is_empty"}, {"join": "or", "field": "age", "op": "is_not_empty"}],
    [
        {"field": "name", "op": "eq", "value": "x"},
        {
            "join": "and",
            "group": [
                {"field": "age", "op": "gt", "value": 1},
                {"join": "or", "field": "age", "op": "lt", "value": -1},
            ],
        },
    ],
    [{"field": "seen", "op": "le", "value": {"var": "crmEndDate"}}],
]
VARIABLES = {"crmEndDate": "2024/03/31 01:00:00"}


@pytest.mark.parametrize("tree", TREES)
def test_odata_translation_parses(tree: Any) -> None:
    text = odata_filter(_info("tid"), parse_filter(tree), VARIABLES, now=NOW)
    assert _parse_odata(text) is not None


def test_odata_literals() -> None:
    info = _info("tid")
    text = odata_filter(info, parse_filter(TREES[0]), {}, now=NOW)
    assert text == "name eq 'O''Brien'"
    parsed = _parse_odata(text)
    assert parsed.right.val == "O'Brien"
    assert odata_filter(info, parse_filter(TREES[7]), {}, now=NOW) == "seen lt 2024-03-31T00:30:00Z"
    assert odata_filter(info, parse_filter(TREES[6]), {}, now=NOW) == "seen ge 2024-03-24T12:00:00Z"
    assert odata_filter(info, parse_filter(TREES[11]), VARIABLES, now=NOW) == (
        "seen le 2024-03-31T01:00:00Z"
    )
    lookup = [{"field": "owner", "op": "eq", "value": "6f1c2d4e-0000-4000-8000-000000000001"}]
    assert odata_filter(info, parse_filter(lookup), {}, now=NOW) == (
        "_owner_value eq 6f1c2d4e-0000-4000-8000-000000000001"
    )
    assert (
        odata_filter(info, parse_filter(TREES[10]), {}, now=NOW)
        == "(name eq 'x' and (age gt 1 or age lt -1))"
    )


def test_odata_window_and_ids_parse() -> None:
    start, end = datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 2, tzinfo=UTC)
    assert _parse_odata(odata_window("modifiedon", start, end))
    assert odata_window("m", None, end) == "m lt 2024-01-02T00:00:00Z"
    import uuid

    ids = [uuid.UUID(int=1), uuid.UUID(int=2)]
    assert _parse_odata(odata_in("contactid", ids)).right.val[1].val == str(ids[1])
    assert odata_in("contactid", ids[:1]) == f"contactid eq {ids[0]}"


def test_soql_literals() -> None:
    info = _info("Id")
    assert soql_filter(info, parse_filter(TREES[0]), {}, now=NOW) == "name = 'O\\'Brien'"
    assert soql_filter(info, parse_filter(TREES[1]), {}, now=NOW) == "name LIKE '%50\\%\\_off\\'%'"
    assert soql_filter(info, parse_filter(TREES[5]), {}, now=NOW) == "active != false"
    assert soql_filter(info, parse_filter(TREES[7]), {}, now=NOW) == (
        "seen < 2024-03-31T00:30:00.000Z"
    )
    assert soql_filter(info, parse_filter(TREES[8]), {}, now=NOW) == "born = 1990-05-01"
    assert soql_filter(info, parse_filter(TREES[9]), {}, now=NOW) == (
        "(name = null OR age != null)"
    )
    assert soql_window("SystemModstamp", None, NOW) == "SystemModstamp < 2024-03-31T12:00:00.000Z"
    assert soql_in("Id", ["003000000000001AAA", "x'y"]) == "Id IN ('003000000000001AAA', 'x\\'y')"
    assert soql_like("a_b", FilterOp.STARTS_WITH) == "'a\\_b%'"


@pytest.mark.parametrize(
    ("tree", "message"),
    [
        ([{"field": "nope", "op": "eq", "value": 1}], r"filter\[0\]: t has no field 'nope'"),
        ([{"field": "NAME", "op": "eq", "value": 1}], "did you mean 'name'"),
        ([{"field": "age", "op": "eq", "value": "ten"}], r"filter\[0\]: 'age' is a Integer"),
        ([{"field": "active", "op": "eq", "value": 1}], "true or false"),
        ([{"field": "seen", "op": "eq", "value": "yesterday"}], "a date or date-time"),
        (
            [
                {"field": "name", "op": "eq", "value": "x"},
                {"join": "or", "group": [{"field": "tid", "op": "eq", "value": "nope"}]},
            ],
            r"filter\[1\]\.group\[0\].*GUID",
        ),
    ],
)
def test_type_errors_name_the_condition(tree: Any, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        odata_filter(_info("tid"), parse_filter(tree), {}, now=NOW)
