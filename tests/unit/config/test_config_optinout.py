"""Opt-in/out configuration: directions, mappings, the contact table default, inbound overlap."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from crmsync.config.checks import static_issues
from crmsync.config.metadata_checks import validate_against_metadata
from crmsync.config.models import Config
from crmsync.connectors.base import CrmType, FieldInfo, TableInfo

SF = {"kind": "salesforce", "url": "https://x", "client_id": "a", "client_secret_env": "SF"}


def paths(data: dict[str, Any]) -> list[tuple[str, str]]:
    return [(i.path, i.message) for i in static_issues(Config.model_validate(data))]


@pytest.mark.parametrize("direction", ["crm_to_campaign", "campaign_to_crm", "bidirectional"])
def test_a_direction_needs_mappings(direction: str) -> None:
    data = {"connections": {"org": SF}, "optinout": {"direction": direction, "connection": "org"}}
    assert paths(data) == [
        (
            "optinout.mappings",
            f"direction '{direction}' needs at least one mapping (a CRM Boolean field and a "
            "Campaign opt-out attribute)",
        )
    ]


def test_disabled_needs_nothing_and_unknown_direction_is_refused() -> None:
    assert paths({"optinout": {"direction": "disabled"}}) == []
    with pytest.raises(ValidationError, match=r"optinout\.direction"):
        Config.model_validate({"optinout": {"direction": "both"}})


def test_every_campaign_opt_out_attribute_is_accepted() -> None:
    names = [
        "optout_email",
        "optout_sms",
        "optout_phone",
        "optout_postal_mail",
        "optout_fax",
        "optout_mobile_app",
        "ccpa_do_not_sell",
    ]
    mappings = [{"crm": f"F{i}", "campaign": name} for i, name in enumerate(names)]
    config = Config.model_validate({"optinout": {"mappings": mappings}})
    assert [m.campaign.value for m in config.optinout.mappings] == names


def test_inbound_may_not_write_opt_outs_while_optinout_runs() -> None:
    inbound = {
        "mappings": [
            {
                "name": "contacts",
                "connection": "org",
                "crm_table": "Contact",
                "resource": "profile",
                "primary_key": {"campaign": "external_id"},
                "fields": [
                    {"crm": "LastName", "campaign": "last_name"},
                    {"crm": "HasOptedOutOfEmail", "campaign": "optout_email"},
                ],
            }
        ]
    }
    optinout = {
        "direction": "bidirectional",
        "connection": "org",
        "mappings": [{"crm": "HasOptedOutOfEmail", "campaign": "optout_email"}],
    }
    data = {"connections": {"org": SF}, "inbound": inbound, "optinout": optinout}
    ((path, message),) = paths(data)
    assert path == "inbound.mappings[0].fields[1].campaign"
    assert "map it under optinout.mappings instead" in message
    assert paths(data | {"optinout": {"direction": "disabled"}}) == []


def test_file_exchange_and_defaults() -> None:
    config = Config.model_validate(
        {"optinout": {"file_exchange": {"folder": "/tmp/drop", "import": False}}}
    )
    exchange = config.optinout.file_exchange
    assert exchange is not None
    assert (exchange.export, exchange.import_) == (True, False)
    assert config.optinout.table_for("salesforce") == "Contact"
    assert config.optinout.table_for("dataverse") == "contact"


def test_default_contact_table_is_checked_against_metadata() -> None:
    config = Config.model_validate(
        {
            "connections": {"org": SF},
            "optinout": {
                "direction": "campaign_to_crm",
                "connection": "org",
                "mappings": [{"crm": "Email", "campaign": "optout_email"}],
            },
        }
    )
    contact = TableInfo(
        name="Contact",
        collection="Contact",
        primary_key="Id",
        primary_name="Name",
        change_tracking=True,
        fields={"Email": FieldInfo("Email", CrmType.STRING)},
    )
    ((issue),) = validate_against_metadata(config, {"Contact": contact})
    assert (issue.path, issue.message) == (
        "optinout.mappings[0].crm",
        "CRM field 'Email' is String: opt-out fields must be Boolean",
    )
