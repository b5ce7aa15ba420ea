"""A base made by a Campaign → CRM round knows what the CRM held before its write: a CRM change of
the base's very version (Salesforce versions are whole seconds) is told apart from the record as
read, delivered late."""

from __future__ import annotations

import pytest

from crmsync.store.types import CampaignType
from crmsync.twoway.base import Base, decode_base, encode_base

FIELDS = {"city": CampaignType.STRING, "last": CampaignType.STRING, "level": CampaignType.INTEGER}


def written(**before: object) -> Base:
    """The base of a round that sent city ``Paris`` over whatever ``before`` says."""
    return Base(
        {"city": "Paris", "last": "Lovelace", "level": 3}, FIELDS, "v1", written_over=before
    )


def test_the_record_as_read_before_the_write_is_held_and_taken_as_the_write() -> None:
    base = written(city="Rome")
    as_read = {"city": "Rome", "last": "Lovelace", "level": 3}
    assert base.holds(as_read, FIELDS)
    assert base.as_of_version(as_read, FIELDS) == {"city": "Paris", "last": "Lovelace", "level": 3}
    assert base.holds({"city": "Paris", "last": "Lovelace", "level": 3}, FIELDS)


@pytest.mark.parametrize(
    "crm",
    [
        {"city": "Rome", "last": "Byron", "level": 3},  # another field changed in that second
        {"city": "Oslo", "last": "Lovelace", "level": 3},  # the written field changed again
        {"city": "Paris", "last": "Lovelace", "level": 4},
    ],
)
def test_a_change_made_in_the_second_of_the_write_is_not_held(crm: dict[str, object]) -> None:
    base = written(city="Rome")
    assert not base.holds(crm, FIELDS)
    merged = base.as_of_version(crm, FIELDS)
    assert merged["last"] == crm["last"]
    assert merged["level"] == crm["level"]
    assert merged["city"] == ("Paris" if crm["city"] == "Rome" else crm["city"])


def test_a_base_that_wrote_nothing_holds_only_its_own_values() -> None:
    base = written()
    assert base.holds({"city": "Paris", "last": "Lovelace", "level": 3}, FIELDS)
    assert not base.holds({"city": "Rome", "last": "Lovelace", "level": 3}, FIELDS)


def test_a_field_whose_type_changed_since_is_not_taken_from_the_write() -> None:
    base = written(city="Rome")
    today = {**FIELDS, "city": CampaignType.TEXT}
    assert base.as_of_version({"city": "Rome", "last": "Lovelace", "level": 3}, today)["city"] == (
        "Rome"
    )


def test_the_values_written_over_are_encoded_beside_the_values_and_decoded() -> None:
    base = written(city="Rome", level=None)
    text = encode_base(base, "contacts", "C-1")
    again = decode_base(text, "contacts C-1", crm_version="v1")
    assert dict(again.written_over) == {"city": "Rome", "level": None}
    assert dict(again.values) == dict(base.values)
    assert again.crm_version == "v1"
    assert dict(decode_base(encode_base(written(), "contacts", "C-1"), "x").written_over) == {}


def test_a_field_with_more_than_a_value_and_what_it_was_written_over_is_refused() -> None:
    with pytest.raises(ValueError, match="contacts C-1 is not a valid base"):
        decode_base('{"city": ["string", "a", "b", "c"]}', "contacts C-1")


def test_a_value_written_over_needs_a_field_of_the_base() -> None:
    with pytest.raises(ValueError, match="written over"):
        Base({"city": "Paris"}, {"city": CampaignType.STRING}, written_over={"last": "x"})
