from __future__ import annotations

import pytest

from crmsync.store.errors import InvalidIdentifierError
from crmsync.store.names import check_identifier, constraint_name, identifier_problem, snake_case

HOSTILE = [
    "",
    "A",
    "Email",
    "1field",
    "_private",
    "a-b",
    "a b",
    "a.b",
    'a"b',
    "a;drop table profile;--",
    "x'); DROP TABLE profile; --",
    "é",
    "naïve",
    "a\x00b",
    "tab\tname",
    "a" * 64,
    "😀",
]


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_names_are_refused(name: str) -> None:
    assert identifier_problem(name) is not None
    with pytest.raises(InvalidIdentifierError, match="field: invalid name"):
        check_identifier(name, what="field")


@pytest.mark.parametrize("name", ["a", "email", "first_name", "x1", "a__b", "a" * 63, "select"])
def test_valid_names_are_accepted(name: str) -> None:
    assert identifier_problem(name) is None
    assert check_identifier(name) == name


def test_non_string_name_is_refused() -> None:
    assert identifier_problem(3) == "a name must be a string, not int"


def test_camel_case_name_gets_a_snake_case_suggestion() -> None:
    problem = identifier_problem("externalId")
    assert problem is not None
    assert "did you mean 'external_id'?" in problem


def test_long_hostile_name_is_shortened_in_the_message() -> None:
    problem = identifier_problem("X" * 500)
    assert problem is not None
    assert len(problem) < 300


def test_snake_case() -> None:
    assert snake_case("AccountId") == "account_id"
    assert snake_case("new_Level__c") == "new_level__c"
    assert snake_case("address1_line1") == "address1_line1"


def test_constraint_names_fit_postgresql_limit_and_stay_distinct() -> None:
    table, first, second = "t" * 63, "c" * 62 + "1", "c" * 62 + "2"
    a, b = constraint_name("uq", table, first), constraint_name("uq", table, second)
    assert len(a) <= 63
    assert len(b) <= 63
    assert a != b
    assert constraint_name("uq", "profile", "email") == "uq_profile_email"
