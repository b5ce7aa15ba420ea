"""The reverse direction of each mapping setting (docs/two-way.md), end to end on either CRM and
both stores: replacements map back through their inverse, display labels of a custom resource's
picklist back to their value; a field whose updates are off is not sent; a Campaign row no CRM
record owns and a Campaign delete are never sent."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from twoway_support import Crm, contacts_mapping, edit, make_config, run_once, running_crm, sql

from crmsync.connectors.base import WriteOp
from crmsync.emulators.common.tls import TlsFiles
from crmsync.store import create_engine_for


@pytest.fixture(params=["dataverse", "salesforce"])
def crm(request: pytest.FixtureRequest, tls: TlsFiles) -> Iterator[Crm]:
    extra = {"seed_subscriptions": 4} if request.param == "salesforce" else {}
    with running_crm(request.param, tls, contacts=4, **extra) as running:
        yield running


async def test_replacements_go_back_and_insert_only_fields_stay(
    crm: Crm, tmp_path: Path, store_location: tuple[str, str | None]
) -> None:
    first, last, city = crm.fields
    mapping = contacts_mapping(crm).replace(
        f"{{crm: {first}, campaign: first_name}}",
        f"{{crm: {first}, campaign: first_name, apply_updates: false}}",
    ) + (f"    replacements:\n      - {{field: {city}, from: NYC, to: New York}}\n")
    config = make_config(crm, tmp_path, store_location, mapping)
    await run_once(config)
    record_id = sorted(await crm.records())[0]
    before = (await crm.records())[record_id]
    edit(config, record_id, city="New York", first_name="Only in Campaign")
    await run_once(config)
    after = (await crm.records())[record_id]
    assert after[city] == "NYC"  # the replacement's inverse
    assert after[first] == before[first]  # insert-only: Campaign owns it after the first load
    assert after[last] == before[last]


async def test_rows_without_a_crm_id_and_deletes_are_not_sent(
    crm: Crm, tmp_path: Path, store_location: tuple[str, str | None]
) -> None:
    config = make_config(crm, tmp_path, store_location)
    await run_once(config)
    before = await crm.records()
    victim = sorted(before)[0]
    sql(
        config,
        "INSERT INTO profile (first_name, last_name, city, created_at, modified_at)"
        " VALUES ('No', 'Owner', 'X', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
    )
    sql(config, f"DELETE FROM profile WHERE external_id = '{victim}'")  # noqa: S608 - an id
    await run_once(config)
    assert await crm.records() == before


SUBSCRIPTION = """
  - name: subscription
    identifier: crm_id
    fields:
      - {name: crm_id, type: string, length: 36}
      - {name: name, type: string, length: 100}
      - {name: plan, type: string, length: 64}
"""

#: Per CRM: the subscription table, its name and plan fields, and a label and its value.
SUBSCRIPTIONS = {
    "dataverse": ("crmsync_subscription", "crmsync_name", "crmsync_plan", "Premium", 100000002),
    "salesforce": ("Subscription__c", "Name", "Plan__c", "Premium plan", "Premium"),
}


async def test_a_display_label_of_a_custom_resource_goes_back_as_its_value(
    crm: Crm, tmp_path: Path, store_location: tuple[str, str | None]
) -> None:
    table, name, plan, label, value = SUBSCRIPTIONS[crm.kind]
    mapping = f"""
  - name: subscriptions
    connection: crm
    crm_table: {table}
    resource: subscription
    primary_key: {{campaign: crm_id}}
    picklist_values: display
    two_way: true
    fields:
      - {{crm: {name}, campaign: name}}
      - {{crm: {plan}, campaign: plan}}
"""
    config = make_config(crm, tmp_path, store_location, mapping, SUBSCRIPTION)
    await run_once(config)
    rows = _subscriptions(config)
    record_id = next(key for key, row in rows.items() if row["plan"] != label)
    engine = create_engine_for(config.store.url, schema=config.store.pg_schema)
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.text("UPDATE subscription SET plan = :plan, name = :name WHERE crm_id = :id"),
                {"plan": label, "name": "Renamed", "id": record_id},
            )
    finally:
        engine.dispose()
    await run_once(config)
    async with crm.connector() as connector:
        found = {
            record.id: record.values
            async for page in connector.read_all(table, [name, plan])
            for record in page
        }
    assert (found[record_id][plan], found[record_id][name]) == (value, "Renamed")
    # Written to the CRM and back: the label is still what Campaign holds.
    assert _subscriptions(config)[record_id]["plan"] == label
    async with crm.connector() as connector:
        [done] = await connector.write([WriteOp("update", table, {name: "Back"}, id=record_id)])
    assert done.ok
    await run_once(config)
    assert _subscriptions(config)[record_id]["name"] == "Back"


def _subscriptions(config: Any) -> dict[str, dict[str, Any]]:
    engine = create_engine_for(config.store.url, schema=config.store.pg_schema)
    try:
        table = sa.Table("subscription", sa.MetaData(), autoload_with=engine)
        with engine.connect() as conn:
            return {row["crm_id"]: dict(row) for row in conn.execute(sa.select(table)).mappings()}
    finally:
        engine.dispose()
