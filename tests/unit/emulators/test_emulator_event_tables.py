"""The marketing event tables of both emulators' seed schemas (SPEC §5)."""

from __future__ import annotations

import pytest

from crmsync.emulators.dataverse.schema import SEED_TABLES, AttributeType, Schema
from crmsync.emulators.salesforce.schema import SEED_OBJECTS, FieldType
from crmsync.emulators.salesforce.schema import Schema as SfSchema

DATAVERSE = Schema(SEED_TABLES)
SALESFORCE = SfSchema(SEED_OBJECTS)


@pytest.mark.parametrize(
    "name", ["crmsync_emailsend", "crmsync_emailopen", "crmsync_emailclick", "crmsync_emailbounce"]
)
def test_dataverse_event_table_is_keyed_by_event_id_and_linked_to_contact(name: str) -> None:
    table = DATAVERSE.by_logical_name[name]
    assert [key.attributes for key in table.alternate_keys] == [("crmsync_eventid",)]
    assert table.by_name["crmsync_contactid"].targets == ("contact",)
    assert table.by_name["crmsync_occurredon"].datetime_behavior == "UserLocal"
    assert table.entity_set == f"{name}s"


def test_dataverse_click_and_bounce_details() -> None:
    assert DATAVERSE.by_logical_name["crmsync_emailclick"].by_name["crmsync_url"].max_length == 2000
    bounce = DATAVERSE.by_logical_name["crmsync_emailbounce"]
    kind = bounce.by_name["crmsync_bouncetype"]
    assert kind.type is AttributeType.PICKLIST
    assert [o.label for o in kind.options] == ["Hard", "Soft"]
    assert "crmsync_reason" in bounce.by_name


@pytest.mark.parametrize(
    "name", ["Email_Send__c", "Email_Open__c", "Email_Click__c", "Email_Bounce__c"]
)
def test_salesforce_event_object_is_keyed_by_event_id_and_linked_to_contact(name: str) -> None:
    obj = SALESFORCE.get(name)
    assert obj is not None
    event_id = obj.field("Event_Id__c")
    assert event_id is not None
    assert event_id.external_id
    assert event_id.unique
    contact = obj.field("Contact__c")
    assert contact is not None
    assert contact.reference_to == ("Contact",)
    occurred = obj.field("Occurred_At__c")
    assert occurred is not None
    assert occurred.type is FieldType.DATETIME


def test_salesforce_bounce_type_is_a_restricted_picklist() -> None:
    bounce = SALESFORCE.get("Email_Bounce__c")
    assert bounce is not None
    kind = bounce.field("Bounce_Type__c")
    assert kind is not None
    assert kind.restricted_picklist
    assert kind.picklist_values == {"Hard", "Soft"}
    assert SALESFORCE.get("Email_Click__c") is not None
