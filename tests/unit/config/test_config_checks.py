"""Every static rule, located by path."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from pydantic import ValidationError

from crmsync.config import Config, check_config_text, static_issues

CONNECTION = {
    "kind": "salesforce",
    "url": "https://x.my.salesforce.com",
    "client_id": "app",
    "client_secret_env": "SF",
}


def mapping(name: str, table: str, resource: str, key: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "connection": "sf",
        "crm_table": table,
        "resource": resource,
        "primary_key": {"campaign": key},
    } | extra


def subscription(name: str = "subscription", **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "identifier": "crm_id",
        "fields": [
            {"name": "crm_id", "type": "string", "length": 36},
            {"name": "owner", "type": "string", "length": 255},
            {"name": "level", "type": "string"},
        ],
    } | extra


def issues(data: dict[str, Any]) -> list[tuple[str, str, str]]:
    config = Config.model_validate({"connections": {"sf": CONNECTION}} | data)
    return [(i.severity, i.path, i.message) for i in static_issues(config)]


def only(data: dict[str, Any]) -> tuple[str, str]:
    (found,) = [(path, message) for severity, path, message in issues(data) if severity == "error"]
    return found


def test_a_valid_configuration_has_no_issues() -> None:
    data = {
        "resources": [subscription(links=[{"resource": "profile", "field": "owner"}])],
        "inbound": {
            "mappings": [
                mapping("contacts", "Contact", "profile", "external_id"),
                mapping("subs", "Sub__c", "subscription", "crm_id"),
            ]
        },
    }
    assert issues(data) == []


def test_crm_table_mapped_twice() -> None:
    data = {
        "resources": [subscription()],
        "inbound": {
            "mappings": [
                mapping("a", "Contact", "profile", "external_id"),
                mapping("b", "Contact", "subscription", "crm_id"),
            ]
        },
    }
    assert only(data) == (
        "inbound.mappings[1].crm_table",
        "CRM table 'Contact' is already mapped by inbound.mappings[0]",
    )


def test_resource_mapped_twice() -> None:
    data = {
        "inbound": {
            "mappings": [
                mapping("a", "Contact", "profile", "external_id"),
                mapping("b", "Lead", "profile", "external_id"),
            ]
        }
    }
    assert only(data) == (
        "inbound.mappings[1].resource",
        "resource 'profile' is already mapped by inbound.mappings[0]",
    )


def test_mapping_name_used_twice() -> None:
    data = {
        "resources": [subscription()],
        "inbound": {
            "mappings": [
                mapping("a", "Contact", "profile", "external_id"),
                mapping("a", "Sub__c", "subscription", "crm_id"),
            ]
        },
    }
    assert only(data)[0] == "inbound.mappings[1].name"


def test_two_crm_fields_onto_one_campaign_field() -> None:
    fields = [{"crm": "Email", "campaign": "email"}, {"crm": "Email2", "campaign": "email"}]
    data = {
        "inbound": {"mappings": [mapping("a", "Contact", "profile", "external_id", fields=fields)]}
    }
    path, message = only(data)
    assert path == "inbound.mappings[0].fields[1].campaign"
    assert "already receives CRM field 'Email' (fields[0])" in message


def test_mapping_onto_the_key_field() -> None:
    fields = [{"crm": "Id2", "campaign": "external_id"}]
    data = {
        "inbound": {"mappings": [mapping("a", "Contact", "profile", "external_id", fields=fields)]}
    }
    assert only(data) == (
        "inbound.mappings[0].fields[0].campaign",
        "field 'external_id' already receives the CRM primary key",
    )


def test_unknown_resource_with_suggestion() -> None:
    data = {
        "resources": [subscription()],
        "inbound": {"mappings": [mapping("a", "Sub__c", "subscriptions", "crm_id")]},
    }
    assert only(data) == (
        "inbound.mappings[0].resource",
        "unknown resource 'subscriptions' (did you mean 'subscription'?)",
    )


def test_unknown_connection() -> None:
    bad = mapping("a", "Contact", "profile", "external_id") | {"connection": "sfx"}
    assert only({"inbound": {"mappings": [bad]}}) == (
        "inbound.mappings[0].connection",
        "unknown connection 'sfx' (did you mean 'sf'?)",
    )


def test_key_field_must_be_unique() -> None:
    data = {"inbound": {"mappings": [mapping("a", "Contact", "profile", "email")]}}
    path, message = only(data)
    assert path == "inbound.mappings[0].primary_key.campaign"
    assert "field 'email' of resource 'profile' is not unique" in message


def test_fields_declared_unique_may_be_keys() -> None:
    resource = subscription()
    resource["fields"][2] = {"name": "level", "type": "string", "unique": True}
    data = {
        "resources": [resource],
        "inbound": {"mappings": [mapping("a", "Sub__c", "subscription", "level")]},
    }
    assert issues(data) == []


def test_replacement_of_unmapped_field_and_twice() -> None:
    extra = {
        "fields": [{"crm": "Level__c", "campaign": "level"}],
        "replacements": [
            {"field": "Level__c", "from": 1, "to": "Gold"},
            {"field": "Level__c", "from": 1, "to": "Silver"},
            {"field": "Levle__c", "from": 2, "to": "x"},
        ],
    }
    data = {
        "resources": [subscription()],
        "inbound": {"mappings": [mapping("a", "Sub__c", "subscription", "crm_id", **extra)]},
    }
    found = [(path, message) for _, path, message in issues(data)]
    assert found == [
        ("inbound.mappings[0].replacements[1].from", "value 1 of 'Level__c' is replaced twice"),
        (
            "inbound.mappings[0].replacements[2].field",
            "CRM field 'Levle__c' is not mapped in this mapping's fields "
            "(did you mean 'Level__c'?)",
        ),
    ]


def test_profile_cannot_be_redefined_and_names_are_unique() -> None:
    data = {"resources": [subscription("profile"), subscription(), subscription()]}
    found = [(path, message) for _, path, message in issues(data)]
    assert ("resources[0].name", "'profile' is built in and cannot be redefined") in found
    assert ("resources[2].name", "resource 'subscription' is defined twice") in found


def test_links_to_unknown_or_same_resource() -> None:
    data = {
        "resources": [
            subscription("a", links=[{"resource": "profiles", "field": "owner"}]),
            subscription("b", links=[{"resource": "b", "field": "owner"}]),
        ]
    }
    found = [(path, message) for _, path, message in issues(data)]
    assert (
        "resources[0].links[0].resource",
        "unknown resource 'profiles' (did you mean 'profile'?)",
    ) in found
    assert ("resources[1].links[0].resource", "a resource cannot link to itself") in found


def test_link_field_must_match_parent_identifier_type() -> None:
    resource = subscription(links=[{"resource": "profile", "field": "level"}])
    path, message = only({"resources": [resource]})
    assert path == "resources[0].links[0].field"
    assert "'profile.external_id' (string, length 255)" in message


def test_link_cycle() -> None:
    a = subscription("a", links=[{"resource": "b", "field": "owner"}])
    b = subscription("b", links=[{"resource": "a", "field": "owner"}])
    for resource in (a, b):
        resource["fields"][1] = {"name": "owner", "type": "string", "length": 36}
    found = [(path, message) for _, path, message in issues({"resources": [a, b]})]
    assert ("resources[0].links", "links form a cycle: a → b → a") in found


def chain(depth: int) -> list[dict[str, Any]]:
    resources = []
    parent = "profile"
    for level in range(depth):
        resource = subscription(f"level{level}", links=[{"resource": parent, "field": "owner"}])
        if parent != "profile":
            resource["fields"][1] = {"name": "owner", "type": "string", "length": 36}
        resources.append(resource)
        parent = resource["name"]
    return resources


def test_link_depth_guardrail() -> None:
    assert list(issues({"resources": chain(1)})) == []
    warnings = issues({"resources": chain(2)})
    assert warnings == [
        (
            "warning",
            "resources[1].links",
            "2 levels of links: close to the limit of 2 (guardrails)",
        )
    ]
    errors = [i for i in issues({"resources": chain(3)}) if i[0] == "error"]
    assert errors == [
        (
            "error",
            "resources[2].links",
            "3 levels of links, more than the limit of 2 (guardrails)",
        )
    ]


def test_resource_count_guardrail() -> None:
    many = [subscription(f"r{i}") for i in range(21)]
    assert (
        "error",
        "resources",
        "21 custom resources, more than the limit of 20 (guardrails)",
    ) in (issues({"resources": many}))
    assert issues({"resources": many[:16]}) == [
        ("warning", "resources", "16 custom resources: close to the limit of 20 (guardrails)")
    ]
    assert issues({"resources": many[:15]}) == []


def test_column_and_link_column_guardrails_are_configurable() -> None:
    resource = subscription()
    resource["fields"] += [{"name": f"f{i}", "type": "integer"} for i in range(48)]
    assert issues({"resources": [resource]}) == [
        ("error", "resources[0].fields", "51 fields, more than the limit of 50 (guardrails)")
    ]
    assert issues({"resources": [resource], "guardrails": {"max_columns": 70}}) == []
    links = [{"resource": "profile", "field": "owner"}]
    assert issues(
        {"resources": [subscription(links=links)], "guardrails": {"max_link_columns": 0}}
    ) == [("error", "resources[0].links", "1 link columns, more than the limit of 0 (guardrails)")]


def test_optinout_rules() -> None:
    data = {
        "optinout": {
            "direction": "bidirectional",
            "mappings": [
                {"crm": "HasOptedOutOfEmail", "campaign": "optout_email"},
                {"crm": "Other", "campaign": "optout_email"},
            ],
        }
    }
    found = [(path, message) for _, path, message in issues(data)]
    assert found == [
        ("optinout.connection", "a connection is needed when the direction is not disabled"),
        (
            "optinout.mappings[1].campaign",
            "'optout_email' is already mapped by optinout.mappings[0]",
        ),
    ]


def test_optinout_refuses_other_campaign_attributes() -> None:
    with pytest.raises(ValidationError, match="optout_email"):
        Config.model_validate(
            {"optinout": {"mappings": [{"crm": "DoNotCall", "campaign": "email"}]}}
        )


def test_outbound_needs_a_known_connection() -> None:
    data = {"outbound": {"connection": "crm", "events": {"send": True}}}
    assert only(data) == ("outbound.connection", "unknown connection 'crm'")
    assert only({"outbound": {"events": {"click": True}}})[0] == "outbound.connection"


def test_static_issues_get_lines_from_the_loader() -> None:
    text = """\
connections:
  sf: {kind: salesforce, url: "https://x", client_id: a, client_secret_env: SF}
inbound:
  mappings:
    - {name: a, connection: sf, crm_table: Contact, resource: profile,
       primary_key: {campaign: external_id}}
    - {name: b, connection: sf, crm_table: Contact, resource: profile,
       primary_key: {campaign: external_id}}
"""
    report = check_config_text(copy.copy(text), environ={"SF": "x"})
    assert [issue.line for issue in report.errors] == [7, 7]
