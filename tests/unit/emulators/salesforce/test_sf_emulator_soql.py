"""SOQL parsing: the statements the emulator serves, Salesforce-style errors, hostile input."""

# ruff: noqa: S608 - the statements built here are SOQL sent to the parser, on purpose

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmsync.emulators.salesforce.soql import (
    MAX_QUERY_LENGTH,
    BoolOp,
    Comparison,
    CountAll,
    InList,
    Not,
    SoqlError,
    locate,
    parse,
)


def test_full_statement() -> None:
    query = parse(
        "select Id, Account.Name FROM Contact where Email != null AND LastName LIKE 'Sm%' "
        "ORDER BY LastName DESC NULLS LAST, Id LIMIT 10 OFFSET 5"
    )
    assert [f.text for f in query.fields] == ["Id", "Account.Name"]  # type: ignore[union-attr]
    assert query.sobject == "Contact"
    assert isinstance(query.where, BoolOp)
    assert query.where.op == "AND"
    first, second = query.where.items
    assert isinstance(first, Comparison)
    assert (first.op, first.value.kind) == ("!=", "null")
    assert isinstance(second, Comparison)
    assert (second.op, second.value.text) == ("LIKE", "Sm%")
    assert [(t.field.text, t.descending, t.nulls_last) for t in query.order] == [
        ("LastName", True, True),
        ("Id", False, False),
    ]
    assert (query.limit, query.offset) == (10, 5)


def test_count_and_literals() -> None:
    query = parse(
        "SELECT COUNT() FROM Contact WHERE NOT (DoNotCall = TRUE OR Birthdate < 1990-01-31) "
        "AND SystemModstamp >= 2024-01-01T10:00:00.000+0000 AND CreatedDate > LAST_N_DAYS:7 "
        "AND Loyalty_Points__c IN (1, 2.5, -3) AND Name NOT IN ('a', 'b') AND Title <> 'x'"
    )
    assert isinstance(query.fields, CountAll)
    assert isinstance(query.where, BoolOp)
    negated, stamp, relative, numbers, names, title = query.where.items
    assert isinstance(negated, Not)
    assert isinstance(negated.item, BoolOp)
    assert negated.item.op == "OR"
    assert isinstance(stamp, Comparison)
    assert stamp.value.kind == "datetime"
    assert isinstance(relative, Comparison)
    assert (relative.value.kind, relative.value.text, relative.value.n) == (
        "relative",
        "LAST_N_DAYS",
        7,
    )
    assert isinstance(numbers, InList)
    assert [v.text for v in numbers.values] == ["1", "2.5", "-3"]
    assert isinstance(names, InList)
    assert names.negated
    assert isinstance(title, Comparison)
    assert title.op == "!="


@pytest.mark.parametrize(
    ("literal", "plain", "like"),
    [
        (r"'O\'Brien'", "O'Brien", "O'Brien"),
        (r"'a\\b'", "a\\b", "a\\\\b"),
        (r"'50\%'", "50%", "50\\%"),
        (r"'a\_b%'", "a_b%", "a\\_b%"),
        (r"'tab\there'", "tab\there", "tab\there"),
        (r"'\u00e9t\u00E9'", "été", "été"),
        ("'naïve ✓'", "naïve ✓", "naïve ✓"),
    ],
)
def test_string_escapes(literal: str, plain: str, like: str) -> None:
    query = parse(f"SELECT Id FROM Contact WHERE LastName LIKE {literal}")
    assert isinstance(query.where, Comparison)
    assert query.where.value.text == plain
    assert query.where.value.like == like


def test_error_points_at_the_token_like_salesforce() -> None:
    text = "SELECT Id FRM Contact"
    with pytest.raises(SoqlError) as caught:
        parse(text)
    assert caught.value.code == "MALFORMED_QUERY"
    assert caught.value.message(text) == (
        "\nSELECT Id FRM Contact\n          ^\nERROR at Row:1:Column:11\nunexpected token: 'FRM'"
    )


