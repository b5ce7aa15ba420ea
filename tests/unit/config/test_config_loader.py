"""Loading: YAML problems, schema errors, paths and line numbers, secrets kept out of sight."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from crmsync.config import (
    STARTER_CONFIG,
    ConfigError,
    check_config_file,
    check_config_text,
    load_config,
    load_config_text,
)

BASE = """\
connections:
  dv:
    kind: dataverse
    url: https://org.crm.dynamics.com
    tenant_id: tenant
    client_id: app
    client_secret_env: DV_SECRET
inbound:
  mappings:
    - name: contacts
      connection: dv
      crm_table: contact
      resource: profile
      primary_key: {campaign: external_id}
      fields:
        - {crm: emailaddress1, campaign: email}
        - {crm: firstname, campaign: first_name}
"""


def errors(text: str) -> list[str]:
    report = check_config_text(textwrap.dedent(text), source="c.yaml", environ={"DV_SECRET": "s"})
    return [str(issue) for issue in report.errors]


def test_base_configuration_is_valid() -> None:
    report = check_config_text(BASE, environ={"DV_SECRET": "s"})
    assert report.ok
    assert report.issues == ()
    config = load_config_text(BASE, environ={"DV_SECRET": "s"})
    assert config.inbound.mappings[0].fields[1].campaign == "first_name"
    assert config.store.url == "sqlite:///crmsync.db"


def test_starter_configuration_validates_cleanly() -> None:
    report = check_config_text(STARTER_CONFIG, environ={"CRMSYNC_DYNAMICS_SECRET": "x"})
    assert report.ok
    assert report.issues == ()


def test_unknown_campaign_field_names_path_line_and_suggestion() -> None:
    text = BASE.replace("campaign: first_name", "campaign: frist_name")
    assert errors(text) == [
        "c.yaml:17: inbound.mappings[0].fields[1].campaign: unknown field 'frist_name' of "
        "resource 'profile' (did you mean 'first_name'?)"
    ]


def test_camel_case_external_id_gets_the_one_rule() -> None:
    text = BASE.replace("{campaign: external_id}", "{campaign: externalId}")
    (message,) = errors(text)
    assert "inbound.mappings[0].primary_key.campaign" in message
    assert "did you mean 'external_id'?" in message


def test_unknown_key_is_an_error_with_its_line() -> None:
    text = BASE.replace(
        "      crm_table: contact\n", "      crm_table: contact\n      colour: red\n"
    )
    assert errors(text) == ["c.yaml:13: inbound.mappings[0].colour: unknown key 'colour'"]


def test_missing_key_points_at_its_parent() -> None:
    text = BASE.replace("      resource: profile\n", "")
    assert errors(text) == ["c.yaml:10: inbound.mappings[0].resource: required, but missing"]


def test_wrong_kind_of_connection() -> None:
    (message,) = errors(BASE.replace("kind: dataverse", "kind: hubspot"))
    assert message.startswith("c.yaml:3: connections.dv.kind: ")
    assert "'dataverse', 'salesforce'" in message


def test_union_tags_are_not_part_of_paths() -> None:
    (message,) = errors(BASE.replace("    tenant_id: tenant\n", ""))
    assert message == "c.yaml:2: connections.dv: give 'tenant_id' or 'authority'"


def test_clear_text_secret_is_refused_without_echoing_it() -> None:
    text = BASE.replace("client_secret_env: DV_SECRET", "client_secret: hunter2-topsecret")
    (message,) = errors(text)
    assert message.startswith("c.yaml:7: connections.dv.client_secret: secrets must not be")
    assert "client_secret_env" in message
    report = check_config_text(text)
    assert "hunter2" not in repr(report)
    with pytest.raises(ConfigError) as caught:
        load_config_text(text)
    assert "hunter2" not in str(caught.value)
    assert "hunter2" not in repr(caught.value.issues)


def test_private_key_is_refused_too() -> None:
    text = BASE.replace("client_secret_env: DV_SECRET", "private_key: MIIkey")
    assert errors(text)[0].startswith("c.yaml:7: connections.dv.private_key: secrets must not")


def test_exactly_one_secret_source() -> None:
    text = BASE.replace(
        "client_secret_env: DV_SECRET", "client_secret_env: A\n    client_secret_file: /s"
    )
    assert errors(text) == [
        "c.yaml:2: connections.dv: give one of 'client_secret_env' and 'client_secret_file', "
        "not both"
    ]


def test_duplicate_keys_are_reported() -> None:
    text = BASE.replace("      resource: profile\n", "      resource: profile\n      resource: x\n")
    assert "c.yaml:14: inbound.mappings[0].resource: key 'resource' is given twice" in errors(text)


def test_yaml_syntax_error_has_its_line() -> None:
    (message,) = errors("store:\n  url: [unclosed\nqueue: {}\n")
    assert message.startswith("c.yaml:3: (top level): not valid YAML")


def test_top_level_must_be_a_mapping() -> None:
    (message,) = errors("- a\n- b\n")
    assert "must be a mapping" in message


def test_empty_file_is_a_valid_empty_configuration() -> None:
    assert check_config_text("", environ={}).ok


def test_every_error_is_listed() -> None:
    text = BASE.replace("campaign: email", "campaign: emial").replace(
        "campaign: first_name", "campaign: email"
    )
    text = text.replace("connection: dv", "connection: dynamics")
    messages = errors(text)
    assert len(messages) == 2
    assert any("unknown connection 'dynamics'" in m for m in messages)
    assert any("unknown field 'emial'" in m for m in messages)


def test_unsupported_store_url() -> None:
    (message,) = errors(BASE + "store:\n  url: mysql://u@h/db\n")
    assert message.startswith("c.yaml:19: store.url: ")
    assert "store url" not in message
    assert "unsupported database 'mysql'" in message


def test_a_nats_queue_needs_its_server_and_a_postgresql_store() -> None:
    (message,) = errors(BASE + "queue:\n  kind: nats\n")
    assert "'kind: nats' needs 'url'" in message
    (sqlite_key,) = errors(BASE + "queue:\n  url: nats://127.0.0.1:4222\n")
    assert "'url' goes with 'kind: nats'" in sqlite_key
    (store,) = errors(BASE + "queue:\n  kind: nats\n  url: nats://127.0.0.1:4222\n")
    assert store.startswith("c.yaml:19: queue.kind: a NATS queue is for several processes")
    postgres = "store:\n  url: postgresql+psycopg://crmsync@db/campaign\n"
    assert errors(BASE + postgres + "queue:\n  kind: nats\n  url: nats://n1:4222\n") == []


def test_filter_values_match_operators() -> None:
    text = BASE + textwrap.indent(
        "filters:\n  conditions:\n    - {field: statecode, op: eq}\n"
        "    - {field: x, op: is_empty, value: 1}\n    - {field: x, op: like, value: 1}\n",
        "      ",
    )
    messages = errors(text)
    assert any("conditions[0]: 'eq' needs a value" in m for m in messages)
    assert any("conditions[1]: 'is_empty' takes no value" in m for m in messages)
    assert any("conditions[2].op:" in m for m in messages)


def test_missing_file(tmp_path: Path) -> None:
    report = check_config_file(tmp_path / "nope.yaml")
    assert not report.ok
    assert "cannot read" in str(report.issues[0])
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "nope.yaml")


def test_load_config_from_file(tmp_path: Path) -> None:
    path = tmp_path / "crmsync.yaml"
    path.write_text(BASE, encoding="utf-8")
    assert load_config(path, environ={}).connections["dv"].client_id == "app"
    report = check_config_file(path, environ={})
    assert [str(w) for w in report.warnings] == [
        f"{path}:7: warning: connections.dv.client_secret_env: environment variable "
        "'DV_SECRET' is not set or empty"
    ]


def test_missing_connection_kind() -> None:
    (message,) = errors(BASE.replace("    kind: dataverse\n", ""))
    assert message == "c.yaml:2: connections.dv.kind: required: one of 'dataverse', 'salesforce'"


def test_password_in_store_url_is_refused_without_echoing_it() -> None:
    (message,) = errors(BASE + "store:\n  url: postgresql://crm:pa55word@db/crm\n")
    assert message.startswith("c.yaml:19: store.url: the URL holds a password")
    assert "pa55word" not in message


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        (
            "resource: profile",
            "resorce: profile",
            "unknown key 'resorce' (did you mean 'resource'?)",
        ),
        (
            "tenant_id: tenant",
            "tenantid: tenant",
            "unknown key 'tenantid' (did you mean 'tenant_id'?)",
        ),
        (
            "{crm: firstname,",
            "{crm: firstname, apply_update: true,",
            "(did you mean 'apply_updates'?)",
        ),
        ("inbound:", "inbund:", "unknown key 'inbund' (did you mean 'inbound'?)"),
    ],
)
def test_unknown_keys_get_suggestions(before: str, after: str, expected: str) -> None:
    messages = errors(BASE.replace(before, after))
    assert any(m.endswith(expected) for m in messages), messages


def test_salesforce_keys_are_suggested_for_salesforce_connections() -> None:
    text = BASE.replace("kind: dataverse", "kind: salesforce").replace(
        "tenant_id: tenant", "api_versio: '61.0'"
    )
    assert errors(text) == [
        "c.yaml:5: connections.dv.api_versio: unknown key 'api_versio' "
        "(did you mean 'api_version'?)"
    ]


def test_alias_bombs_are_refused_quickly() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    (message,) = errors("\n".join(lines) + "\n")
    assert "more than 200000 values" in message


def test_anchors_within_reason_work() -> None:
    text = BASE.replace("      fields:\n", "      fields: &contact_fields\n")
    assert errors(text) == []


def test_rules_are_checked_beside_keys_that_can_be_left_out() -> None:
    text = BASE.replace("inbound:\n", "queue: {kind: nats}\ninbound:\n").replace(
        "campaign: first_name", "campaign: frist_name"
    )
    assert errors(text) == [
        "c.yaml:8: queue: 'kind: nats' needs 'url': nats://HOST:PORT, or a list of them",
        "c.yaml:18: inbound.mappings[0].fields[1].campaign: unknown field 'frist_name' of "
        "resource 'profile' (did you mean 'first_name'?)",
    ]


def test_a_wrong_required_value_leaves_the_schema_errors_alone() -> None:
    text = BASE.replace("kind: dataverse", "kind: hubspot").replace(
        "campaign: first_name", "campaign: frist_name"
    )
    (message,) = errors(text)
    assert message.startswith("c.yaml:3: connections.dv.kind: ")
    report = check_config_text(textwrap.dedent(text), source="c.yaml", environ={})
    assert report.config is None
    assert report.warnings == ()


def test_a_wrong_list_of_named_entries_is_not_set_aside() -> None:
    text = BASE.replace("inbound:\n", "resources: 5\ninbound:\n").replace(
        "connections:\n  dv:", "connections: 5\nelsewhere:\n  dv:"
    )
    assert sorted(errors(text)) == [
        "c.yaml:1: connections: Input should be a valid dictionary",
        "c.yaml:2: elsewhere: unknown key 'elsewhere'",
        "c.yaml:9: resources: Input should be a valid tuple",
    ]


def test_two_way_is_a_switch_of_each_mapping() -> None:
    assert errors(BASE + "      two_way: true\n") == []
    config = load_config_text(BASE + "      two_way: true\n", environ={"DV_SECRET": "s"})
    assert config.inbound.mappings[0].two_way is True
    assert load_config_text(BASE, environ={"DV_SECRET": "s"}).inbound.mappings[0].two_way is False
    (found,) = errors(BASE + "      two_way: sometimes\n")
    assert found.startswith("c.yaml:18: inbound.mappings[0].two_way: ")
    assert "boolean" in found


SECOND = """\
    - name: leads
      connection: dvv
      crm_table: lead
      resource: profile
      primary_key: {campaign: external_id}
