"""Every table-mapping behaviour of SPEC §3 through the inbound engine, against the Dataverse
emulator over HTTPS: apply updates, replacements, filters, deletes, picklists, ownership."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from inbound_support import (
    ENV,
    SUBSCRIPTION_RESOURCE,
    SUBSCRIPTIONS_MAPPING,
    Crm,
    make_config,
    run_once,
    running_crm,
    store_rows,
    sync_state,
)

from crmsync.config.errors import ConfigError
from crmsync.connectors.base import WriteOp
from crmsync.emulators.common.tls import TlsFiles, generate
from crmsync.store import create_engine_for
from crmsync.sync.replay import request_replay

FIELDS = ("firstname", "lastname", "emailaddress1", "address1_city", "gendercode")


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return generate([]).write(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def crm(tls: TlsFiles) -> Iterator[Crm]:
    with running_crm(tls, contacts=30) as running:
        yield running


def contacts_mapping(extra: str = "", fields: str = "") -> str:
    return f"""
  - name: contacts
    connection: dynamics
    crm_table: contact
    resource: profile
    primary_key: {{campaign: external_id}}
    fields:
      - {{crm: firstname, campaign: first_name}}
      - {{crm: address1_city, campaign: city}}
{fields}{extra}"""


async def test_apply_updates_off_writes_on_insert_and_replay_only(crm: Crm, tmp_path: Path) -> None:
    config = make_config(
        crm,
        tmp_path,
        contacts_mapping(
            fields="      - {crm: lastname, campaign: last_name, apply_updates: false}\n"
        ),
    )
    await run_once(config)
    target = sorted(await crm.rows("contact", FIELDS))[0]
    await crm.write(
        WriteOp("update", "contact", {"lastname": "Changed", "firstname": "Newfirst"}, id=target)
    )
    await run_once(config)
    row = store_rows(config, "profile", "external_id")[target]
    assert row["first_name"] == "Newfirst"
    assert row["last_name"] != "Changed"

    await request_replay(config, "contacts", limit_backlog=10_000, limit_rows=10_000, environ=ENV)
    summary = await run_once(config)
    assert summary.replays == ["contacts"]
    assert store_rows(config, "profile", "external_id")[target]["last_name"] == "Changed"


async def test_replacements_write_the_new_value(crm: Crm, tmp_path: Path) -> None:
    target = sorted(await crm.rows("contact", FIELDS))[0]
    await crm.write(WriteOp("update", "contact", {"address1_city": "Gbg"}, id=target))
    extra = '    replacements:\n      - {field: address1_city, from: "Gbg", to: "Gothenburg"}\n'
    config = make_config(crm, tmp_path, contacts_mapping(extra))
    await run_once(config)
    assert store_rows(config, "profile", "external_id")[target]["city"] == "Gothenburg"


def _filters(combine: str, delete_filtered_out: bool) -> str:
    return (
        "    filters:\n"
        f"      combine: {combine}\n"
        "      conditions:\n"
        '        - {field: address1_city, op: eq, value: "Keep"}\n'
        '        - {field: firstname, op: eq, value: "Keeper"}\n'
        f"    delete_filtered_out: {str(delete_filtered_out).lower()}\n"
    )


@pytest.mark.parametrize("delete_filtered_out", [True, False])
async def test_and_filter_and_leaving_it(
    crm: Crm, tmp_path: Path, delete_filtered_out: bool
) -> None:
    ids = sorted(await crm.rows("contact", FIELDS))
    both, city_only = ids[0], ids[1]
    await crm.write(
        WriteOp("update", "contact", {"address1_city": "Keep", "firstname": "Keeper"}, id=both),
        WriteOp("update", "contact", {"address1_city": "Keep", "firstname": "Other"}, id=city_only),
    )
    config = make_config(crm, tmp_path, contacts_mapping(_filters("and", delete_filtered_out)))
    summary = await run_once(config)
    assert set(store_rows(config, "profile", "external_id")) == {both}
    assert summary.counters["contacts"].filtered == len(ids) - 1

    await crm.write(WriteOp("update", "contact", {"firstname": "Gone"}, id=both))
    await run_once(config)
    stored = store_rows(config, "profile", "external_id")
    assert (both in stored) is not delete_filtered_out
    if not delete_filtered_out:
        assert stored[both]["first_name"] == "Keeper"  # it stays as it was


async def test_or_filter_takes_either(crm: Crm, tmp_path: Path) -> None:
    ids = sorted(await crm.rows("contact", FIELDS))
    await crm.write(
        WriteOp("update", "contact", {"address1_city": "Keep"}, id=ids[0]),
        WriteOp("update", "contact", {"firstname": "Keeper"}, id=ids[1]),
    )
    config = make_config(crm, tmp_path, contacts_mapping(_filters("or", True)))
    await run_once(config)
    assert set(store_rows(config, "profile", "external_id")) == {ids[0], ids[1]}


@pytest.mark.parametrize("apply_deletes", [True, False])
async def test_apply_deletes(crm: Crm, tmp_path: Path, apply_deletes: bool) -> None:
    extra = f"    apply_deletes: {str(apply_deletes).lower()}\n"
    config = make_config(crm, tmp_path, contacts_mapping(extra))
    await run_once(config)
    victim = sorted(await crm.rows("contact", FIELDS))[3]
    await crm.write(WriteOp("delete", "contact", id=victim))
    summary = await run_once(config)
    assert (victim in store_rows(config, "profile", "external_id")) is not apply_deletes
    assert summary.counters["contacts"].deleted == int(apply_deletes)


@pytest.mark.parametrize(("mode", "expected"), [("technical", "100000002"), ("display", "Premium")])
async def test_picklist_technical_or_display(
    crm: Crm, tmp_path: Path, mode: str, expected: str
) -> None:
    subs = await crm.rows("crmsync_subscription", ("crmsync_plan",))
    target = sorted(subs)[0]
    await crm.write(
        WriteOp("update", "crmsync_subscription", {"crmsync_plan": 100000002}, id=target)
    )
    contacts = contacts_mapping()
    mapping = SUBSCRIPTIONS_MAPPING + f"    picklist_values: {mode}\n"
    config = make_config(crm, tmp_path, contacts + mapping, SUBSCRIPTION_RESOURCE)
    await run_once(config)
    assert store_rows(config, "subscription", "crm_id")[target]["plan"] == expected


async def test_records_without_a_crm_id_are_never_touched(crm: Crm, tmp_path: Path) -> None:
    config = make_config(crm, tmp_path, contacts_mapping())
    await run_once(config)
    engine = create_engine_for(config.store.url)
    profile = sa.Table("profile", sa.MetaData(), autoload_with=engine)
    with engine.begin() as conn:
        now = datetime.now(UTC)
        conn.execute(
            sa.insert(profile).values(
                first_name="Local", city="Nowhere", origin="api", created_at=now, modified_at=now
            )
        )
    engine.dispose()
    # A replay reconciles by key set: the local row is not in the CRM, and must stay.
    await request_replay(config, "contacts", limit_backlog=10_000, limit_rows=10_000, environ=ENV)
    await run_once(config)
    local = [
        r for r in store_rows(config, "profile", "external_id").values() if r["origin"] == "api"
    ]
    assert [(r["first_name"], r["city"], r["external_id"]) for r in local] == [
        ("Local", "Nowhere", None)
    ]


async def test_a_bad_mapping_is_refused_before_anything_is_written(
    crm: Crm, tmp_path: Path
) -> None:
    good = make_config(crm, tmp_path, contacts_mapping())
    await run_once(good)
    before = store_rows(good, "profile", "external_id")
    await crm.write(WriteOp("update", "contact", {"firstname": "Later"}, id=sorted(before)[0]))
    bad = make_config(
        crm, tmp_path, contacts_mapping(fields="      - {crm: nosuchfield, campaign: last_name}\n")
    )
    with pytest.raises(ConfigError, match="nosuchfield"):
        await run_once(bad)
    assert store_rows(good, "profile", "external_id") == before
    assert sync_state(good).counters.by_mapping()["contacts"].read == len(before)
