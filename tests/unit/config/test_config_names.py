"""CRM table and field names: one rule (``CrmName``) wherever the configuration names one."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from crmsync.config import check_config_text
from crmsync.config.names import crm_name_problem
from crmsync.state import ensure_store_schema
from crmsync.store import create_engine_for
from crmsync.store.names import OWN_TABLES
from crmsync.store.registry import registry_table

HOSTILE = [
    "",
    "donotemail'",
    'donotemail"',
    "donotemail OR 1=1",
    "x' OR '1'='1",
    "donot\x00email",
    "donot\nemail",
    "donotemail\n",
    "../contact",
    "contact/../../etc",
    "a.b",
    "a-b",
    "1field",
    "é",
    "a" * 129,
    "crmsync_optout_outbox",
    "CRMSYNC_USERS",
    "crmsync_config_revisions",
]
FINE = [
    "donotemail",
    "_parentcustomerid_value",
    "new_plan",
    "HasOptedOutOfEmail",
    "Plan__c",
    "ns__Plan__c",
    "crmsync_eventid",
    "a" * 128,
]

BASE = """\
connections:
  dv: {kind: dataverse, url: "https://org.crm.dynamics.com", tenant_id: t, client_id: c,
       client_secret_env: S}
inbound:
  mappings:
    - name: contacts
      connection: dv
      crm_table: contact
      resource: profile
      primary_key: {crm: contactid, campaign: external_id}
      fields: [{crm: emailaddress1, campaign: email}]
      replacements: [{field: emailaddress1, from: a, to: b}]
      filters: {conditions: [{field: statecode, op: eq, value: 0}]}
outbound:
  connection: dv
  tables: {send: crmsync_emailsend}
  fields: {send: {name: crmsync_name}}
optinout:
  direction: bidirectional
  connection: dv
  crm_table: contact
  mappings: [{crm: donotemail, campaign: optout_email}]
"""
#: Every place of the file that names a CRM table or field: the text before it and its value.
PLACES = {
    "inbound.mappings[0].crm_table": ("      crm_table: ", "contact\n      resource"),
    "inbound.mappings[0].primary_key.crm": ("{crm: ", "contactid"),
    "inbound.mappings[0].fields[0].crm": ("fields: [{crm: ", "emailaddress1"),
    "inbound.mappings[0].replacements[0].field": ("[{field: ", "emailaddress1"),
    "inbound.mappings[0].filters.conditions[0].field": ("[{field: ", "statecode"),
    "outbound.tables.send": ("send: ", "crmsync_emailsend"),
    "outbound.fields.send.name": ("name: ", "crmsync_name"),
    "optinout.crm_table": ("  crm_table: ", "contact\n  mappings"),
    "optinout.mappings[0].crm": ("[{crm: ", "donotemail"),
}


def _with(place: str, name: str) -> str:
    before, value = PLACES[place]
    value, newline, rest = value.partition("\n")
    quoted = '"' + name.encode("unicode_escape").decode().replace('"', '\\"') + '"'
    assert BASE.count(before + value + newline + rest) == 1
    return BASE.replace(before + value + newline + rest, before + quoted + newline + rest)


def test_the_base_is_valid() -> None:
    report = check_config_text(BASE, environ={"S": "s"})
    assert report.ok, report.issues


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_names_are_refused(name: str) -> None:
    assert crm_name_problem(name) is not None


@pytest.mark.parametrize("name", FINE)
def test_dataverse_and_salesforce_names_are_accepted(name: str) -> None:
    assert crm_name_problem(name) is None


@pytest.mark.parametrize("place", sorted(PLACES))
@pytest.mark.parametrize("name", ["x' OR '1'='1", "donot\x00email", "../contact", "crmsync_users"])
def test_every_crm_name_of_the_file_is_checked_at_its_place(place: str, name: str) -> None:
    report = check_config_text(_with(place, name), source="c.yaml", environ={"S": "s"})
    assert [issue.path for issue in report.errors] == [place]
    (issue,) = report.errors
    assert issue.line is not None
    assert "CRM name" in issue.message


def test_every_table_of_crmsyncs_own_is_refused(tmp_path: Path) -> None:
    """``OWN_TABLES`` lists each table crmsync creates in a store (and the one an upgrade
    drops): its migrations' tables and the publish step's record."""
    engine = create_engine_for(f"sqlite:///{tmp_path / 'store.db'}")
    ensure_store_schema(engine)
    registry_table().create(engine)
    created = set(sa.inspect(engine).get_table_names())
    engine.dispose()
    assert created | {"crmsync_fingerprints"} == OWN_TABLES
    for name in OWN_TABLES:
        assert (
            crm_name_problem(name) == f"'{name}' is a table of crmsync's own store, not a CRM name"
        )
