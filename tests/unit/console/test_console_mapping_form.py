"""The editor's form ↔ draft ↔ mapping conversions, and the paths of the problems."""

from __future__ import annotations

import pytest

from crmsync.config import ConfigError, ConfigIssue
from crmsync.config.models import InboundMapping
from crmsync.connectors.base import CrmType
from crmsync.console.mapping_form import (
    DraftInvalid,
    add_row,
    draft_from_form,
    draft_from_mapping,
    issues_by_path,
    mapping_from_draft,
    remove_row,
)
from crmsync.store.types import CampaignType

FORM = {
    "name": "contacts",
    "connection": "dynamics",
    "crm_table": "contact",
    "resource": "profile",
    "pk_campaign": "external_id",
    "fields-0-crm": "gendercode",
    "fields-0-campaign": "first_name",
    "fields-0-apply_updates": "on",
    "fields-1-crm": "donotemail",
    "fields-1-campaign": "optout_email",
    "replacements-0-field": "gendercode",
    "replacements-0-from": "2",
    "replacements-0-to": "Female",
    "replacements-1-field": "donotemail",
    "replacements-1-from": "true",
    "replacements-1-to": "false",
    "filters-0-field": "numberofchildren",
    "filters-0-op": "ge",
    "filters-0-value": "2",
    "filters-combine": "or",
    "apply_deletes": "on",
    "picklist_values": "display",
}
CRM_TYPES = {
    "gendercode": CrmType.PICKLIST,
    "donotemail": CrmType.BOOLEAN,
    "numberofchildren": CrmType.INTEGER,
}
CAMPAIGN_TYPES = {"first_name": CampaignType.STRING, "optout_email": CampaignType.BOOLEAN}


def _mapping(form: dict[str, str]) -> InboundMapping:
    return mapping_from_draft(
        draft_from_form(form), CRM_TYPES, {"gendercode": (1, 2)}, CAMPAIGN_TYPES
    )


def test_values_are_typed_by_the_fields_they_belong_to() -> None:
    mapping = _mapping(FORM)
    assert [(f.crm, f.apply_updates) for f in mapping.fields] == [
        ("gendercode", True),
        ("donotemail", False),
    ]
    assert [(r.from_, r.to) for r in mapping.replacements] == [(2, "Female"), (True, False)]
    assert mapping.filters.combine == "or"
    assert mapping.filters.conditions[0].value == 2
    assert (mapping.apply_deletes, mapping.delete_filtered_out) == (True, False)
    assert mapping.picklist_values == "display"


def test_a_saved_mapping_round_trips_through_the_form_draft() -> None:
    mapping = _mapping(FORM)
    draft = draft_from_mapping(mapping)
    assert draft["replacements"][1] == {"field": "donotemail", "from": "true", "to": "false"}
    again = mapping_from_draft(draft, CRM_TYPES, {"gendercode": (1, 2)}, CAMPAIGN_TYPES)
    assert again == mapping


def test_every_problem_is_named_by_its_path() -> None:
    form = FORM | {"filters-0-value": "two", "replacements-1-from": "maybe", "name": "a b"}
    with pytest.raises(DraftInvalid) as caught:
        _mapping(form)
    issues = caught.value.issues
    assert issues["filters.conditions.0.value"] == "'two' is not a whole number"
    assert issues["replacements.1.from"] == "a Boolean field's value is true or false"
    with pytest.raises(DraftInvalid) as invalid:
        _mapping(form | {"filters-0-value": "2", "replacements-1-from": "true"})
    assert list(invalid.value.issues) == ["name"]


def test_empty_rows_are_dropped_before_the_paths_are_given() -> None:
    form = FORM | {"fields-0-crm": "", "fields-0-campaign": "", "fields-0-apply_updates": ""}
    form |= {"fields-1-campaign": ""}
    with pytest.raises(DraftInvalid) as caught:
        _mapping(form)
    assert "fields.0.campaign" in caught.value.issues


def test_rows_are_added_and_removed() -> None:
    draft = draft_from_form(FORM)
    add_row(draft, "filters")
    assert draft["filters"]["conditions"][-1] == {"field": "", "op": "eq", "value": ""}
    remove_row(draft, "fields", 0)
    remove_row(draft, "fields", 9)
    assert [f["crm"] for f in draft["fields"]] == ["donotemail"]


def test_configuration_issues_are_placed_in_the_mapping() -> None:
    error = ConfigError(
        [
            ConfigIssue(("inbound", "mappings", 1, "fields", 0, "campaign"), "unknown field"),
            ConfigIssue(("inbound", "mappings", 0, "name"), "another mapping"),
            ConfigIssue(("outbound",), "a warning", "warning"),
        ]
    )
    assert issues_by_path(error, 1) == {
        "fields.0.campaign": "unknown field",
        "inbound.mappings[0].name": "another mapping",
    }
