"""Values sent in a create against the values Salesforce gives back: when they count as equal."""

from __future__ import annotations

from typing import Any

import pytest

from crmsync.connectors.base import CrmType, FieldInfo, TableInfo
from crmsync.connectors.salesforce.created import settle_matches, value_key

TYPES = {
    "Name": CrmType.STRING,
    "Born": CrmType.DATE,
    "Seen": CrmType.DATETIME,
    "Kids": CrmType.DOUBLE,
    "Visits": CrmType.INTEGER,
    "DoNotCall": CrmType.BOOLEAN,
    "AccountId": CrmType.LOOKUP,
}
INFO = TableInfo(
    "Contact",
    "Contact",
    "Id",
    "Name",
    True,
    {name: FieldInfo(name, kind) for name, kind in TYPES.items()},
)


def _same(field: str, sent: Any, read: Any) -> bool:
    return value_key(INFO, [field], {field: sent}) == value_key(INFO, [field], {field: read})


@pytest.mark.parametrize(
    ("field", "sent", "read"),
    [
        ("Name", "Ann", "Ann"),
        ("Name", " Ann ", "ann"),  # spaces and case: the same text to Salesforce's eyes
        ("Name", "", None),  # an empty text is stored as no value
        ("Born", "1990-01-31", "1990-01-31"),
        ("Seen", "2024-03-31T01:30:00Z", "2024-03-31T01:30:00.000+0000"),
        ("Seen", "2024-03-31T03:30:00+02:00", "2024-03-31T01:30:00.000+0000"),
        ("Kids", 2, 2.0),
        ("Visits", "7", 7),
        ("DoNotCall", None, False),  # a checkbox is never empty
        ("DoNotCall", True, True),
        ("AccountId", "001A0000006Vm9r", "001A0000006Vm9rIAC"),  # 15 and 18 characters
        ("AccountId", {"table": "Account", "id": "001A0000006Vm9rIAC"}, "001A0000006Vm9rIAC"),
    ],
)
def test_values_that_salesforce_holds_equal_match(field: str, sent: Any, read: Any) -> None:
    assert _same(field, sent, read)


@pytest.mark.parametrize(
    ("field", "sent", "read"),
    [
        ("Name", "Ann", "Anne"),
        ("Name", "Ann", None),
        ("Born", "1990-01-31", "1990-01-30"),
        ("Seen", "2024-03-31T01:30:00Z", "2024-03-31T01:30:01.000+0000"),
        ("Kids", 2, 2.5),
        ("DoNotCall", True, False),
        ("AccountId", "001A0000006Vm9r", "001A0000006Vm9s"),
    ],
)
def test_other_values_do_not_match(field: str, sent: Any, read: Any) -> None:
    assert not _same(field, sent, read)


def test_a_key_covers_every_field_given_in_order() -> None:
    sent = {"Name": "Ann", "Born": "1990-01-31"}
    read = {"Id": "003x", "Name": "ANN", "Born": "1990-01-31", "Kids": 3}
    assert value_key(INFO, ["Born", "Name"], sent) == value_key(INFO, ["Born", "Name"], read)
    assert value_key(INFO, ["Born", "Name", "Kids"], sent) != value_key(
        INFO, ["Born", "Name", "Kids"], read
    )


@pytest.mark.parametrize(
    ("found", "known", "created", "again", "doubtful"),
    [
        ([[], []], set(), {}, [0, 1], []),  # nothing created: all sent again
        ([["x"], ["y"]], set(), {0: "x", 1: "y"}, [], []),
        ([["x", "y"], ["x", "y"]], set(), {0: "x", 1: "y"}, [], []),  # twins: interchangeable
        ([["x"], ["x"]], set(), {0: "x"}, [1], []),  # twins, one created
        ([["x", "y"], []], set(), {}, [1], [0]),  # two candidates for one record
        ([["x", "y"], []], {"x"}, {0: "y"}, [1], []),  # one of them known to the sender
        ([["x"]], {"x"}, {}, [0], []),  # the only candidate is the sender's own
    ],
)
def test_matches_are_settled(
    found: list[list[str]],
    known: set[str],
    created: dict[int, str],
    again: list[int],
    doubtful: list[int],
) -> None:
    settled = settle_matches(found, known)
    assert (settled.created, settled.again, settled.doubtful) == (created, again, doubtful)
