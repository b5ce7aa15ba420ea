from __future__ import annotations

import pytest
from pydantic import ValidationError

from crmsync.store.names import BOOKKEEPING_COLUMNS
from crmsync.store.resources import (
    PROFILE,
    FieldDefinition,
    LinkDefinition,
    OptOutAttribute,
    ResourceDefinition,
)
from crmsync.store.types import CampaignType


def test_profile_has_its_fields_and_key() -> None:
    names = PROFILE.field_names()
    for name in ("external_id", "email", "first_name", "last_name", "phone", "mobile_phone"):
        assert name in names
    assert PROFILE.identifier == "external_id"
    assert PROFILE.unique_fields() == ("external_id",)
    key = PROFILE.field("external_id")
    assert key is not None
    assert key.nullable
    birth = PROFILE.field("birth_date")
    assert birth is not None
    assert birth.type is CampaignType.DATE


@pytest.mark.parametrize("attribute", list(OptOutAttribute))
def test_profile_has_each_opt_out_with_its_change_time(attribute: OptOutAttribute) -> None:
    flag = PROFILE.field(attribute.value)
    changed = PROFILE.field(attribute.value + "_changed_at")
    assert flag is not None
    assert flag.type is CampaignType.BOOLEAN
    assert not flag.nullable
    assert flag.default is False
    assert changed is not None
    assert changed.type is CampaignType.DATETIME


def test_seven_opt_out_attributes() -> None:
    assert len(OptOutAttribute) == 7
    assert OptOutAttribute.CCPA_DO_NOT_SELL.value == "ccpa_do_not_sell"


def _resource(**kwargs: object) -> ResourceDefinition:
    base: dict[str, object] = {
        "name": "subscription",
        "identifier": "crm_id",
        "fields": [{"name": "crm_id", "type": "string"}],
    }
    return ResourceDefinition.model_validate(base | kwargs)


@pytest.mark.parametrize("name", BOOKKEEPING_COLUMNS)
def test_bookkeeping_names_are_reserved(name: str) -> None:
    with pytest.raises(ValidationError, match="reserved for the store"):
        _resource(fields=[{"name": "crm_id", "type": "string"}, {"name": name, "type": "string"}])


@pytest.mark.parametrize("name", ["crmsync_state", "sqlite_master", "pg_class"])
def test_reserved_table_prefixes(name: str) -> None:
    with pytest.raises(ValidationError, match="reserved"):
        _resource(name=name)


def test_identifier_must_be_a_field() -> None:
    with pytest.raises(ValidationError, match="identifier 'nope' is not one of the fields"):
        _resource(identifier="nope")


def test_field_declared_twice() -> None:
    with pytest.raises(ValidationError, match="declared twice"):
        _resource(fields=[{"name": "crm_id", "type": "string"}] * 2)


def test_link_field_must_be_a_field() -> None:
    with pytest.raises(ValidationError, match="link field 'owner' is not one of the fields"):
        _resource(links=[{"resource": "profile", "field": "owner"}])


def test_keep_needs_optional_link() -> None:
    with pytest.raises(ValidationError, match="cardinality '1' forbids"):
        LinkDefinition(resource="profile", field="p", cardinality="1", on_parent_delete="keep")


def test_length_only_for_strings() -> None:
    with pytest.raises(ValidationError, match="string fields only"):
        FieldDefinition(name="n", type=CampaignType.INTEGER, length=3)


def test_unknown_keys_and_types_are_refused() -> None:
    with pytest.raises(ValidationError):
        FieldDefinition.model_validate({"name": "n", "type": "decimal"})
    with pytest.raises(ValidationError):
        FieldDefinition.model_validate({"name": "n", "type": "string", "size": 3})


def test_hostile_resource_name_is_refused() -> None:
    with pytest.raises(ValidationError, match="invalid name"):
        _resource(name="x; DROP TABLE profile")
