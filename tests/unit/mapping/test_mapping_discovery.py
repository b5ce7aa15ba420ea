from __future__ import annotations

import pytest

from crmsync.connectors.base import CrmType, FieldInfo, TableInfo
from crmsync.mapping.discovery import definition_from_table, generated_field_names
from crmsync.store.errors import InvalidIdentifierError, StoreDefinitionError
from crmsync.store.types import CampaignType


def table(*fields: tuple[str, CrmType], key: str = "new_subscriptionid") -> TableInfo:
    infos = {name: FieldInfo(name=name, type=crm_type) for name, crm_type in fields}
    return TableInfo(
        name="new_subscription",
        collection="new_subscriptions",
        primary_key=key,
        primary_name="new_name",
        change_tracking=True,
        fields=infos,
    )


SUBSCRIPTION = table(
    ("new_name", CrmType.STRING),
    ("new_subscriptionid", CrmType.UNIQUEIDENTIFIER),
    ("new_Level", CrmType.PICKLIST),
    ("new_amount", CrmType.MONEY),
    ("new_startedon", CrmType.DATE),
    ("modifiedon", CrmType.DATETIME),
    ("new_contactid", CrmType.LOOKUP),
    ("new_notes", CrmType.MEMO),
    ("new_active", CrmType.BOOLEAN),
    ("new_payload", CrmType.OTHER),
)


def test_definition_from_table_types_every_field() -> None:
    definition = definition_from_table(SUBSCRIPTION, "subscription")
    assert definition.name == "subscription"
    assert definition.identifier == "new_subscriptionid"
    assert definition.fields[0].name == "new_subscriptionid"  # the key comes first
    types = {f.name: f.type for f in definition.fields}
    assert types == {
        "new_subscriptionid": CampaignType.STRING,
        "new_name": CampaignType.STRING,
        "new_level": CampaignType.STRING,
        "new_amount": CampaignType.DOUBLE,
        "new_startedon": CampaignType.DATE,
        "modifiedon": CampaignType.DATETIME,
        "new_contactid": CampaignType.STRING,
        "new_notes": CampaignType.TEXT,
        "new_active": CampaignType.BOOLEAN,
        "new_payload": CampaignType.STRING,
    }
    key = definition.field("new_subscriptionid")
    assert key is not None
    assert key.unique
    assert key.length == 36
    assert "new_Level" in (definition.field("new_level") or key).description


def test_selected_fields_always_include_the_key() -> None:
    definition = definition_from_table(SUBSCRIPTION, "subscription", ["new_amount"])
    assert definition.field_names() == ("new_subscriptionid", "new_amount")


def test_unknown_field_is_named_with_a_suggestion() -> None:
    with pytest.raises(StoreDefinitionError, match=r"no field 'new_amont'.*'new_amount'"):
        definition_from_table(SUBSCRIPTION, "subscription", ["new_amont"])


def test_salesforce_names_and_reserved_names() -> None:
    account = table(
        ("Id", CrmType.UNIQUEIDENTIFIER),
        ("AccountId", CrmType.LOOKUP),
        ("Created_At__c", CrmType.DATETIME),
        ("created_at", CrmType.DATETIME),
        ("Level__c", CrmType.STRING),
        ("level__c", CrmType.STRING),
        key="Id",
    )
    names = generated_field_names(account)
    assert names == {
        "Id": "crm_id",
        "AccountId": "account_id",
        "Created_At__c": "created_at__c",
        "created_at": "crm_created_at",
        "Level__c": "level__c",
        "level__c": "level__c_2",
    }
    assert definition_from_table(account, "account").identifier == "crm_id"


def test_hostile_resource_name_is_refused() -> None:
    with pytest.raises(InvalidIdentifierError):
        definition_from_table(SUBSCRIPTION, "Sub; drop")


def test_missing_primary_key_is_reported() -> None:
    broken = table(("new_name", CrmType.STRING))
    with pytest.raises(StoreDefinitionError, match="primary key 'new_subscriptionid'"):
        definition_from_table(broken, "subscription")
