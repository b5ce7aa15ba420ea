"""``crmsync privacy delete`` against either CRM's emulator over HTTPS, on SQLite and PostgreSQL: a
profile with a subscription, marketing events, a Campaign edit waiting for the two-way merge and
a change waiting in the queue is gone everywhere, its record keeps no personal data, and nothing
the CRM does afterwards brings it back: a change of the contact, a replay, a full read after the
change-tracking position expired, a new contact with the same email."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from privacy_support import (
    EMAIL,
    ENV,
    Crm,
    Person,
    Setup,
    cli,
    counters,
    delete_json,
    leftovers,
    profiles,
    queued_changes,
    record_sends,
    run_once,
    running_crm,
    seed_person,
    subscriptions,
)

from crmsync.connectors.base import WriteOp
from crmsync.emulators.common.tls import TlsFiles
from crmsync.events.tables import EVENT_TABLES
from crmsync.queue import Change, ChangeMessage, SQLiteQueue
from crmsync.state.replays import DEFAULT_REPLAY_LIMIT
from crmsync.sync.replay import request_replay

#: How far the emulator's clock moves for its change-tracking position to expire.
EXPIRED_DAYS = {"dataverse": 8, "salesforce": 16}


@pytest.fixture(params=["dataverse", "salesforce"])
def crm(request: pytest.FixtureRequest, tls: TlsFiles) -> Iterator[Crm]:
    with running_crm(request.param, tls, contacts=3) as running:
        yield running


async def _loaded(crm: Crm, tmp_path: Path, store: tuple[str, str | None]) -> tuple[Setup, Person]:
    """The person and another contact read into Campaign, with events and pending work."""
    person, other = await seed_person(crm)
    setup = Setup.write(crm, tmp_path, store)
    await run_once(setup.config)
    _, _, city = crm.fields
    await crm.update(person.crm_id, **{city: "Merged"})  # merged: the record gets a base
    await run_once(setup.config)
    rows = profiles(setup.config)
    record_sends(setup, rows[person.crm_id]["id"], rows[other]["id"])
    # A Campaign edit the two-way merge has not sent yet, and a change still in the queue.
    engine = setup.engine()
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.text("UPDATE profile SET city = 'Edited' WHERE external_id = :id"),
                {"id": person.crm_id},
            )
    finally:
        engine.dispose()
    async with SQLiteQueue(setup.config.queue.path) as queue:
        values = {"firstname": person.first_name, "email": person.email}
        await queue.publish(
            [ChangeMessage("contacts", [Change("upsert", person.crm_id, 1, values)])]
        )
    return setup, person


async def test_a_privacy_deleted_profile_is_gone_and_never_comes_back(
    crm: Crm, tmp_path: Path, store_location: tuple[str, str | None]
) -> None:
    setup, person = await _loaded(crm, tmp_path, store_location)
    assert leftovers(setup, *person.marks)  # the person is in the store before
    before = set(profiles(setup.config))
    linked = {k for k, row in subscriptions(setup).items() if row["contact_id"] == person.crm_id}
    others = set(subscriptions(setup)) - linked
    assert person.subscription_id in linked
    assert others

    result = cli(
        "privacy", "delete", "--config", str(setup.path), "--crm-id", person.crm_id,
        "--reason", "erasure request 42", "--yes", "--json",
    )  # fmt: skip
    record = delete_json(result)

    assert record["crm_id"] == person.crm_id
    assert record["reason"] == "erasure request 42"
    assert record["actor"].startswith("cli:")
    assert record["removed"]["profile"] == 1
    assert record["removed"]["subscription"] == len(linked)
    assert record["removed"]["crmsync_event_send"] == 1
    assert record["removed"]["crmsync_twoway_base"] == 1
    assert record["removed"]["crmsync_campaign_changes"] >= 1
    assert record["removed"]["change queue"] == 1
    assert record["crm_delete"] is None
    assert set(profiles(setup.config)) == before - {person.crm_id}
    assert set(subscriptions(setup)) == others
    assert _events(setup) == 1  # the other profile's
    assert leftovers(setup, *person.marks) == []  # nowhere in the store, the record included
    assert queued_changes(setup, person.crm_id) == 0
    # The operator audit trail names the delete, with its counts and no reason.
    trail = cli("audit", "--config", str(setup.path), "--action", "privacy.", "--json")
    assert trail.returncode == 0, trail.stderr
    (entry,) = json.loads(trail.stdout)
    assert (entry["action"], entry["target"], entry["outcome"]) == (
        "privacy.delete",
        record["id"],
        "ok",
    )
    assert entry["actor"] == record["actor"]
    assert entry["details"]["removed"]["profile"] == 1
    assert entry["details"]["crm_id"] == person.crm_id
    assert "reason" not in entry["details"]

    # The CRM changes the person: nothing comes back, and the skip is counted.
    _, last, city = crm.fields
    await crm.update(person.crm_id, **{city: "Back"})
    await run_once(setup.config)
    assert person.crm_id not in profiles(setup.config)
    assert counters(setup, "contacts")["suppressed"] >= 1

    # A replay reads every contact and subscription again.
    for mapping in ("contacts", "subscriptions"):
        await request_replay(
            setup.config,
            mapping,
            limit_backlog=DEFAULT_REPLAY_LIMIT,
            limit_rows=DEFAULT_REPLAY_LIMIT,
            environ=ENV,
        )
    await run_once(setup.config)
    assert person.crm_id not in profiles(setup.config)
    assert set(subscriptions(setup)) == others
    assert counters(setup, "subscriptions")["suppressed"] >= len(linked)

    # The change-tracking position expires: the next round reads everything again.
    suppressed = counters(setup, "contacts")["suppressed"]
    crm.emulator.clock.advance(EXPIRED_DAYS[crm.kind] * 86_400)
    await run_once(setup.config)
    assert person.crm_id not in profiles(setup.config)
    assert set(subscriptions(setup)) == others
    assert counters(setup, "contacts")["suppressed"] > suppressed

    # A new contact with the same email (another case) is not created either.
    async with crm.connector() as connector:
        [created] = await connector.write(
            [WriteOp("create", crm.table, {last: "Other", EMAIL[crm.kind]: person.email.upper()})]
        )
    assert created.ok, created
    await run_once(setup.config)
    assert created.id not in profiles(setup.config)
    assert leftovers(setup, *person.marks) == []


def _events(setup: Setup) -> int:
    engine = setup.engine()
    try:
        with engine.connect() as conn:
            table = EVENT_TABLES["send"]
            return int(conn.scalar(sa.select(sa.func.count()).select_from(table)) or 0)
    finally:
        engine.dispose()
