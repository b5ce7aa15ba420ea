from __future__ import annotations

from typing import Any

from crmsync.config import Config, validate_against_metadata
from crmsync.connectors.base import CrmType, FieldInfo, Option, TableInfo


def contact(change_tracking: bool = True) -> TableInfo:
    fields = [
        FieldInfo("contactid", CrmType.UNIQUEIDENTIFIER),
        FieldInfo("emailaddress1", CrmType.STRING),
        FieldInfo("birthdate", CrmType.DATE),
        FieldInfo("statecode", CrmType.PICKLIST, options=(Option(0, "Active"), Option(1, "Off"))),
        FieldInfo("donotbulkemail", CrmType.BOOLEAN),
        FieldInfo("telephone1", CrmType.STRING),
    ]
    return TableInfo(
        name="contact",
        collection="contacts",
        primary_key="contactid",
        primary_name="fullname",
        change_tracking=change_tracking,
        fields={f.name: f for f in fields},
    )


def config(**mapping: Any) -> Config:
    base = {
        "name": "contacts",
        "connection": "dv",
        "crm_table": "contact",
        "resource": "profile",
        "primary_key": {"campaign": "external_id"},
        "fields": [{"crm": "emailaddress1", "campaign": "email"}],
    }
    return Config.model_validate(
        {
            "connections": {
                "dv": {
                    "kind": "dataverse",
                    "url": "https://org.crm.dynamics.com",
                    "tenant_id": "t",
                    "client_id": "c",
                    "client_secret_env": "S",
                }
            },
            "inbound": {"mappings": [base | mapping]},
            "optinout": {
                "crm_table": "contact",
                "connection": "dv",
                "mappings": [
                    {"crm": "donotbulkemail", "campaign": "optout_email"},
                    {"crm": "telephone1", "campaign": "optout_phone"},
                    {"crm": "donotfax", "campaign": "optout_fax"},
                ],
            },
        }
    )


def found(cfg: Config, table: TableInfo | None = None) -> list[tuple[str, str, str]]:
    tables = {} if table is None else {table.name: table}
    return [(i.severity, i.path, i.message) for i in validate_against_metadata(cfg, tables)]


OPTINOUT = [
    (
        "error",
        "optinout.mappings[1].crm",
        "CRM field 'telephone1' is String: opt-out fields must be Boolean",
    ),
    (
        "error",
        "optinout.mappings[2].crm",
        "unknown field 'donotfax' of CRM table 'contact'",
    ),
]


def test_valid_mapping_has_only_the_optinout_problems() -> None:
    assert found(config(), contact()) == OPTINOUT


def test_missing_table() -> None:
    assert found(config(crm_table="contacts")) == [
        ("error", "inbound.mappings[0].crm_table", "the CRM has no table 'contacts'")
    ]


def test_a_missing_table_is_matched_to_the_names_the_crm_lists() -> None:
    issues = validate_against_metadata(
        config(crm_table="contacts"), {}, table_names=["account", "contact"]
    )
    assert [issue.message for issue in issues] == [
        "the CRM has no table 'contacts' (did you mean 'contact'?)"
    ]


def test_table_without_change_tracking() -> None:
    (issue, *_) = found(config(), contact(change_tracking=False))
    assert issue[1] == "inbound.mappings[0].crm_table"
    assert "change tracking is not enabled on CRM table 'contact'" in issue[2]


def test_unknown_crm_field_and_incompatible_type() -> None:
    fields = [
        {"crm": "emailadress1", "campaign": "email"},
        {"crm": "birthdate", "campaign": "first_name"},
        {"crm": "statecode", "campaign": "birth_date"},
    ]
    assert found(config(fields=fields), contact())[:2] == [
        (
            "error",
            "inbound.mappings[0].fields[0].crm",
            "unknown field 'emailadress1' of CRM table 'contact' (did you mean 'emailaddress1'?)",
        ),
        (
            "error",
            "inbound.mappings[0].fields[2].campaign",
            "CRM field 'statecode' (Picklist) cannot be written to Campaign field 'birth_date' "
            "(date): compatible types are string, integer, text",
        ),
    ]


def test_declared_primary_key_must_match() -> None:
    issues = found(config(primary_key={"crm": "id", "campaign": "external_id"}), contact())
    assert issues[0] == (
        "error",
        "inbound.mappings[0].primary_key.crm",
        "the primary key of CRM table 'contact' is 'contactid', not 'id'",
    )


def test_filter_fields_and_replacement_values() -> None:
    cfg = config(
        fields=[{"crm": "statecode", "campaign": "first_name"}],
        filters={"conditions": [{"field": "statecod", "op": "eq", "value": 0}]},
        replacements=[
            {"field": "statecode", "from": 0, "to": "Active"},
            {"field": "statecode", "from": 7, "to": "?"},
        ],
    )
    assert found(cfg, contact())[:2] == [
        (
            "error",
            "inbound.mappings[0].filters.conditions[0].field",
            "unknown field 'statecod' of CRM table 'contact' (did you mean 'statecode'?)",
        ),
        (
            "warning",
            "inbound.mappings[0].replacements[1].from",
            "7 is not a value of CRM field 'statecode' (values: 0, 1)",
        ),
    ]


def test_mappings_of_other_connections_are_skipped() -> None:
    assert validate_against_metadata(config(crm_table="nope"), {}, connection="other") == []
