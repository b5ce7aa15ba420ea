"""Which CRM values the CRM → Campaign merge takes from a change, against the base a Campaign → CRM
round saved (``crm_to_merge``): a Salesforce change delivered with a bumped version (another
content of the record came first within its stamp) is of the stamp the round read, not newer."""

from __future__ import annotations

from typing import Any

import pytest

from crmsync.store.types import CampaignType
from crmsync.sync.writer import version_number
from crmsync.twoway.base import Base
from crmsync.twoway.inbound import crm_to_merge, version_stamp

FIELDS = {"city": CampaignType.STRING, "last": CampaignType.STRING}
#: The stamp the round read the record at, and the round's base: it wrote city Paris over Rome.
READ = "2026-12-08T00:55:50.000000Z"
AS_READ = {"city": "Rome", "last": "Byron"}


def _base() -> Base:
    return Base({"city": "Paris", "last": "Byron"}, FIELDS, READ, written_over={"city": "Rome"})


def _merge(version: str, crm: dict[str, Any]) -> dict[str, Any] | None:
    synced_at, at = version_number(READ), version_number(version)
    assert synced_at is not None
    assert at is not None
    return crm_to_merge(_base(), synced_at, at, crm, FIELDS, "salesforce")


@pytest.mark.parametrize("bump", ["000000", "000001", "000007"])
def test_the_record_as_the_round_read_it_is_held_whatever_its_bump(bump: str) -> None:
    assert _merge(f"2026-12-08T00:55:50.{bump}Z", AS_READ) is None


def test_another_content_of_the_stamp_is_merged_as_the_write_left_it() -> None:
    crm = {"city": "Rome", "last": "Shelley"}  # last changed in the second of the write
    assert _merge("2026-12-08T00:55:50.000002Z", crm) == {"city": "Paris", "last": "Shelley"}


def test_a_later_stamp_is_merged_as_it_is() -> None:
    crm = {"city": "Rome", "last": "Byron"}  # the CRM set city back: a CRM change
    assert _merge("2026-12-08T00:55:51.000000Z", crm) == crm


def test_an_older_stamp_is_held() -> None:
    assert _merge("2026-12-08T00:55:49.000003Z", {"city": "Oslo", "last": "Byron"}) is None


def test_dataverse_versions_are_exact() -> None:
    assert version_stamp("dataverse", 1_883) == 1_883
    assert crm_to_merge(_base(), 10, 11, AS_READ, FIELDS, "dataverse") == AS_READ
    assert crm_to_merge(_base(), 10, 10, AS_READ, FIELDS, "dataverse") is None
    assert version_stamp("salesforce", 1_796_692_134_000_001) == 1_796_692_134_000
