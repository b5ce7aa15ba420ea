from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crmsync.connectors.salesforce.soql import (
    check_name,
    format_datetime,
    literal,
    parse_datetime,
    quote_string,
    select,
)
from crmsync.errors import ConfigurationError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Bob's BBQ", r"'Bob\'s BBQ'"),
        ("back\\slash", r"'back\\slash'"),
        ('say "hi"', r"'say \"hi\"'"),
        ("two\nlines\r\tand tab", r"'two\nlines\r\tand tab'"),
        ("' OR Name != '", r"'\' OR Name != \''"),
        ("\\' OR 1=1 --", r"'\\\' OR 1=1 --'"),
        ("nul\x00bell\x07", r"'nul\u0000bell\u0007'"),
        ("Zoë 名前 %_", "'Zoë 名前 %_'"),
    ],
)
def test_strings_are_escaped(text: str, expected: str) -> None:
    assert quote_string(text) == expected


@given(st.text())
def test_a_quoted_string_never_ends_early(text: str) -> None:
    quoted = quote_string(text)
    inner = quoted[1:-1]
    # Every quote inside is escaped: walking the escapes never meets a bare quote.
    index = 0
    while index < len(inner):
        if inner[index] == "\\":
            index += 2
            continue
        assert inner[index] != "'"
        assert ord(inner[index]) >= 0x20
        index += 1
    assert index == len(inner)


def test_literals_of_every_type() -> None:
    assert literal(None) == "null"
    assert literal(True) == "true"
    assert literal(False) == "false"
    assert literal(42) == "42"
    assert literal(2.5) == "2.5"
    assert literal(Decimal("10.50")) == "10.50"
    assert literal(date(2024, 2, 29)) == "2024-02-29"
    moment = datetime(2024, 3, 31, 2, 30, 5, 123456, tzinfo=timezone(timedelta(hours=2)))
    assert literal(moment) == "2024-03-31T00:30:05.123Z"
    with pytest.raises(ValueError, match="no time zone"):
        literal(datetime(2024, 1, 1))
    with pytest.raises(ValueError, match="no SOQL literal"):
        literal(float("nan"))
    with pytest.raises(ValueError, match="no SOQL literal"):
        literal([1, 2])


@pytest.mark.parametrize(
    "text",
    ["2024-01-02T03:04:05.000+0000", "2024-01-02T04:04:05.000+01:00", "2024-01-02T03:04:05Z"],
)
def test_salesforce_timestamps_parse_to_utc(text: str) -> None:
    assert parse_datetime(text) == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert format_datetime(parse_datetime(text)) == "2024-01-02T03:04:05.000Z"


def test_bad_timestamps_are_refused() -> None:
    for text in ("2024-01-02", "yesterday", "2024-01-02T03:04:05"):
        with pytest.raises(ValueError, match="not a Salesforce date/time"):
            parse_datetime(text)


@pytest.mark.parametrize(
    "name", ["Name; DELETE", "Id,Name", "a b", "1Field", "", "Name'", "x___c", "Ünïcode"]
)
def test_hostile_names_are_refused(name: str) -> None:
    with pytest.raises(ConfigurationError, match="not a valid Salesforce name"):
        check_name(name, "field")


def test_names_must_be_known() -> None:
    assert check_name("ns__Field__c", "field", {"ns__Field__c"}) == "ns__Field__c"
    with pytest.raises(ConfigurationError, match="does not exist"):
        check_name("Other", "field", {"Name"})


def test_select_builds_checked_queries() -> None:
    soql = select(
        "Contact",
        ["Id", "Name"],
        known={"Id", "Name", "SystemModstamp"},
        where="SystemModstamp >= 2024-01-01T00:00:00.000Z",
        order_by=["SystemModstamp", "Id"],
        limit=10,
    )
    assert soql == (
        "SELECT Id,Name FROM Contact WHERE SystemModstamp >= 2024-01-01T00:00:00.000Z "
        "ORDER BY SystemModstamp,Id LIMIT 10"
    )
    with pytest.raises(ConfigurationError):
        select("Contact", ["Id", "Secret"], known={"Id"})
    with pytest.raises(ConfigurationError):
        select("Contact WHERE", ["Id"], known={"Id"})
