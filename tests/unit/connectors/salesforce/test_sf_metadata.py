from __future__ import annotations

import pytest
from sf_fakes import ROOT, FakeOrg

from crmsync.connectors.base import CrmType, Option
from crmsync.connectors.salesforce import SalesforceConnector
from crmsync.connectors.salesforce.metadata import field_from_describe, table_from_describe
from crmsync.errors import ConfigurationError, ProtocolError


async def test_list_tables(connector: SalesforceConnector) -> None:
    assert await connector.list_tables() == ["Account", "Contact", "Log__c"]


async def test_describe_maps_types_keys_and_options(
    connector: SalesforceConnector, org: FakeOrg
) -> None:
    info = await connector.describe("Contact")
    assert info.name == info.collection == "Contact"
    assert info.primary_key == "Id"
    assert info.primary_name == "Name"
    assert info.change_tracking is True
    assert info.version_field == info.modified_field == "SystemModstamp"
    assert info.alternate_keys == (("External_Id__c",),)
    types = {name: f.type for name, f in info.fields.items()}
    assert types == {
        "Id": CrmType.UNIQUEIDENTIFIER,
        "FirstName": CrmType.STRING,
        "LastName": CrmType.STRING,
        "Name": CrmType.STRING,
        "Email": CrmType.STRING,
        "Description": CrmType.MEMO,
        "Title": CrmType.STRING,
        "DoNotCall": CrmType.BOOLEAN,
        "NumberOfKids__c": CrmType.DOUBLE,
        "Visits__c": CrmType.INTEGER,
        "Score__c": CrmType.DOUBLE,
        "Budget__c": CrmType.MONEY,
        "Birthdate": CrmType.DATE,
        "LeadSource": CrmType.PICKLIST,
        "Hobbies__c": CrmType.PICKLIST,
        "AccountId": CrmType.LOOKUP,
        "External_Id__c": CrmType.STRING,
        "SystemModstamp": CrmType.DATETIME,
        "LastModifiedDate": CrmType.DATETIME,
        "IsDeleted": CrmType.BOOLEAN,
        "Photo__c": CrmType.OTHER,
    }
    assert "MailingAddress" not in info.fields  # compound: its parts are fields
    fields = info.fields
    assert fields["LeadSource"].options == (
        Option("Web", "Web site"),
        Option("Phone Inquiry", "Phone Inquiry"),
    )
    assert fields["Hobbies__c"].options == (Option("Golf", "Golf"),)
    assert fields["AccountId"].lookup_targets == ("Account",)
    assert fields["LastName"].required is True
    assert fields["DoNotCall"].required is False  # defaulted on create
    assert fields["Id"].read_only is True
    assert fields["Email"].read_only is False
    await connector.describe("Contact")
    assert org.paths().count(f"GET {ROOT}sobjects/Contact/describe/") == 1


async def test_cursor_field_choice(make_connector: object, org: FakeOrg) -> None:
    connector = make_connector(cursor_field="LastModifiedDate")  # type: ignore[operator]
    contact = await connector.describe("Contact")
    assert contact.version_field == "LastModifiedDate"
    account = await connector.describe("Account")  # has no LastModifiedDate
    assert account.version_field is None
    assert account.change_tracking is False


async def test_unknown_and_hostile_objects(connector: SalesforceConnector, org: FakeOrg) -> None:
    with pytest.raises(ConfigurationError, match="'Nope' does not exist"):
        await connector.describe("Nope")
    sent = len(org.requests)
    with pytest.raises(ConfigurationError, match="not a valid Salesforce name"):
        await connector.describe("Contact/../limits")
    assert len(org.requests) == sent


def test_malformed_describes() -> None:
    with pytest.raises(ProtocolError, match="no name"):
        field_from_describe({"type": "string"})
    with pytest.raises(ProtocolError, match="lacks its name"):
        table_from_describe({"fields": []}, "SystemModstamp")
    with pytest.raises(ProtocolError, match="no Id field"):
        table_from_describe({"name": "X", "fields": []}, "SystemModstamp")
    unknown = field_from_describe({"name": "Geo", "type": "complexvalue"})
    assert unknown is not None
    assert unknown.type is CrmType.OTHER
