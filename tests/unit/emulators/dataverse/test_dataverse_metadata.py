"""Metadata endpoints: entity definitions, attributes, option sets, keys, CSDL."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import httpx
from dv_emulator_support import BASE


async def test_entity_set_resolution_like_the_sdk(client: httpx.AsyncClient) -> None:
    answer = await client.get(
        "EntityDefinitions",
        params={
            "$select": "LogicalName,EntitySetName,PrimaryIdAttribute",
            "$filter": "IsPrivate eq false and (LogicalName eq 'contact')",
        },
    )
    assert answer.status_code == 200
    (item,) = answer.json()["value"]
    assert item["EntitySetName"] == "contacts"
    assert item["PrimaryIdAttribute"] == "contactid"
    assert set(item) == {"LogicalName", "EntitySetName", "PrimaryIdAttribute", "MetadataId"}


async def test_change_tracking_filter(client: httpx.AsyncClient) -> None:
    body = (
        await client.get(
            "EntityDefinitions?$select=LogicalName&$filter=ChangeTrackingEnabled eq true"
        )
    ).json()
    names = {item["LogicalName"] for item in body["value"]}
    assert names == {"contact", "account", "crmsync_subscription"}


async def test_one_entity_with_attributes(client: httpx.AsyncClient) -> None:
    answer = await client.get(
        "EntityDefinitions(LogicalName='contact')",
        params={
            "$select": "LogicalName,PrimaryNameAttribute,ChangeTrackingEnabled,DisplayName",
            "$expand": "Attributes($select=LogicalName,AttributeType)",
        },
    )
    body = answer.json()
    assert body["PrimaryNameAttribute"] == "fullname"
    assert body["ChangeTrackingEnabled"] is True
    assert body["DisplayName"]["UserLocalizedLabel"]["Label"] == "Contact"
    types = {a["LogicalName"]: a["AttributeType"] for a in body["Attributes"]}
    assert types["birthdate"] == "DateTime"
    assert types["parentcustomerid"] == "Customer"
    assert len(types) >= 25


async def test_attributes_shapes(client: httpx.AsyncClient) -> None:
    rows = (await client.get("EntityDefinitions(LogicalName='contact')/Attributes")).json()["value"]
    by_name = {row["LogicalName"]: row for row in rows}
    first = by_name["firstname"]
    assert first["@odata.type"] == "#Microsoft.Dynamics.CRM.StringAttributeMetadata"
    assert first["AttributeTypeName"] == {"Value": "StringType"}
    assert first["MaxLength"] == 50
    assert by_name["birthdate"]["DateTimeBehavior"] == {"Value": "DateOnly"}
    assert by_name["createdon"]["DateTimeBehavior"] == {"Value": "UserLocal"}
    assert by_name["parentcustomerid"]["Targets"] == ["account", "contact"]
    assert by_name["versionnumber"]["IsValidForUpdate"] is False
    assert by_name["lastname"]["RequiredLevel"]["Value"] == "ApplicationRequired"


async def test_picklist_cast_with_option_set(client: httpx.AsyncClient) -> None:
    answer = await client.get(
        "EntityDefinitions(LogicalName='contact')/Attributes/Microsoft.Dynamics.CRM.PicklistAttributeMetadata",
        params={"$select": "LogicalName", "$expand": "OptionSet($select=Options),GlobalOptionSet"},
    )
    rows = {row["LogicalName"]: row for row in answer.json()["value"]}
    assert set(rows) == {"gendercode", "preferredcontactmethodcode"}
    options = rows["gendercode"]["OptionSet"]["Options"]
    assert [(o["Value"], o["Label"]["UserLocalizedLabel"]["Label"]) for o in options] == [
        (1, "Male"),
        (2, "Female"),
    ]
    assert options[0]["Label"]["LocalizedLabels"][0]["LanguageCode"] == 1033
    assert rows["gendercode"]["GlobalOptionSet"] is None


async def test_boolean_cast_and_single_attribute(client: httpx.AsyncClient) -> None:
    answer = await client.get(
        "EntityDefinitions(LogicalName='contact')/Attributes(LogicalName='donotemail')"
        "/Microsoft.Dynamics.CRM.BooleanAttributeMetadata?$select=LogicalName&$expand=OptionSet"
    )
    option_set = answer.json()["OptionSet"]
    assert option_set["TrueOption"]["Value"] == 1
    assert option_set["TrueOption"]["Label"]["UserLocalizedLabel"]["Label"] == "Do Not Allow"
    assert option_set["FalseOption"]["Label"]["UserLocalizedLabel"]["Label"] == "Allow"


async def test_keys(client: httpx.AsyncClient) -> None:
    body = (await client.get("EntityDefinitions(LogicalName='account')/Keys")).json()
    assert [k["KeyAttributes"] for k in body["value"]] == [["accountnumber"]]
    contact = (await client.get("EntityDefinitions(LogicalName='contact')/Keys")).json()
    assert [k["KeyAttributes"] for k in contact["value"]] == [["crmsync_externalid"]]


async def test_unknown_things(client: httpx.AsyncClient) -> None:
    assert (await client.get("EntityDefinitions(LogicalName='nope')")).status_code == 404
    assert (await client.get("EntityDefinitions?$select=Nope")).status_code == 400
    assert (await client.get("EntityDefinitions?$filter=LogicalName eq")).status_code == 400


async def test_service_document_and_csdl(client: httpx.AsyncClient) -> None:
    document = (await client.get("")).json()
    assert document["@odata.context"] == f"{BASE}/$metadata"
    assert {"name": "contacts", "kind": "EntitySet", "url": "contacts"} in document["value"]
    answer = await client.get("$metadata")
    root = ET.fromstring(answer.content)  # noqa: S314 - our own answer
    ns = {"edm": "http://docs.oasis-open.org/odata/ns/edm"}
    sets = {e.get("Name") for e in root.iter("{http://docs.oasis-open.org/odata/ns/edm}EntitySet")}
    assert {"contacts", "accounts", "crmsync_subscriptions", "crmsync_auditnotes"} <= sets
    contact = root.find(".//edm:EntityType[@Name='contact']", ns)
    assert contact is not None
    assert contact.find("edm:Key/edm:PropertyRef", ns).get("Name") == "contactid"
