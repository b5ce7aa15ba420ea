"""The CRM → Campaign type rules: every CRM type has some, anything fits a string, and the
generated default is always one of the allowed types."""

from __future__ import annotations

import pytest

from crmsync.connectors.base import CrmType
from crmsync.mapping.types import COMPATIBLE, default_campaign_type, is_compatible
from crmsync.store.types import CampaignType


def test_every_crm_type_has_a_compatibility_entry() -> None:
    assert set(COMPATIBLE) == set(CrmType)


@pytest.mark.parametrize("crm_type", list(CrmType))
def test_anything_can_be_written_as_a_string(crm_type: CrmType) -> None:
    assert is_compatible(crm_type, CampaignType.STRING)
    assert is_compatible(crm_type, CampaignType.TEXT)


@pytest.mark.parametrize(
    ("crm_type", "campaign_type", "expected"),
    [
        (CrmType.BOOLEAN, CampaignType.BOOLEAN, True),
        (CrmType.BOOLEAN, CampaignType.DATE, False),
        (CrmType.INTEGER, CampaignType.INTEGER, True),
        (CrmType.INTEGER, CampaignType.DOUBLE, True),
        (CrmType.DECIMAL, CampaignType.INTEGER, False),
        (CrmType.MONEY, CampaignType.DOUBLE, True),
        (CrmType.DATETIME, CampaignType.DATE, True),
        (CrmType.DATE, CampaignType.DATETIME, True),
        (CrmType.STRING, CampaignType.INTEGER, False),
        (CrmType.PICKLIST, CampaignType.INTEGER, True),
        (CrmType.PICKLIST, CampaignType.BOOLEAN, False),
        (CrmType.LOOKUP, CampaignType.INTEGER, False),
        (CrmType.UNIQUEIDENTIFIER, CampaignType.STRING, True),
        (CrmType.OTHER, CampaignType.DATETIME, False),
    ],
)
def test_compatibility_table(
    crm_type: CrmType, campaign_type: CampaignType, expected: bool
) -> None:
    assert is_compatible(crm_type, campaign_type) is expected


@pytest.mark.parametrize(
    ("crm_type", "expected"),
    [
        (CrmType.BOOLEAN, CampaignType.BOOLEAN),
        (CrmType.BIGINT, CampaignType.INTEGER),
        (CrmType.DECIMAL, CampaignType.DOUBLE),
        (CrmType.MEMO, CampaignType.TEXT),
        (CrmType.DATETIME, CampaignType.DATETIME),
        (CrmType.PICKLIST, CampaignType.STRING),
        (CrmType.OTHER, CampaignType.STRING),
    ],
)
def test_default_campaign_type(crm_type: CrmType, expected: CampaignType) -> None:
    assert default_campaign_type(crm_type) is expected


def test_default_is_always_compatible() -> None:
    for crm_type in CrmType:
        assert is_compatible(crm_type, default_campaign_type(crm_type))