def test_locate_on_later_rows() -> None:
    assert locate("SELECT Id\nFROM X\nWHERE", 17, "boom") == (
        "\nWHERE\n^\nERROR at Row:3:Column:1\nboom"
    )


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("SELECT Id FROM Contact WHERE", "unexpected token: '<EOF>'"),
        ("SELECT FROM Contact", "unexpected token: 'FROM'"),
        ("SELECT Id FROM Contact WHERE a = 1 AND b = 2 OR c = 3", "unexpected token: 'OR'"),
        ("SELECT Id FROM Contact WHERE a = 'open", "mismatched character '<EOF>'"),
        (r"SELECT Id FROM Contact WHERE a = 'bad\q'", "Illegal character sequence '\\q'"),
        ("SELECT Id FROM Contact; DELETE FROM Contact", "unexpected token: ';'"),
        ("SELECT Id FROM Contact WHERE Name = 'x' --", "unexpected token: '-'"),
        ("SELECT Id FROM Contact LIMIT -1", "unexpected token: '-1'"),
        ("SELECT Id FROM Contact LIMIT 99999999999", "unexpected token: '99999999999'"),
        ("SELECT Id FROM Contact WHERE CreatedDate = LAST_N_DAYS", "unexpected token: '<EOF>'"),
        ("SELECT Id FROM Contact WHERE Id IN ()", "unexpected token: ')'"),
        ("SELECT Id, FROM Contact", "unexpected token: 'FROM'"),
        ("SELECT Id FROM Account.Contact", "unexpected token: 'Account.Contact'"),
        ("SELECT Id FROM Contact ORDER Id", "unexpected token: 'Id'"),
        ('SELECT Id FROM Contact WHERE Name = "x"', "unexpected token: '\"'"),
    ],
)
def test_malformed_statements(text: str, fragment: str) -> None:
    with pytest.raises(SoqlError) as caught:
        parse(text)
    assert caught.value.code == "MALFORMED_QUERY"
    assert fragment in caught.value.message(text)


def test_injection_attempts_stay_values() -> None:
    # SOQL has no doubled-quote escape: the literal ends at the second quote and what follows
    # is refused rather than run.
    with pytest.raises(SoqlError, match="unexpected token: ' OR '"):
        parse("SELECT Id FROM Contact WHERE LastName = 'x'' OR ''1''=''1'")
    text = r"SELECT Id FROM Contact WHERE LastName = 'x\' OR Name != \'1'"
    parsed = parse(text)
    assert isinstance(parsed.where, Comparison)
    assert parsed.where.value.text == "x' OR Name != '1"


def test_too_long_and_too_deep_are_refused() -> None:
    with pytest.raises(SoqlError, match="longer than"):
        parse("SELECT Id FROM Contact WHERE Name = '" + "a" * MAX_QUERY_LENGTH + "'")
    deep = "SELECT Id FROM Contact WHERE " + "(" * 500 + "Name = 'a'" + ")" * 500
    with pytest.raises(SoqlError, match="nested too deeply"):
        parse(deep)
    nots = "SELECT Id FROM Contact WHERE " + "NOT " * 500 + "Name = 'a'"
    with pytest.raises(SoqlError, match="nested too deeply"):
        parse(nots)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_text_only_raises_soql_errors(text: str) -> None:
    failure: SoqlError | None = None
    try:
        parse(text)
    except SoqlError as error:
        failure = error
    if failure is not None:
        assert failure.code == "MALFORMED_QUERY"
        assert "ERROR at Row:" in failure.message(text)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=60))
def test_any_quoted_value_round_trips(value: str) -> None:
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    query = parse(f"SELECT Id FROM Contact WHERE LastName = '{escaped}'")
    assert isinstance(query.where, Comparison)
    assert query.where.value.text == value
