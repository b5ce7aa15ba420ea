"""Resource path and key parsing."""

from __future__ import annotations

import pytest

from crmsync.emulators.dataverse.errors import WebApiError
from crmsync.emulators.dataverse.paths import Segment, parse_segment, split_path

GUID = "6f9619ff-8b86-d011-b42d-00c04fc964ff"


def test_split_path_keeps_slashes_inside_quoted_keys() -> None:
    assert split_path("accounts(accountnumber='A/B')/name") == [
        "accounts(accountnumber='A/B')",
        "name",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("contacts", Segment("contacts")),
        (f"contacts({GUID.upper()})", Segment("contacts", GUID)),
        ("accounts(accountnumber='ABC')", Segment("accounts", {"accountnumber": "ABC"})),
        (
            "contacts(lastname='O''Bryan',numberofchildren=2)",
            Segment("contacts", {"lastname": "O'Bryan", "numberofchildren": 2}),
        ),
        ("accounts(accountnumber='a,b=c')", Segment("accounts", {"accountnumber": "a,b=c"})),
    ],
)
def test_parse_segment(text: str, expected: Segment) -> None:
    assert parse_segment(text) == expected


@pytest.mark.parametrize(
    "text",
    ["contacts(", "contacts(123)", "contacts(x=)", "contacts('unterminated)", "contacts(a='x'y')"],
)
def test_malformed_keys_are_a_400(text: str) -> None:
    with pytest.raises(WebApiError) as caught:
        parse_segment(text)
    assert caught.value.status == 400


def test_a_name_with_odd_characters_is_a_404() -> None:
    with pytest.raises(WebApiError) as caught:
        parse_segment("con<tacts")
    assert caught.value.status == 404
    assert "Resource not found for the segment" in caught.value.message
