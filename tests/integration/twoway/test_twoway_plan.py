"""The plan of a two-way mapping's next merge, against either CRM's emulator over HTTPS, on SQLite
and PostgreSQL: edits made on both sides while inbound is stopped appear on the side they are
written to, with their conflicts; planning writes nothing to the store (every table, crmsync's
own included, row for row) nor to the CRM (every record's version); the run that follows does
what the plan said."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from twoway_support import (
    ENV,
    Crm,
    contacts_mapping,
    edit,
    make_config,
    profiles,
    run_once,
    running_crm,
    sql,
)

from crmsync.config.models import Config
from crmsync.connectors.base import WriteOp
from crmsync.emulators.common.tls import TlsFiles
from crmsync.errors import ConfigurationError
from crmsync.store import create_engine_for
from crmsync.twoway.conflicts import list_conflicts
from crmsync.twoway.plan import MergePlan, plan_mapping
from crmsync.twoway.tables import CHANGES

FIXTURES = Path(__file__).parents[2] / "fixtures"


@pytest.fixture(params=["dataverse", "salesforce"])
def crm(request: pytest.FixtureRequest, tls: TlsFiles) -> Iterator[Crm]:
    with running_crm(request.param, tls, contacts=6) as running:
        yield running


def dump(config: Config) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table of the store, table by table, in a stable order."""
    engine = create_engine_for(config.store.url, schema=config.store.pg_schema)
    try:
        metadata = sa.MetaData()
        metadata.reflect(engine)
        with engine.connect() as conn:
            return {
                name: sorted(
                    (tuple(row) for row in conn.execute(sa.select(table))),
                    key=repr,
                )
                for name, table in metadata.tables.items()
            }
    finally:
        engine.dispose()


def log_ids(config: Config) -> list[int | None]:
    engine = create_engine_for(config.store.url, schema=config.store.pg_schema)
    try:
        with engine.connect() as conn:
            return list(conn.execute(sa.select(CHANGES.c.id).order_by(CHANGES.c.entry)).scalars())
    finally:
        engine.dispose()


def conflicts(config: Config) -> set[tuple[str, str, str, str]]:
    engine = create_engine_for(config.store.url, schema=config.store.pg_schema)
    try:
        with engine.connect() as conn:
            return {
                (c.record_key, c.field, c.winner, c.reason)
                for c in list_conflicts(conn, "contacts", limit=1000)
            }
    finally:
        engine.dispose()


def planned(plan: MergePlan, direction: str) -> dict[str, dict[str, Any]]:
    """A direction's records by key, as JSON."""
    document = plan.as_dict()[direction]
    return {record["key"]: record for record in document["records"]}


def planned_conflicts(plan: MergePlan) -> set[tuple[str, str, str, str]]:
    return {
        (record["key"], c["field"], c["winner"], c["reason"])
        for direction in ("campaign_to_crm", "crm_to_campaign")
        for record in planned(plan, direction).values()
        for c in record["conflicts"]
    }


async def test_edits_made_during_a_pause_are_planned_nothing_is_written_and_the_run_does_it(
    crm: Crm, tmp_path: Path, store_location: tuple[str, str | None]
) -> None:
    config = make_config(crm, tmp_path, store_location)
    await run_once(config)
    first, last, city = crm.fields
    campaign_only, crm_only, campaign_newer, crm_newer, deleted = sorted(await crm.records())[:5]
    # Inbound is stopped: edits on both sides wait.
    async with crm.connector() as connector:
        [removed] = await connector.write([WriteOp("delete", crm.table, id=deleted)])
    assert removed.ok, removed
    edit(config, campaign_only, city="Ghent")
    await crm.update(crm_only, **{last: "Peeters"})
    edit(config, crm_newer, city="Mine")
    await crm.update(campaign_newer, **{city: "From CRM"})
    await asyncio.sleep(1.1)  # Salesforce keeps whole seconds of a record's change time
    await crm.update(crm_newer, **{city: "Theirs"})
    await asyncio.sleep(1.1)
    edit(config, campaign_newer, city="From Campaign")
    rows = profiles(config)

    before, records_before, ids_before = dump(config), await crm.records(), log_ids(config)
    plan = await plan_mapping(config, "contacts", environ=ENV)
    # Nothing written: no store row (log ids still unnumbered, cursor still), no CRM record.
    assert dump(config) == before
    assert log_ids(config) == ids_before
    assert ids_before
    assert all(entry is None for entry in ids_before)
    assert await crm.records() == records_before

    assert plan.crm_read == "changes"
    assert plan.note is None
    counts = plan.as_dict()["counts"]
    assert (counts["pending_edits"], counts["crm_changes"]) == (3, 1)
    assert (counts["rejected"], counts["skipped"], counts["new_records"]) == (0, 0, 0)
    assert counts["deleted"] == 1
    to_crm, to_campaign = planned(plan, "campaign_to_crm"), planned(plan, "crm_to_campaign")
    assert set(to_crm) == {campaign_only, campaign_newer}
    assert set(to_campaign) == {crm_only, crm_newer}
    assert to_crm[campaign_only]["fields"] == {
        "city": {
            "from": records_before[campaign_only][city],
            "to": "Ghent",
            "crm_field": city,
            "crm_value": "Ghent",
        }
    }
    assert to_crm[campaign_only]["conflicts"] == []
    assert to_crm[campaign_newer]["fields"]["city"]["to"] == "From Campaign"
    won = to_crm[campaign_newer]["conflicts"]
    assert [(c["field"], c["winner"], c["reason"]) for c in won] == [
        ("city", "campaign", "campaign_newer")
    ]
    assert to_crm[campaign_newer]["conflicts"][0]["crm_value"] == "From CRM"
    assert to_campaign[crm_only] == {
        "key": crm_only,
        "found_by": "crm",
        "fields": {
            "last_name": {"from": rows[crm_only]["last_name"], "to": "Peeters", "crm_field": last}
        },
        "conflicts": [],
    }
    assert to_campaign[crm_newer]["found_by"] == "campaign"
    assert to_campaign[crm_newer]["fields"]["city"] == {
        "from": "Mine",
        "to": "Theirs",
        "crm_field": city,
    }
    assert [c["winner"] for c in to_campaign[crm_newer]["conflicts"]] == ["crm"]
    assert plan.campaign_to_crm.field_count == 2
    assert plan.crm_to_campaign.conflict_count == 1

    await run_once(config)
    records, rows = await crm.records(), profiles(config)
    for key, record in to_crm.items():
        for change in record["fields"].values():
            assert records[key][change["crm_field"]] == change["crm_value"]
    for key, record in to_campaign.items():
        for name, change in record["fields"].items():
            assert rows[key][name] == change["to"]
    assert rows[campaign_only]["first_name"] == records[campaign_only][first]
    assert conflicts(config) == planned_conflicts(plan)
    assert deleted not in rows

    # Both sides agree now: the next merge has nothing to write.
    again = await plan_mapping(config, "contacts", environ=ENV)
    assert again.campaign_to_crm.record_count == again.crm_to_campaign.record_count == 0
    assert again.reject_count == 0