"""


def test_a_mapping_in_error_is_left_out_and_the_others_still_checked() -> None:
    text = BASE.replace("      resource: profile\n", "", 1).replace(
        "primary_key: {campaign: external_id}", "primary_key: 5", 1
    )
    assert errors(text + SECOND) == [
        "c.yaml:10: inbound.mappings[0].resource: required, but missing",
        "c.yaml:13: inbound.mappings[0].primary_key: Input should be a valid dictionary or "
        "instance of PrimaryKey",
        "c.yaml:18: inbound.mappings[1].connection: unknown connection 'dvv' (did you mean 'dv'?)",
    ]
    report = check_config_text(text + SECOND, source="c.yaml", environ={})
    assert [(w.path, w.line) for w in report.warnings] == [("connections.dv.client_secret_env", 7)]


def test_paths_named_in_messages_are_the_file_s_own() -> None:
    text = BASE.replace("      crm_table: contact\n", "", 1)
    third = SECOND.replace("dvv", "dv").replace("lead", "account").replace("leads", "accounts")
    found = errors(text + SECOND.replace("dvv", "dv").replace("leads", "accounts") + third)
    assert found == [
        "c.yaml:10: inbound.mappings[0].crm_table: required, but missing",
        "c.yaml:22: inbound.mappings[2].name: mapping name 'accounts' is already used by "
        "inbound.mappings[1]",
        "c.yaml:25: inbound.mappings[2].resource: resource 'profile' is already mapped by "
        "inbound.mappings[1]",
    ]


def test_a_mapping_whose_field_is_in_error_is_left_out_whole() -> None:
    """Its replacements name its fields: leaving out only the field would report them."""
    text = BASE.replace("{crm: firstname, campaign: first_name}", "{crm: firstname}") + (
        "      replacements:\n        - {field: firstname, from: x, to: y}\n"
    )
    assert errors(text + SECOND) == [
        "c.yaml:17: inbound.mappings[0].fields[1].campaign: required, but missing",
        "c.yaml:21: inbound.mappings[1].connection: unknown connection 'dvv' (did you mean 'dv'?)",
    ]


def test_a_replacement_in_error_leaves_its_mapping_checked() -> None:
    text = BASE + (
        "      replacements:\n"
        "        - {field: firstname, from: x}\n"
        "        - {field: lastname, from: x, to: y}\n"
    )
    assert errors(text.replace("campaign: first_name", "campaign: frist_name")) == [
        "c.yaml:19: inbound.mappings[0].replacements[0].to: required, but missing",
        "c.yaml:17: inbound.mappings[0].fields[1].campaign: unknown field 'frist_name' of "
        "resource 'profile' (did you mean 'first_name'?)",
        "c.yaml:20: inbound.mappings[0].replacements[1].field: CRM field 'lastname' is not "
        "mapped in this mapping's fields (did you mean 'firstname'?)",
    ]


def test_an_opt_in_out_pair_in_error_is_left_out() -> None:
    text = BASE.replace("campaign: first_name", "campaign: optout_email") + (
        "optinout:\n"
        "  direction: crm_to_campaign\n"
        "  connection: dv\n"
        "  mappings:\n"
        "    - {campaign: optout_email}\n"
    )
    schema, overlap = errors(text)  # not "needs at least one mapping": the pair is in error
    assert schema == "c.yaml:22: optinout.mappings[0].crm: required, but missing"
    assert overlap.startswith("c.yaml:17: inbound.mappings[0].fields[1].campaign: ")
    assert "synced by the optinout workflow" in overlap
