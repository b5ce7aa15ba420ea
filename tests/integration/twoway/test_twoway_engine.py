"""SPEC §7 end to end: a two-way mapping of contacts, against either CRM's emulator over HTTPS,
on SQLite and PostgreSQL. Campaign edits made with the database's own client reach the CRM;
edits of different fields on each side both survive; the same field resolves by time; once both
sides agree nothing more is written to either."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from twoway_support import (
    ENV,
    Crm,
    config_text,
    contacts_mapping,
    edit,
    make_config,
    profiles,
    run_once,
    running_crm,
)
from typer.testing import CliRunner

from crmsync.cli.main import app
from crmsync.emulators.common.tls import TlsFiles


@pytest.fixture(params=["dataverse", "salesforce"])
def crm(request: pytest.FixtureRequest, tls: TlsFiles) -> Iterator[Crm]:
    with running_crm(request.param, tls, contacts=6) as running:
        yield running


async def test_an_sql_update_reaches_the_crm_and_then_nothing_moves(
    crm: Crm, tmp_path: Path, store_location: tuple[str, str | None]
) -> None:
    config = make_config(crm, tmp_path, store_location)
    await run_once(config)
    first, _, city = crm.fields
    record_id = sorted(await crm.records())[0]
    edit(config, record_id, city="Ghent", first_name="Zoë")
    await run_once(config)
    records = await crm.records()
    assert records[record_id][city] == "Ghent"
    assert records[record_id][first] == "Zoë"
    version = records[record_id]["@version"]
    others = {key: value for key, value in records.items() if key != record_id}
    # The write came back as a CRM change: merged, equal, nothing written to either side.
    await run_once(config)
    await run_once(config)
    again = await crm.records()
    assert again[record_id]["@version"] == version
    assert {key: value for key, value in again.items() if key != record_id} == others
    assert profiles(config)[record_id]["city"] == "Ghent"


async def test_different_fields_edited_on_each_side_both_survive(
    crm: Crm, tmp_path: Path, store_location: tuple[str, str | None]
) -> None:
    config = make_config(crm, tmp_path, store_location)
    await run_once(config)
    first, last, city = crm.fields
    record_id = sorted(await crm.records())[1]
    edit(config, record_id, city="Leuven")
    await crm.update(record_id, **{last: "Peeters"})
    await run_once(config)
    record = (await crm.records())[record_id]
    row = profiles(config)[record_id]
    assert (record[city], record[last]) == ("Leuven", "Peeters")
    assert (row["city"], row["last_name"]) == ("Leuven", "Peeters")
    assert row["first_name"] == record[first]


async def test_the_same_field_edited_on_both_sides_goes_to_the_newer_edit(
    crm: Crm, tmp_path: Path, store_location: tuple[str, str | None]
) -> None:
    config = make_config(crm, tmp_path, store_location)
    await run_once(config)
    _, _, city = crm.fields
    ids = sorted(await crm.records())
    campaign_newer, crm_newer = ids[2], ids[3]
    # CRM first, then Campaign: the Campaign edit is newer.
    await crm.update(campaign_newer, **{city: "From CRM"})
    await asyncio.sleep(1.1)  # Salesforce keeps whole seconds of a record's change time
    edit(config, campaign_newer, city="From Campaign")
    # Campaign first, then CRM: the CRM edit is newer.
    edit(config, crm_newer, city="Mine")
    await asyncio.sleep(1.1)
    await crm.update(crm_newer, **{city: "Theirs"})
    await run_once(config)
    records, rows = await crm.records(), profiles(config)
    assert records[campaign_newer][city] == rows[campaign_newer]["city"] == "From Campaign"
    assert records[crm_newer][city] == rows[crm_newer]["city"] == "Theirs"


async def test_a_job_update_step_is_a_campaign_edit_that_reaches_the_crm(
    crm: Crm, tmp_path: Path, store_location: tuple[str, str | None]
) -> None:
    path = tmp_path / "crmsync.yaml"
    path.write_text(config_text(crm, tmp_path, store_location), encoding="utf-8")
    config = make_config(crm, tmp_path, store_location)
    await run_once(config)
    _, last, city = crm.fields
    record_id = sorted(await crm.records())[4]
    job = tmp_path / "copy-names.yaml"
    job.write_text(
        "version: 1\n"
        "name: copy-names\n"
        "steps:\n"
        "  select:\n"
        "    kind: campaign_query\n"
        "    resource: profile\n"
        "    fields: [external_id, last_name]\n"
        f"    filter: [{{field: external_id, op: eq, value: '{record_id}'}}]\n"
        "    next: update\n"
        "  update:\n"
        "    kind: update_campaign\n"
        "    resource: profile\n"
        "    key: external_id\n"
        "    fields: {external_id: external_id, city: last_name}\n",
        encoding="utf-8",
    )
    # (The command runs its own event loop: in a thread of its own.)
    done = await asyncio.to_thread(
        CliRunner().invoke, app, ["job", "run", str(job), "-c", str(path)], env=ENV
    )
    assert done.exit_code == 0, done.stdout + done.stderr
    await run_once(config)
    record = (await crm.records())[record_id]
    assert record[city] == record[last]


async def test_a_mapping_turned_two_way_sends_the_next_campaign_edit(
    crm: Crm, tmp_path: Path, store_location: tuple[str, str | None]
) -> None:
    one_way = make_config(crm, tmp_path, store_location, contacts_mapping(crm, two_way=False))
    await run_once(one_way)
    config = make_config(crm, tmp_path, store_location)
    await run_once(config)  # the rows Campaign holds get their values as their base
    _, _, city = crm.fields
    record_id = sorted(await crm.records())[5]
    edit(config, record_id, city="Aalst")
    await run_once(config)
    assert (await crm.records())[record_id][city] == "Aalst"
    assert profiles(config)[record_id]["city"] == "Aalst"