async def test_a_mapping_never_run_is_planned_from_a_full_read(
    crm: Crm, tmp_path: Path, store_location: tuple[str, str | None]
) -> None:
    # Another mapping, one-way, loaded the rows; the two-way one has never run: no cursor.
    imported = contacts_mapping(crm, two_way=False).replace("name: contacts", "name: imported")
    await run_once(make_config(crm, tmp_path, store_location, imported))
    config = make_config(crm, tmp_path, store_location)
    changed, gone = sorted(await crm.records())[:2]
    # No capture yet (no two-way run): plain edits, no log rows.
    edit(config, changed, city="Elsewhere")
    sql(config, f"DELETE FROM profile WHERE external_id = '{gone}'")  # noqa: S608 - test id
    records = await crm.records()
    before = dump(config)

    plan = await plan_mapping(config, "contacts", environ=ENV)
    assert dump(config) == before
    assert plan.crm_read == "full"
    assert "in full" in (plan.note or "")
    counts = plan.as_dict()["counts"]
    assert (counts["pending_edits"], counts["new_records"]) == (0, 1)
    assert counts["unchanged"] == len(records) - 2
    to_campaign = planned(plan, "crm_to_campaign")
    assert list(to_campaign) == [changed]
    _, _, city = crm.fields
    assert to_campaign[changed]["fields"]["city"]["to"] == records[changed][city]
    # The run's start gives the rows their current values as a base: the CRM's differing value
    # is a CRM change, not a conflict.
    assert to_campaign[changed]["conflicts"] == []
    assert plan.campaign_to_crm.record_count == 0

    await run_once(config)
    rows = profiles(config)
    assert rows[changed]["city"] == records[changed][city]
    assert gone in rows
    assert conflicts(config) == planned_conflicts(plan)


async def test_unknown_and_one_way_mappings_and_a_missing_store_are_refused(
    tls: TlsFiles, tmp_path: Path
) -> None:
    with running_crm("dataverse", tls, contacts=1) as crm:
        store = (f"sqlite:///{tmp_path / 'store.db'}", None)
        config = make_config(crm, tmp_path, store)
        with pytest.raises(ConfigurationError) as missing:
            await plan_mapping(config, "contacts", environ=ENV)
        assert missing.value.code == "STORE_NOT_READY"
        assert "start inbound once" in missing.value.message
        assert not (tmp_path / "store.db").exists()
        with pytest.raises(ConfigurationError) as unknown:
            await plan_mapping(config, "nope", environ=ENV)
        assert unknown.value.code == "UNKNOWN_MAPPING"
        assert "(mappings: contacts)" in unknown.value.message
        one_way = make_config(crm, tmp_path, store, contacts_mapping(crm, two_way=False))
        with pytest.raises(ConfigurationError) as refused:
            await plan_mapping(one_way, "contacts", environ=ENV)
        assert refused.value.code == "NOT_TWO_WAY"
        # A store made by an older crmsync: refused, not upgraded.
        old = tmp_path / "old.db"
        shutil.copyfile(FIXTURES / "store-before-versions.sqlite", old)
        before = old.read_bytes()
        older = make_config(crm, tmp_path, (f"sqlite:///{old}", None))
        with pytest.raises(ConfigurationError) as upgrade:
            await plan_mapping(older, "contacts", environ=ENV)
        assert upgrade.value.code == "STORE_NOT_READY"
        assert "run `crmsync store upgrade`" in upgrade.value.message
        assert old.read_bytes() == before
