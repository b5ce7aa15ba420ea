from __future__ import annotations

import pytest
from dv_fakes import FakeOrg

from crmsync.connectors.base import CrmType, Option
from crmsync.connectors.dataverse import DataverseClient
from crmsync.connectors.dataverse.metadata import (
    DataverseMetadata,
    check_identifier,
    field_from_attribute,
    options_from,
)
from crmsync.errors import ConfigurationError, ProtocolError


async def test_describe_maps_entity_attributes_options_and_keys(
    client: DataverseClient, org: FakeOrg
) -> None:
    info = await DataverseMetadata(client).describe("contact")
    assert info.name == "contact"
    assert info.collection == "contacts"
    assert info.primary_key == "contactid"
    assert info.primary_name == "fullname"
    assert info.change_tracking is True
    assert info.label == "Contact"
    assert info.version_field == "versionnumber"
    assert info.modified_field == "modifiedon"
    assert info.alternate_keys == (("emailaddress1",), ("firstname", "numberofchildren"))
    fields = info.fields
    assert "parentcustomeridname" not in fields
    assert "parentcustomeridtype" not in fields
    assert fields["firstname"].type is CrmType.STRING
    assert fields["lastname"].required is True
    assert fields["fullname"].read_only is True
    assert fields["birthdate"].type is CrmType.DATE
    assert fields["birthdate"].date_behavior == "DateOnly"
    assert fields["createdon"].type is CrmType.DATETIME
    assert fields["createdon"].date_behavior == "UserLocal"
    assert fields["creditlimit"].type is CrmType.MONEY
    assert fields["versionnumber"].type is CrmType.BIGINT
    assert fields["contactid"].type is CrmType.UNIQUEIDENTIFIER
    lookup = fields["parentcustomerid"]
    assert lookup.type is CrmType.LOOKUP
    assert lookup.lookup_targets == ("account", "contact")
    assert lookup.wire_name == "_parentcustomerid_value"
    assert fields["gendercode"].options == (Option(1, "Male"), Option(2, "Female"))
    assert fields["donotemail"].options == (Option(False, "Allow"), Option(True, "Do Not Allow"))
    paths = [r.url.path for r in org.requests]
    assert any(p.endswith("PicklistAttributeMetadata") for p in paths)
    assert any(p.endswith("BooleanAttributeMetadata") for p in paths)
    assert not any(p.endswith("StateAttributeMetadata") for p in paths)


async def test_describe_is_cached(client: DataverseClient, org: FakeOrg) -> None:
    metadata = DataverseMetadata(client)
    first = await metadata.describe("account")
    calls = len(org.requests)
    assert await metadata.describe("account") is first
    assert len(org.requests) == calls
    assert await metadata.entity_set("account") == "accounts"
    assert len(org.requests) == calls
    metadata.forget("account")
    await metadata.describe("account")
    assert len(org.requests) == 2 * calls


async def test_entity_set_is_cheap(client: DataverseClient, org: FakeOrg) -> None:
    assert await DataverseMetadata(client).entity_set("account") == "accounts"
    (request,) = org.requests
    assert request.url.params["$select"] == "EntitySetName"


async def test_list_tables(client: DataverseClient) -> None:
    assert await DataverseMetadata(client).list_tables() == ["account", "contact", "note"]


async def test_unknown_table_is_a_configuration_error(client: DataverseClient) -> None:
    with pytest.raises(ConfigurationError, match="'nosuch' does not exist"):
        await DataverseMetadata(client).describe("nosuch")


@pytest.mark.parametrize("name", ["contact'); DROP", "a b", "", "x/y", "ü"])
async def test_hostile_table_names_never_reach_a_url(
    client: DataverseClient, org: FakeOrg, name: str
) -> None:
    with pytest.raises(ConfigurationError, match="not a valid Dataverse name"):
        await DataverseMetadata(client).describe(name)
    assert org.requests == []


def test_check_identifier_accepts_plain_names() -> None:
    assert check_identifier("crmsync_subscription", "table") == "crmsync_subscription"


@pytest.mark.parametrize(
    ("kind", "extra", "expected"),
    [
        ("Memo", {}, CrmType.MEMO),
        ("Integer", {}, CrmType.INTEGER),
        ("Decimal", {}, CrmType.DECIMAL),
        ("Double", {}, CrmType.DOUBLE),
        ("State", {}, CrmType.PICKLIST),
        ("Status", {}, CrmType.PICKLIST),
        ("Owner", {"Targets": ["systemuser", "team"]}, CrmType.LOOKUP),
        ("Lookup", {"Targets": ["account"]}, CrmType.LOOKUP),
        ("DateTime", {"DateTimeBehavior": {"Value": "TimeZoneIndependent"}}, CrmType.DATETIME),
        ("Image", {}, CrmType.OTHER),
    ],
)
def test_attribute_types(kind: str, extra: dict[str, object], expected: CrmType) -> None:
    info = field_from_attribute({"LogicalName": "x", "AttributeType": kind, **extra})
    assert info is not None
    assert info.type is expected
    assert info.read_name == ("_x_value" if expected is CrmType.LOOKUP else "")


def test_virtual_columns_skipped_except_multiselect() -> None:
    assert field_from_attribute({"LogicalName": "v", "AttributeType": "Virtual"}) is None
    multi = field_from_attribute(
        {
            "LogicalName": "m",
            "AttributeType": "Virtual",
            "AttributeTypeName": {"Value": "MultiSelectPicklistType"},
        }
    )
    assert multi is not None
    assert multi.type is CrmType.OTHER
    assert field_from_attribute({"LogicalName": "r", "IsValidForRead": False}) is None


def test_attribute_without_name_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError):
        field_from_attribute({"AttributeType": "String"})


def test_options_fall_back_to_localized_labels() -> None:
    options = options_from(
        {
            "OptionSet": {
                "Options": [
                    {"Value": 5, "Label": {"LocalizedLabels": [{"Label": "Mail"}]}},
                    {"Value": "bad"},
                ]
            }
        }
    )
    assert options == (Option(5, "Mail"),)
    assert options_from({"OptionSet": None}) == ()
