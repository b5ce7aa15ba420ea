"""Salesforce ids: the case-safe suffix, generation and validation."""

from __future__ import annotations

import pytest

from crmsync.emulators.salesforce.ids import (
    IdGenerator,
    checksum,
    is_valid_id,
    make_id,
    normalize_id,
)
from crmsync.emulators.salesforce.store import ORG_ID, USER_ID


def test_checksum_matches_a_published_example() -> None:
    # 001A0000006Vm9r is the classic documented 15-character id; its 18-character form ends IAC.
    assert checksum("001A0000006Vm9r") == "IAC"
    assert normalize_id("001A0000006Vm9r") == "001A0000006Vm9rIAC"


def test_checksum_encodes_upper_case_positions_per_chunk() -> None:
    assert checksum("aaaaabbbbbccccc") == "AAA"
    assert checksum("AAAAAbbbbbccccc") == "5AA"
    assert checksum("aaaaabbbbBcccCc") == "AQI"


def test_made_ids_have_prefix_length_and_valid_suffix() -> None:
    ids = {make_id("003", n) for n in range(1, 5000)}
    assert len(ids) == 4999
    for value in ids:
        assert len(value) == 18
        assert value.startswith("0035g0")
        assert is_valid_id(value)
    assert make_id("003", 1) == "0035g0000000001AAA"


def test_ids_differing_only_in_case_get_different_suffixes() -> None:
    lower, upper = make_id("003", 36), make_id("003", 10)
    assert lower[:15].lower() == upper[:15].lower()
    assert lower[:15] != upper[:15]
    assert lower.lower() != upper.lower()


@pytest.mark.parametrize(
    "value",
    ["", "003", "0035g0000000001AAB", "0035g0000000001AA", "0035g000000000!AAA", "x" * 40],
)
def test_malformed_ids_are_refused(value: str) -> None:
    assert not is_valid_id(value)
    assert normalize_id(value) is None


def test_generator_continues_its_counters() -> None:
    generator = IdGenerator({"003": 41})
    assert generator.next("003") == make_id("003", 42)
    assert generator.reserve("003", 10) == 43
    assert generator.next("003") == make_id("003", 53)
    assert generator.next("001") == make_id("001", 1)


def test_make_id_refuses_bad_arguments() -> None:
    with pytest.raises(ValueError, match="three characters"):
        make_id("03", 1)
    with pytest.raises(ValueError, match="exhausted"):
        make_id("003", 62**9)


def test_the_org_and_its_user_have_well_formed_ids() -> None:
    # Clients filter on them (CreatedById = '005…'), which the SOQL engine checks as ids.
    assert is_valid_id(ORG_ID)
    assert is_valid_id(USER_ID)
