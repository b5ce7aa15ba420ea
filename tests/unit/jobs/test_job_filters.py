"""Filter rules (SPEC §4.1): a matrix of valid and invalid trees, each error at its path."""

from __future__ import annotations

from typing import Any

import pytest

from crmsync.config.errors import format_loc
from crmsync.config.models import FilterOp
from crmsync.jobs.filters import Condition, FilterLevel, check_filter, parse_filter

C = {"field": "lastname", "op": "eq", "value": "x"}

VALID: list[Any] = [
    [C],
    [C, {"join": "and", "field": "age", "op": "gt", "value": 3}],
    [C, {"join": "or", "field": "age", "op": "le", "value": 3.5}],
    [{"field": "email", "op": "is_empty"}],
    [{"field": "email", "op": "is_not_empty"}, {"join": "AND", **C}],
    [C, {"join": "and", "group": [C, {"join": "or", **C}]}],
    [{"field": "created", "op": "ge", "value": {"days_ago": 7}}],
    [{"field": "created", "op": "lt", "value": {"var": "crmEndDate"}}],
    [{"field": "active", "op": "eq", "value": True}],
    [{"field": "name", "op": "contains", "value": "O'Brien %_"}],
    [{"group": [C]}],
]

INVALID: list[tuple[Any, str, str]] = [
    (
        [C, {"join": "and", **C}, {"join": "or", **C}],
        "f[2].join",
        "mixes 'and' and 'or'",
    ),
    ([C, {"join": "and not", **C}], "f[1].join", "'and not' is not supported"),
    ([C, {"join": "AND_NOT", **C}], "f[1].join", "not supported"),
    ([C, C], "f[1].join", "required after the first item"),
    ([{"join": "and", **C}], "f[0].join", "joins nothing"),
    ([C, {"join": "xor", **C}], "f[1].join", "unknown join"),
    ([{"field": 3, "op": "eq", "value": 1}], "f[0].field", "not a number"),
    ([{"field": "a + b", "op": "eq", "value": 1}], "f[0].field", "not an expression"),
    ([{"field": "parentcustomerid.name", "op": "eq", "value": 1}], "f[0].field", "joins"),
    ([{"field": "Account/Name", "op": "eq", "value": 1}], "f[0].field", "joins"),
    ([{"field": "a", "op": "eq", "value": {"field": "b"}}], "f[0].value", "join"),
    ([{"field": "a", "op": "eq", "value": {"code": "1+1"}}], "f[0].value", "a value is"),
    ([{"field": "a", "op": "eq", "value": [1, 2]}], "f[0].value", "lists and code"),
    ([{"field": "a", "op": "eq"}], "f[0].value", "needs a value"),
    ([{"field": "a", "op": "is_empty", "value": 1}], "f[0].value", "takes no value"),
    ([{"field": "a", "op": "like", "value": 1}], "f[0].op", "unknown operator"),
    ([{"op": "eq", "value": 1}], "f[0].field", "required"),
    ([{"field": "a", "op": "contains", "value": 3}], "f[0].value", "compares text"),
    ([{"field": "a", "op": "eq", "value": {"days_ago": -1}}], "f[0].value.days_ago", "whole"),
    ([{"field": "a", "op": "eq", "value": {"var": "x y"}}], "f[0].value.var", "variable"),
    ([{"field": "a", "op": "eq", "value": 1, "extra": 2}], "f[0].extra", "unknown key"),
    ([], "f", "non-empty list"),
    ([C, {"join": "and", "group": [C, {"join": "and not", **C}]}], "f[1].group[1].join", "not"),
    ([C, {"join": "or", "group": []}], "f[1].group", "non-empty"),
    ([C, {"join": "or", "group": [C], "field": "x"}], "f[1].field", "only 'join' and 'group'"),
    (["text"], "f[0]", "a filter item is a mapping"),
]


@pytest.mark.parametrize("tree", VALID)
def test_valid_trees_pass(tree: Any) -> None:
    assert check_filter(tree, ("f",)) == []


@pytest.mark.parametrize(("tree", "path", "message"), INVALID)
def test_invalid_trees_point_at_the_condition(tree: Any, path: str, message: str) -> None:
    issues = check_filter(tree, ("f",))
    assert issues, "expected an error"
    assert any(format_loc(i.loc) == path and message in i.message for i in issues), [
        (format_loc(i.loc), i.message) for i in issues
    ]


def test_parse_builds_the_tree() -> None:
    tree = parse_filter(
        [C, {"join": "AND", "group": [C, {"join": "or", "field": "e", "op": "is_empty"}]}]
    )
    assert tree.join == "and"
    assert tree.items[0] == Condition("lastname", FilterOp.EQ, "x")
    inner = tree.items[1]
    assert isinstance(inner, FilterLevel)
    assert inner.join == "or"
    assert inner.items[1] == Condition("e", FilterOp.IS_EMPTY, None)
