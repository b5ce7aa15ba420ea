"""Compiled inbound mappings: rows, rejects, replacements, picklist modes, links, compile errors."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from crm_tables import contact_table
from hypothesis import given
from hypothesis import strategies as st

from crmsync.config.errors import ConfigError
from crmsync.config.models import InboundMapping
from crmsync.connectors.base import INVALID_TEXT, CrmType, FieldInfo, Option, Record
from crmsync.errors import ConfigurationError, RejectError
from crmsync.store.engine import create_engine_for
from crmsync.store.publish import publish
from crmsync.store.resources import PROFILE, ResourceDefinition
from crmsync.store.tables import build_metadata, definitions_with_profile
from crmsync.store.writes import upsert_batch
from crmsync.sync.transform import CompiledMapping, ParentLink, compile_mapping

T = CrmType
TIERS = (Option(1, "Bronze"), Option(2, "Gold"), Option(3, "Platinum"))
YES_NO = (Option(False, "Allow"), Option(True, "Do Not Allow"))


CONTACT = contact_table(
    FieldInfo("firstname", T.STRING),
    FieldInfo("lastname", T.STRING),
    FieldInfo("emailaddress1", T.STRING),
    FieldInfo("birthdate", T.DATE, date_behavior="DateOnly"),
    FieldInfo("donotbulkemail", T.BOOLEAN, options=YES_NO),
    FieldInfo("tier", T.PICKLIST, options=TIERS),
    FieldInfo("statecode", T.PICKLIST, options=(Option(0, "Active"), Option(1, "Inactive"))),
    FieldInfo("creditlimit", T.MONEY),
    FieldInfo("modifiedon", T.DATETIME, date_behavior="UserLocal"),
    FieldInfo("parentcustomerid", T.LOOKUP, read_name="_parentcustomerid_value"),
    FieldInfo("ownerid", T.LOOKUP, read_name="_ownerid_value"),
    primary_name="fullname",
)

MEMBER = ResourceDefinition.model_validate(
    {
        "name": "member",
        "identifier": "crm_id",
        "fields": [
            {"name": "crm_id", "type": "string", "length": 36},
            {"name": "profile_id", "type": "string", "length": 255},
            {"name": "account_id", "type": "string", "length": 36},
            {"name": "name", "type": "string", "length": 10},
            {"name": "tier", "type": "string", "length": 32},
            {"name": "tier_code", "type": "integer"},
            {"name": "bulk", "type": "string", "length": 32},
            {"name": "flag", "type": "boolean", "nullable": False, "default": False},
            {"name": "email", "type": "string", "nullable": False},
            {"name": "limit_amount", "type": "double"},
            {"name": "since", "type": "datetime"},
            {"name": "born", "type": "date"},
            {"name": "plain", "type": "string"},
        ],
        "links": [
            {"resource": "profile", "field": "profile_id", "cardinality": "1"},
            {"resource": "account", "field": "account_id", "cardinality": "0..1"},
        ],
    }
)
ACCOUNT = ResourceDefinition.model_validate(
    {
        "name": "account",
        "identifier": "crm_id",
        "fields": [{"name": "crm_id", "type": "string", "length": 36}],
    }
)
RESOURCES = {"profile": PROFILE, "member": MEMBER, "account": ACCOUNT}


def mapping(resource: str = "profile", **overrides: Any) -> InboundMapping:
    data: dict[str, Any] = {
        "name": "contacts",
        "connection": "crm",
        "crm_table": "contact",
        "resource": resource,
        "primary_key": {"campaign": "external_id" if resource == "profile" else "crm_id"},
        "fields": [
            {"crm": "firstname", "campaign": "first_name"},
            {"crm": "lastname", "campaign": "last_name"},
            {"crm": "emailaddress1", "campaign": "email", "apply_updates": False},
            {"crm": "birthdate", "campaign": "birth_date"},
            {"crm": "donotbulkemail", "campaign": "optout_email"},
        ],
    }
    data.update(overrides)
    return InboundMapping.model_validate(data)


def member_mapping(**overrides: Any) -> InboundMapping:
    fields = [
        {"crm": "parentcustomerid", "campaign": "profile_id"},
        {"crm": "ownerid", "campaign": "account_id"},
        {"crm": "firstname", "campaign": "name"},
        {"crm": "tier", "campaign": "tier"},
        {"crm": "donotbulkemail", "campaign": "flag"},
        {"crm": "emailaddress1", "campaign": "email"},
    ]
    return mapping("member", **{"fields": fields, **overrides})


def compile_(m: InboundMapping, resource: str | None = None) -> CompiledMapping:
    return compile_mapping(m, CONTACT, RESOURCES[resource or m.resource], resources=RESOURCES)


def record(
    record_id: str = "c-1", formatted: dict[str, str] | None = None, **values: Any
) -> Record:
    return Record(id=record_id, values=values, formatted=formatted or {}, version=1)


def compile_errors(m: InboundMapping, resource: str | None = None) -> dict[str, str]:
    with pytest.raises(ConfigError) as caught:
        compile_(m, resource)
    return {issue.path: issue.message for issue in caught.value.issues}


class TestCompiled:
    def test_describes_what_the_writer_needs(self) -> None:
        compiled = compile_(
            mapping(
                filters={"conditions": [{"field": "statecode", "op": "eq", "value": 0}]},
                apply_deletes=False,
                delete_filtered_out=True,
            )
        )
        assert compiled.name == "contacts"
        assert compiled.crm_table == "contact"
        assert compiled.resource == "profile"
        assert compiled.key_field == "external_id"
        assert compiled.crm_fields == (
            "contactid",
            "firstname",
            "lastname",
            "emailaddress1",
            "birthdate",
            "donotbulkemail",
            "statecode",
            "versionnumber",
        )
        assert compiled.columns == (
            "external_id",
            "first_name",
            "last_name",
            "email",
            "birth_date",
            "optout_email",
        )
        assert compiled.insert_only == frozenset({"email"})
        assert compiled.apply_deletes is False
        assert compiled.delete_filtered_out is True
        assert compiled.parent_links == ()

    def test_lookups_are_listed_by_name_and_read_by_wire_name(self) -> None:
        compiled = compile_(member_mapping())
        assert "parentcustomerid" in compiled.crm_fields
        row = compiled.to_row(
            record(_parentcustomerid_value="p-1", _ownerid_value=None, emailaddress1="a@x")
        )
        assert row["profile_id"] == "p-1"

    def test_mapping_the_primary_key_onto_the_key_field_is_harmless(self) -> None:
        fields = [{"crm": "contactid", "campaign": "external_id"}]
        compiled = compile_(
            mapping(fields=fields, primary_key={"crm": "contactid", "campaign": "external_id"})
        )
        assert compiled.columns == ("external_id",)
        assert compiled.to_row(record("c-9")) == {"external_id": "c-9"}


class TestRows:
    def test_key_receives_the_record_id_and_fields_convert(self) -> None:
        compiled = compile_(mapping())
        row = compiled.to_row(
            record(
                "c-1",
                firstname="Åsa",
                lastname="Öberg",
                emailaddress1="asa@example.com",
                birthdate="1990-05-17",
                donotbulkemail=True,
            )
        )
        assert row == {
            "external_id": "c-1",
            "first_name": "Åsa",
            "last_name": "Öberg",
            "email": "asa@example.com",
            "birth_date": date(1990, 5, 17),
            "optout_email": True,
        }

    def test_every_row_carries_every_column(self) -> None:
        compiled = compile_(mapping())
        row = compiled.to_row(record("c-2"))
        assert tuple(row) == compiled.columns
        assert row["first_name"] is None

    def test_a_value_that_cannot_convert_rejects_the_record(self) -> None:
        compiled = compile_(mapping())
        with pytest.raises(RejectError) as caught:
            compiled.to_row(record("c-3", firstname="x" * 256))
        error = caught.value
        assert error.code == "VALUE_TOO_LONG"
        assert error.record_id == "c-3"
        assert error.table == "contact"
        assert "'firstname' → profile.first_name" in error.message
        assert "256 characters" in error.message

    def test_wrong_type_names_the_field(self) -> None:
        compiled = compile_(mapping())
        with pytest.raises(RejectError) as caught:
            compiled.to_row(record("c-4", birthdate="17/05/1990"))
        assert caught.value.code == "INVALID_VALUE"
        assert "birthdate" in caught.value.message

    def test_a_record_without_id_is_rejected(self) -> None:
        with pytest.raises(RejectError) as caught:
            compile_(mapping()).to_row(record(""))
        assert caught.value.code == "MISSING_ID"

    def test_an_id_longer_than_the_key_field_is_rejected(self) -> None:
        compiled = compile_(member_mapping())
        with pytest.raises(RejectError) as caught:
            compiled.to_row(record("x" * 37, _parentcustomerid_value="p", emailaddress1="e"))
        assert caught.value.code == "VALUE_TOO_LONG"
        assert caught.value.record_id == "x" * 37

    def test_empty_values_take_the_fields_default_when_it_is_required(self) -> None:
        row = compile_(mapping()).to_row(record("c-5", donotbulkemail=None))
        assert row["optout_email"] is False

    def test_empty_values_of_required_fields_without_default_are_rejected(self) -> None:
        compiled = compile_(member_mapping())
        with pytest.raises(RejectError) as caught:
            compiled.to_row(record(_parentcustomerid_value="p-1"))
        assert caught.value.code == "VALUE_REQUIRED"
        assert "member.email" in caught.value.message


class TestReplacements:
    def test_picklist_value_replaced_before_conversion(self) -> None:
        fields = [
            {"crm": "tier", "campaign": "tier"},
            {"crm": "emailaddress1", "campaign": "email"},
        ]
        m = member_mapping(
            fields=[*fields, {"crm": "parentcustomerid", "campaign": "profile_id"}],
            replacements=[
                {"field": "tier", "from": 2, "to": "VIP"},
                {"field": "tier", "from": "Platinum", "to": "VIP+"},
            ],
        )
        compiled = compile_(m)
        base = {"emailaddress1": "e", "_parentcustomerid_value": "p"}
        assert compiled.to_row(record(tier=2, **base))["tier"] == "VIP"
        assert compiled.to_row(record(tier=3, **base))["tier"] == "VIP+"
        assert compiled.to_row(record(tier=1, **base))["tier"] == "1"

    def test_replacements_match_the_crm_value_in_display_mode(self) -> None:
        m = member_mapping(
            picklist_values="display", replacements=[{"field": "tier", "from": "2", "to": "VIP"}]
        )
        compiled = compile_(m)
        base = {"emailaddress1": "e", "_parentcustomerid_value": "p"}
        assert compiled.to_row(record(tier=2, **base))["tier"] == "VIP"
        formatted = {"tier": "Brons"}
        assert compiled.to_row(record(formatted=formatted, tier=1, **base))["tier"] == "Brons"
        assert compiled.to_row(record(tier=3, **base))["tier"] == "Platinum"

    def test_boolean_replacement_into_text(self) -> None:
        fields = [
            {"crm": "donotbulkemail", "campaign": "bulk"},
            {"crm": "emailaddress1", "campaign": "email"},
            {"crm": "parentcustomerid", "campaign": "profile_id"},
        ]
        m = member_mapping(
            fields=fields,
            replacements=[
                {"field": "donotbulkemail", "from": True, "to": "blocked"},
                {"field": "donotbulkemail", "from": "Allow", "to": "ok"},
            ],
        )
        compiled = compile_(m)
        base = {"emailaddress1": "e", "_parentcustomerid_value": "p"}
        assert compiled.to_row(record(donotbulkemail=True, **base))["bulk"] == "blocked"
        assert compiled.to_row(record(donotbulkemail=False, **base))["bulk"] == "ok"

    def test_string_replacements_match_exactly_and_can_fill_empty_values(self) -> None:
        m = mapping(
            replacements=[
                {"field": "firstname", "from": "N/A", "to": None},
                {"field": "lastname", "from": None, "to": "(unknown)"},
            ]
        )
        compiled = compile_(m)
        row = compiled.to_row(record(firstname="N/A", lastname=None))
        assert row["first_name"] is None
        assert row["last_name"] == "(unknown)"
        assert compiled.to_row(record(firstname="n/a"))["first_name"] == "n/a"

    def test_identifier_replacements_ignore_case(self) -> None:
        m = member_mapping(
            replacements=[{"field": "ownerid", "from": "AAAA-BBBB", "to": "acc-1"}],
        )
        row = compile_(m).to_row(
            record(_ownerid_value="aaaa-bbbb", _parentcustomerid_value="p", emailaddress1="e")
        )
        assert row["account_id"] == "acc-1"

    def test_a_value_replaced_into_a_typed_field_has_its_type(self) -> None:
        m = mapping(replacements=[{"field": "birthdate", "from": "1900-01-01", "to": None}])
        assert compile_(m).to_row(record(birthdate="1900-01-01"))["birth_date"] is None
        m = mapping(replacements=[{"field": "donotbulkemail", "from": None, "to": "true"}])
        assert compile_(m).to_row(record(donotbulkemail=None))["optout_email"] is True


class TestPicklistModes:
    @pytest.mark.parametrize(
        ("mode", "raw", "formatted", "expected"),
        [
            ("technical", 2, {"tier": "Gold"}, "2"),
            ("display", 2, {"tier": "Guld"}, "Guld"),
            ("display", 2, {}, "Gold"),
            ("technical", 42, {}, "42"),
        ],
    )
    def test_technical_or_display(
        self, mode: str, raw: int, formatted: dict[str, str], expected: str
    ) -> None:
        compiled = compile_(member_mapping(picklist_values=mode))
        row = compiled.to_row(
            record(formatted=formatted, tier=raw, emailaddress1="e", _parentcustomerid_value="p")
        )
        assert row["tier"] == expected

    def test_display_of_an_unknown_option_is_rejected(self) -> None:
        compiled = compile_(member_mapping(picklist_values="display"))
        with pytest.raises(RejectError) as caught:
            compiled.to_row(record(tier=42, emailaddress1="e", _parentcustomerid_value="p"))
        assert caught.value.code == "UNKNOWN_OPTION"

    def test_technical_values_into_an_integer_field(self) -> None:
        fields = [
            {"crm": "tier", "campaign": "tier_code"},
            {"crm": "parentcustomerid", "campaign": "profile_id"},
            {"crm": "emailaddress1", "campaign": "email"},
        ]
        compiled = compile_(member_mapping(fields=fields))
        row = compiled.to_row(record(tier=3, emailaddress1="e", _parentcustomerid_value="p"))
        assert row["tier_code"] == 3


class TestLinks:
    def test_parent_links_name_the_parent_key(self) -> None:
        compiled = compile_(member_mapping())
        assert compiled.parent_links == (
            ParentLink("profile_id", "profile", "external_id", required=True),
            ParentLink("account_id", "account", "crm_id", required=False),
        )

    def test_a_child_without_its_required_parent_is_rejected(self) -> None:
        compiled = compile_(member_mapping())
        with pytest.raises(RejectError) as caught:
            compiled.to_row(record("m-1", emailaddress1="e", _parentcustomerid_value=None))
        assert caught.value.code == "PARENT_REQUIRED"
        assert caught.value.record_id == "m-1"

    def test_an_optional_parent_may_be_empty(self) -> None:
        row = compile_(member_mapping()).to_row(
            record(emailaddress1="e", _parentcustomerid_value="p", _ownerid_value=None)
        )
        assert row["account_id"] is None

    def test_an_unmapped_optional_link_is_not_written(self) -> None:
        fields = [
            {"crm": "parentcustomerid", "campaign": "profile_id"},
            {"crm": "emailaddress1", "campaign": "email"},
        ]
        compiled = compile_(member_mapping(fields=fields))
        assert [link.column for link in compiled.parent_links] == ["profile_id"]
        assert "account_id" not in compiled.columns


class TestFilters:
    def test_no_filters_pass_every_record(self) -> None:
        assert compile_(mapping()).passes(record()) is True

    @pytest.mark.parametrize(
        ("combine", "state", "email", "expected"),
        [
            ("and", 0, "a@x", True),
            ("and", 1, "a@x", False),
            ("and", 0, None, False),
            ("or", 1, "a@x", True),
            ("or", 0, None, True),
            ("or", 1, None, False),
        ],
    )
    def test_and_or(self, combine: str, state: int, email: str | None, expected: bool) -> None:
        filters = {
            "combine": combine,
            "conditions": [
                {"field": "statecode", "op": "eq", "value": "Active"},
                {"field": "emailaddress1", "op": "is_not_empty"},
            ],
        }
        compiled = compile_(mapping(filters=filters))
        assert compiled.passes(record(statecode=state, emailaddress1=email)) is expected

    def test_filters_on_unmapped_fields_typed(self) -> None:
        filters = {
            "conditions": [
                {"field": "creditlimit", "op": "ge", "value": 1000},
                {"field": "modifiedon", "op": "lt", "value": "2024-06-01T00:00:00+02:00"},
            ]
        }
        compiled = compile_(mapping(filters=filters))
        assert compiled.passes(record(creditlimit=1000, modifiedon="2024-05-31T21:59:59Z"))
        assert not compiled.passes(record(creditlimit=1000, modifiedon="2024-05-31T22:00:00Z"))
        assert not compiled.passes(record(creditlimit=999.99, modifiedon="2024-01-01T00:00:00Z"))


class TestCompileErrors:
    def test_every_problem_is_reported_with_its_path(self) -> None:
        m = mapping(
            primary_key={"crm": "id", "campaign": "email"},
            fields=[
                {"crm": "nosuchfield", "campaign": "first_name"},
                {"crm": "firstname", "campaign": "nosuchcolumn"},
                {"crm": "modifiedon", "campaign": "optout_email"},
                {"crm": "lastname", "campaign": "last_name"},
                {"crm": "emailaddress1", "campaign": "last_name"},
            ],
            replacements=[
                {"field": "birthdate", "from": "x", "to": "y"},
                {"field": "lastname", "from": "a", "to": "b" * 300},
            ],
            filters={
                "conditions": [
                    {"field": "nosuch", "op": "eq", "value": 1},
                    {"field": "creditlimit", "op": "contains", "value": "1"},
                    {"field": "modifiedon", "op": "gt", "value": "soon"},
                ]
            },
        )
        errors = compile_errors(m)
        prefix = "inbound.mappings.contacts."
        assert set(errors) == {
            prefix + "primary_key.crm",
            prefix + "primary_key.campaign",
            prefix + "fields[0].crm",
            prefix + "fields[1].campaign",
            prefix + "fields[2].campaign",
            prefix + "fields[4].campaign",
            prefix + "replacements[0].field",
            prefix + "replacements[1].to",
            prefix + "filters.conditions[0].field",
            prefix + "filters.conditions[1].value",
            prefix + "filters.conditions[2].value",
        }
        assert "is 'contactid', not 'id'" in errors[prefix + "primary_key.crm"]
        assert (
            "'email' of resource 'profile' is not unique" in errors[prefix + "primary_key.campaign"]
        )
        assert "has no field 'nosuchfield'" in errors[prefix + "fields[0].crm"]
        assert "has no field 'nosuchcolumn'" in errors[prefix + "fields[1].campaign"]
        assert (
            "(DateTime) cannot be written to Campaign field 'optout_email' (boolean)"
            in (errors[prefix + "fields[2].campaign"])
        )
        assert "already mapped by fields[3]" in errors[prefix + "fields[4].campaign"]
        assert "not a mapped CRM field" in errors[prefix + "replacements[0].field"]
        assert "more than the 255" in errors[prefix + "replacements[1].to"]
        assert "applies to text fields" in errors[prefix + "filters.conditions[1].value"]

    def test_the_caller_gives_the_mappings_place(self) -> None:
        m = mapping(fields=[{"crm": "nosuchfield", "campaign": "first_name"}])
        with pytest.raises(ConfigurationError) as caught:
            compile_mapping(
                m, CONTACT, PROFILE, resources=RESOURCES, loc=("inbound", "mappings", 3)
            )
        assert "inbound.mappings[3].fields[0].crm: CRM table 'contact' has no field" in str(
            caught.value
        )

    @pytest.mark.parametrize(
        ("overrides", "path", "message"),
        [
            (
                {"fields": [{"crm": "firstname", "campaign": "external_id"}]},
                "fields[0].campaign",
                "holds the CRM id",
            ),
            (
                {"replacements": [{"field": "firstname", "from": "a", "to": "b"}] * 2},
                "replacements[1].from",
                "replaced twice",
            ),
            (
                {"replacements": [{"field": "donotbulkemail", "from": "maybe", "to": True}]},
                "replacements[0].from",
                "not a value of Boolean field",
            ),
            (
                {"replacements": [{"field": "birthdate", "from": "2000-01-01", "to": "soon"}]},
                "replacements[0].to",
                "date",
            ),
            (
                {"filters": {"conditions": [{"field": "donotbulkemail", "op": "gt", "value": 1}]}},
                "filters.conditions[0].value",
                "eq and ne",
            ),
        ],
    )
    def test_single_problems(self, overrides: dict[str, Any], path: str, message: str) -> None:
        errors = compile_errors(mapping(**overrides))
        assert list(errors) == ["inbound.mappings.contacts." + path]
        assert message in errors["inbound.mappings.contacts." + path]

    def test_replacing_by_empty_into_a_field_that_requires_a_value(self) -> None:
        m = member_mapping(replacements=[{"field": "emailaddress1", "from": "x", "to": None}])
        errors = compile_errors(m)
        assert "requires one" in errors["inbound.mappings.contacts.replacements[0].to"]

    def test_replacing_by_empty_into_a_field_with_a_default_writes_the_default(self) -> None:
        m = mapping(replacements=[{"field": "donotbulkemail", "from": True, "to": None}])
        assert compile_(m).to_row(record(donotbulkemail=True))["optout_email"] is False

    def test_display_labels_into_an_integer_field(self) -> None:
        fields = [
            {"crm": "tier", "campaign": "tier_code"},
            {"crm": "parentcustomerid", "campaign": "profile_id"},
        ]
        errors = compile_errors(member_mapping(fields=fields, picklist_values="display"))
        assert (
            "display labels cannot be written"
            in errors["inbound.mappings.contacts.fields[0].campaign"]
        )

    def test_a_required_link_must_be_mapped(self) -> None:
        errors = compile_errors(member_mapping(fields=[{"crm": "firstname", "campaign": "name"}]))
        assert "requires a parent 'profile'" in errors["inbound.mappings.contacts.fields"]

    def test_a_link_to_an_undefined_resource(self) -> None:
        resources = {"profile": PROFILE, "member": MEMBER}
        with pytest.raises(ConfigError, match="links to 'account', which is not defined"):
            compile_mapping(member_mapping(), CONTACT, MEMBER, resources=resources)

    def test_a_key_field_that_is_not_text(self) -> None:
        m = mapping("member", primary_key={"campaign": "tier_code"}, fields=[])
        errors = compile_errors(m)
        assert "is a integer field" in errors["inbound.mappings.contacts.primary_key.campaign"]

    def test_table_and_resource_must_be_the_mappings(self) -> None:
        errors = compile_errors(mapping(crm_table="account", resource="account"), "profile")
        assert "not 'contact'" in errors["inbound.mappings.contacts.crm_table"]
        assert "not 'profile'" in errors["inbound.mappings.contacts.resource"]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[tuple[sa.Engine, sa.Table]]:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'store.db'}")
    publish(engine, [])
    table = build_metadata(definitions_with_profile([])).tables["profile"]
    yield engine, table
    engine.dispose()


def test_insert_only_columns_are_kept_by_the_store_on_update(
    store: tuple[sa.Engine, sa.Table],
) -> None:
    engine, table = store
    compiled = compile_(mapping())

    def write(version: int, **values: Any) -> None:
        row = compiled.to_row(record("c-1", **values))
        with engine.begin() as conn:
            upsert_batch(
                conn,
                table,
                compiled.key_field,
                [{**row, "source_version": version}],
                insert_only=compiled.insert_only,
                origin="crm:crm",
                now=datetime(2026, 1, 1, tzinfo=UTC),
            )

    write(1, firstname="Ann", emailaddress1="first@example.com")
    write(2, firstname="Anna", emailaddress1="second@example.com")
    with engine.connect() as conn:
        stored = conn.execute(sa.select(table.c.first_name, table.c.email)).one()
    assert stored.first_name == "Anna"
    assert stored.email == "first@example.com"


@given(text=st.text(max_size=300), replaced=st.booleans())
def test_text_is_written_whole_or_rejected_never_cut(text: str, replaced: bool) -> None:
    replacements = [{"field": "firstname", "from": text, "to": "(replaced)"}] if replaced else []
    compiled = compile_(mapping(replacements=replacements))
    if replaced:
        assert compiled.to_row(record(firstname=text))["first_name"] == "(replaced)"
        return
    if len(text) <= 255 and "\x00" not in text:
        assert compiled.to_row(record(firstname=text))["first_name"] == text
        return
    with pytest.raises(RejectError) as caught:
        compiled.to_row(record(firstname=text))
    assert caught.value.code == ("VALUE_TOO_LONG" if len(text) > 255 else "INVALID_VALUE")


class TestTextNoStoreTakes:
    @pytest.mark.parametrize(
        ("values", "formatted", "wire"),
        [
            ({"firstname": "A\x00n"}, {}, "firstname"),  # a field with a length
            ({"emailaddress1": "a\x00@example.com"}, {}, "emailaddress1"),  # one without
            ({"tier": 2}, {"tier": "Go\x00ld"}, "tier"),  # a display label
        ],
    )
    def test_a_nul_character_is_rejected_naming_the_field(
        self, values: dict[str, Any], formatted: dict[str, str], wire: str
    ) -> None:
        compiled = compile_(member_mapping(picklist_values="display"))
        base = {"emailaddress1": "e", "_parentcustomerid_value": "p", "tier": 1}
        with pytest.raises(RejectError) as caught:
            compiled.to_row(record(formatted=formatted, **{**base, **values}))
        assert caught.value.code == "INVALID_VALUE"
        assert f"field '{wire}'" in caught.value.message
        assert "NUL character" in caught.value.message

    def test_text_the_connector_noted_invalid_is_rejected_and_never_filtered_out(self) -> None:
        compiled = compile_(
            mapping(
                filters={"conditions": [{"field": "lastname", "op": "eq", "value": "Kept"}]},
                delete_filtered_out=True,
            )
        )
        noted = {"lastname": "\\ud800", INVALID_TEXT: "'lastname' holds a lone UTF-16 surrogate"}
        bad = record(**noted)
        assert compiled.passes(bad)
        assert not compiled.passes(record(lastname="Other"))
        with pytest.raises(RejectError) as caught:
            compiled.to_row(bad)
        assert caught.value.code == "INVALID_VALUE"
        assert "'lastname' holds a lone UTF-16 surrogate" in caught.value.message
