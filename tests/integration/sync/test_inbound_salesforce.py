"""SPEC §3 with Salesforce as the CRM: the inbound engine against the Salesforce emulator over
HTTPS: Contact → profile, ``Subscription__c`` → a custom resource linked to its profile, filters,
replacements, picklist API values or labels, deletes, ownership."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from inbound_salesforce_support import (
    CONTACTS_MAPPING,
    ENV,
    SUBSCRIPTION_RESOURCE,
    SUBSCRIPTIONS_MAPPING,
    SfCrm,
    contacts_mapping,
    make_config,
    running_salesforce,
    whole_second,
)
from inbound_support import run_once, store_rows

from crmsync.connectors.base import WriteOp
from crmsync.emulators.common.tls import TlsFiles, generate
from crmsync.store import create_engine_for
from crmsync.sync.replay import request_replay

FIELDS = ("FirstName", "LastName", "MailingCity")


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return generate([]).write(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def crm(tls: TlsFiles) -> Iterator[SfCrm]:
    with running_salesforce(tls, contacts=30, subscriptions=12) as running:
        yield running


async def test_contacts_and_subscriptions_load_then_follow_changes(
    crm: SfCrm, tmp_path: Path
) -> None:
    config = make_config(
        crm, tmp_path, CONTACTS_MAPPING + SUBSCRIPTIONS_MAPPING, SUBSCRIPTION_RESOURCE
    )
    summary = await run_once(config)
    contacts = await crm.rows("Contact", FIELDS)
    subs = await crm.rows("Subscription__c", ("Name", "Contact__c", "Plan__c"))
    profiles = store_rows(config, "profile", "external_id")
    assert set(profiles) == set(contacts)
    for record_id, values in contacts.items():
        row = profiles[record_id]
        assert (row["first_name"], row["last_name"], row["city"]) == (
            values["FirstName"],
            values["LastName"],
            values["MailingCity"],
        )
        assert row["origin"] == "crm:org"
    stored_subs = store_rows(config, "subscription", "crm_id")
    assert {k: (r["name"], r["contact_id"]) for k, r in stored_subs.items()} == {
        k: (v["Name"], v["Contact__c"]) for k, v in subs.items()
    }
    assert summary.counters["contacts"].inserted == len(contacts)
    assert summary.counters["contacts"].crm_calls > 0

    first = sorted(contacts)[0]
    [created] = await crm.write(
        WriteOp("create", "Contact", {"FirstName": "Nova", "LastName": "Quinn"})
    )
    await crm.write(WriteOp("update", "Contact", {"MailingCity": "Malmö"}, id=first))
    summary = await run_once(config)
    profiles = store_rows(config, "profile", "external_id")
    assert profiles[first]["city"] == "Malmö"
    assert (profiles[created]["first_name"], profiles[created]["last_name"]) == ("Nova", "Quinn")
    counts = summary.counters["contacts"]
    assert (counts.inserted, counts.updated) == (1, 1)  # this run's alone

    # A round with nothing new changes nothing and writes nothing.
    again = await run_once(config)
    assert again.counters["contacts"].campaign_writes == 0


async def test_replacements_write_the_new_value(crm: SfCrm, tmp_path: Path) -> None:
    target = sorted(await crm.rows("Contact", FIELDS))[0]
    await crm.write(WriteOp("update", "Contact", {"MailingCity": "Gbg"}, id=target))
    extra = '    replacements:\n      - {field: MailingCity, from: "Gbg", to: "Gothenburg"}\n'
    config = make_config(crm, tmp_path, contacts_mapping(extra))
    await run_once(config)
    assert store_rows(config, "profile", "external_id")[target]["city"] == "Gothenburg"


def _filters(combine: str, delete_filtered_out: bool) -> str:
    return (
        "    filters:\n"
        f"      combine: {combine}\n"
        "      conditions:\n"
        '        - {field: MailingCity, op: eq, value: "Keep"}\n'
        '        - {field: FirstName, op: eq, value: "Keeper"}\n'
        f"    delete_filtered_out: {str(delete_filtered_out).lower()}\n"
    )


@pytest.mark.parametrize("delete_filtered_out", [True, False])
async def test_and_filter_and_leaving_it(
    crm: SfCrm, tmp_path: Path, delete_filtered_out: bool
) -> None:
    ids = sorted(await crm.rows("Contact", FIELDS))
    both, city_only = ids[0], ids[1]
    await crm.write(
        WriteOp("update", "Contact", {"MailingCity": "Keep", "FirstName": "Keeper"}, id=both),
        WriteOp("update", "Contact", {"MailingCity": "Keep", "FirstName": "Other"}, id=city_only),
    )
    config = make_config(crm, tmp_path, contacts_mapping(_filters("and", delete_filtered_out)))
    summary = await run_once(config)
    assert set(store_rows(config, "profile", "external_id")) == {both}
    assert summary.counters["contacts"].filtered == len(ids) - 1

    # Salesforce stamps whole seconds: the change must not share the stamp of the one read
    # already (the limit the expected failure below shows).
    crm.emulator.clock.advance(1)
    await crm.write(WriteOp("update", "Contact", {"FirstName": "Gone"}, id=both))
    await run_once(config)
    stored = store_rows(config, "profile", "external_id")
    assert (both in stored) is not delete_filtered_out
    if not delete_filtered_out:
        assert stored[both]["first_name"] == "Keeper"


async def test_or_filter_takes_either(crm: SfCrm, tmp_path: Path) -> None:
    ids = sorted(await crm.rows("Contact", FIELDS))
    await crm.write(
        WriteOp("update", "Contact", {"MailingCity": "Keep"}, id=ids[0]),
        WriteOp("update", "Contact", {"FirstName": "Keeper"}, id=ids[1]),
    )
    config = make_config(crm, tmp_path, contacts_mapping(_filters("or", True)))
    await run_once(config)
    assert set(store_rows(config, "profile", "external_id")) == {ids[0], ids[1]}


@pytest.mark.parametrize("apply_deletes", [True, False])
async def test_apply_deletes(crm: SfCrm, tmp_path: Path, apply_deletes: bool) -> None:
    extra = f"    apply_deletes: {str(apply_deletes).lower()}\n"
    config = make_config(crm, tmp_path, contacts_mapping(extra))
    await run_once(config)
    victim = sorted(await crm.rows("Contact", FIELDS))[3]
    await crm.write(WriteOp("delete", "Contact", id=victim))
    summary = await run_once(config)
    assert (victim in store_rows(config, "profile", "external_id")) is not apply_deletes
    assert summary.counters["contacts"].deleted == int(apply_deletes)


@pytest.mark.parametrize(
    ("mode", "expected"), [("technical", "Premium"), ("display", "Premium plan")]
)
async def test_picklist_api_value_or_label(
    crm: SfCrm, tmp_path: Path, mode: str, expected: str
) -> None:
    target = sorted(await crm.rows("Subscription__c", ("Plan__c",)))[0]
    await crm.write(WriteOp("update", "Subscription__c", {"Plan__c": "Premium"}, id=target))
    mapping = SUBSCRIPTIONS_MAPPING + f"    picklist_values: {mode}\n"
    config = make_config(crm, tmp_path, CONTACTS_MAPPING + mapping, SUBSCRIPTION_RESOURCE)
    await run_once(config)
    assert store_rows(config, "subscription", "crm_id")[target]["plan"] == expected


async def test_a_picklist_replacement_matches_the_api_value(crm: SfCrm, tmp_path: Path) -> None:
    target = sorted(await crm.rows("Subscription__c", ("Plan__c",)))[0]
    await crm.write(WriteOp("update", "Subscription__c", {"Plan__c": "Free"}, id=target))
    mapping = (
        SUBSCRIPTIONS_MAPPING
        + '    replacements:\n      - {field: Plan__c, from: "Free", to: "Trial"}\n'
    )
    config = make_config(crm, tmp_path, CONTACTS_MAPPING + mapping, SUBSCRIPTION_RESOURCE)
    await run_once(config)
    assert store_rows(config, "subscription", "crm_id")[target]["plan"] == "Trial"


async def test_records_without_a_crm_id_are_never_touched(crm: SfCrm, tmp_path: Path) -> None:
    config = make_config(crm, tmp_path, CONTACTS_MAPPING)
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
    await request_replay(config, "contacts", limit_backlog=10_000, limit_rows=10_000, environ=ENV)
    summary = await run_once(config)
    assert summary.replays == ["contacts"]
    local = [
        r for r in store_rows(config, "profile", "external_id").values() if r["origin"] == "api"
    ]
    assert [(r["first_name"], r["city"], r["external_id"]) for r in local] == [
        ("Local", "Nowhere", None)
    ]


async def test_a_profile_already_holding_the_contact_id_is_adopted(
    crm: SfCrm, tmp_path: Path
) -> None:
    config = make_config(crm, tmp_path, CONTACTS_MAPPING)
    # A first mapping that lets nothing through creates the store's tables.
    warmup = contacts_mapping(_filters("and", False)).replace("name: contacts", "name: warmup")
    await run_once(make_config(crm, tmp_path, warmup))
    contacts = await crm.rows("Contact", FIELDS)
    target = sorted(contacts)[0]
    engine = create_engine_for(config.store.url)
    profile = sa.Table("profile", sa.MetaData(), autoload_with=engine)
    with engine.begin() as conn:
        now = datetime.now(UTC)
        conn.execute(
            sa.insert(profile).values(
                external_id=target,
                first_name="Before",
                origin="api",
                created_at=now,
                modified_at=now,
            )
        )
    engine.dispose()
    await run_once(config)
    rows = list(store_rows(config, "profile", "external_id").values())
    adopted = [r for r in rows if r["external_id"] == target]
    assert len(adopted) == 1
    assert adopted[0]["first_name"] == contacts[target]["FirstName"]
    assert len(rows) == len(contacts)


async def test_a_second_change_within_the_same_second_arrives(crm: SfCrm, tmp_path: Path) -> None:
    config = make_config(crm, tmp_path, CONTACTS_MAPPING)
    target = sorted(await crm.rows("Contact", FIELDS))[0]
    moment = whole_second(5)
    crm.emulator.clock.set(moment)
    await crm.write(WriteOp("update", "Contact", {"MailingCity": "First"}, id=target))
    await run_once(config)
    assert store_rows(config, "profile", "external_id")[target]["city"] == "First"
    crm.emulator.clock.set(moment)
    await crm.write(WriteOp("update", "Contact", {"MailingCity": "Second"}, id=target))
    await run_once(config)
    assert store_rows(config, "profile", "external_id")[target]["city"] == "Second"
