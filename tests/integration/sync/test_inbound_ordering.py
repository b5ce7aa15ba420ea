"""Parent before child, replay limits, and versions deciding over delivery order: the inbound
engine against the Dataverse emulator over HTTPS."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from inbound_support import (
    CONTACTS_MAPPING,
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

from crmsync.connectors.base import WriteOp
from crmsync.emulators.common.tls import TlsFiles, generate
from crmsync.queue.base import Change, ChangeMessage
from crmsync.state.models import PARENT_MISSING, ReplayRefused
from crmsync.sync.engine import InboundEngine
from crmsync.sync.replay import request_replay


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return generate([]).write(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def crm(tls: TlsFiles) -> Iterator[Crm]:
    with running_crm(tls, contacts=30, page_size=4) as running:
        yield running


async def _drain(engine: InboundEngine) -> None:
    assert engine.queue is not None
    while deliveries := await engine.queue.fetch(max_messages=50):
        for delivery in deliveries:
            engine.writers[delivery.message.mapping].apply(delivery.message)
        await engine.queue.ack(deliveries)


async def test_a_child_waits_for_its_parent(crm: Crm, tmp_path: Path) -> None:
    config = make_config(
        crm, tmp_path, CONTACTS_MAPPING + SUBSCRIPTIONS_MAPPING, SUBSCRIPTION_RESOURCE
    )
    subscriptions = await crm.rows("crmsync_subscription", ("crmsync_contactid",))
    assert subscriptions
    async with InboundEngine(config, environ=ENV) as engine:
        await engine.take_leases()  # read by this engine alone
        assert engine.state is not None
        await engine.readers["subscriptions"].round()
        await _drain(engine)
        # Every child arrived first: none is visible, all wait and count in the backlog.
        assert store_rows(config, "subscription", "crm_id") == {}
        assert engine.state.parked.count("subscriptions") == len(subscriptions)
        assert await engine.backlog() == len(subscriptions)

        await engine.readers["contacts"].round()
        await _drain(engine)
        engine.housekeeping()
        assert engine.state.parked.count() == 0
    stored = store_rows(config, "subscription", "crm_id")
    assert set(stored) == set(subscriptions)
    profiles = store_rows(config, "profile", "external_id")
    assert all(row["contact_id"] in profiles for row in stored.values())


async def test_a_child_whose_parent_never_comes_is_rejected(crm: Crm, tmp_path: Path) -> None:
    config = make_config(crm, tmp_path, SUBSCRIPTIONS_MAPPING, SUBSCRIPTION_RESOURCE)
    subscriptions = await crm.rows("crmsync_subscription", ("crmsync_contactid",))
    summary = await run_once(config, parent_wait_seconds=0)
    assert store_rows(config, "subscription", "crm_id") == {}
    state = sync_state(config)
    rejects = state.rejects.newest(mapping="subscriptions", limit=1000)
    assert {r.record_id for r in rejects} == set(subscriptions)
    assert {r.code for r in rejects} == {PARENT_MISSING}
    assert "did not arrive" in rejects[0].message
    assert summary.counters["subscriptions"].rejected == len(subscriptions)
    assert state.parked.count() == 0


async def test_replay_limits_and_messages(crm: Crm, tmp_path: Path) -> None:
    config = make_config(crm, tmp_path, CONTACTS_MAPPING)
    with pytest.raises(ReplayRefused, match="CRM table holds") as table_limit:
        await request_replay(config, "contacts", limit_backlog=1000, limit_rows=10, environ=ENV)
    assert table_limit.value.code == "REPLAY_TABLE_LIMIT"

    async with InboundEngine(config, environ=ENV) as engine:
        await engine.take_leases()  # read by this engine alone
        await engine.readers["contacts"].round()  # read, not written: the backlog holds it
    with pytest.raises(ReplayRefused, match="backlog holds") as backlog_limit:
        await request_replay(config, "contacts", limit_backlog=5, limit_rows=1000, environ=ENV)
    assert backlog_limit.value.code == "REPLAY_BACKLOG_LIMIT"

    await run_once(config)
    await request_replay(config, "contacts", limit_backlog=1000, limit_rows=1000, environ=ENV)
    with pytest.raises(ReplayRefused, match="already pending"):
        await request_replay(config, "contacts", limit_backlog=1000, limit_rows=1000, environ=ENV)
    summary = await run_once(config)
    counts = summary.counters["contacts"]
    assert summary.replays == ["contacts"]
    assert counts.read >= 30  # every record read again...
    assert counts.campaign_writes == 0  # ...and nothing rewritten


async def test_changed_twice_across_a_page_boundary(crm: Crm, tmp_path: Path) -> None:
    """Pages of 4: a record changed twice in the same second lands in two rounds' messages; a
    stale copy delivered late must not win."""
    config = make_config(crm, tmp_path, CONTACTS_MAPPING)
    await run_once(config)
    ids = sorted(await crm.rows("contact", ("firstname",)))
    target = ids[5]
    await crm.write(
        *(WriteOp("update", "contact", {"firstname": f"Filler{i}"}, id=ids[i]) for i in range(4)),
        WriteOp("update", "contact", {"firstname": "First"}, id=target),
    )
    async with InboundEngine(config, environ=ENV) as engine:
        await engine.take_leases()  # read by this engine alone
        assert engine.queue is not None
        await engine.readers["contacts"].round()
        stale = await engine.queue.fetch(max_messages=50)
        await crm.write(WriteOp("update", "contact", {"firstname": "Second"}, id=target))
        await engine.readers["contacts"].round()
        await _drain(engine)  # the newer change first...
        for delivery in stale:  # ...then the older one, late
            engine.writers["contacts"].apply(delivery.message)
        await engine.queue.ack(stale)
        # and a duplicate of an old version, as a redelivery would bring
        old = await crm.rows("contact", ("firstname", "versionnumber"))
        duplicate = Change("upsert", target, 1, {**old[target], "firstname": "Ancient"})
        engine.writers["contacts"].apply(ChangeMessage("contacts", [duplicate], None, "dup"))
    stored = store_rows(config, "profile", "external_id")
    assert stored[target]["first_name"] == "Second"
    assert stored[ids[0]]["first_name"] == "Filler0"
    assert len(stored) == len(ids)


async def test_unchanged_records_cost_no_write(crm: Crm, tmp_path: Path) -> None:
    config = make_config(crm, tmp_path, CONTACTS_MAPPING)
    await run_once(config, chunk_size=3)
    target = sorted(await crm.rows("contact", ("firstname",)))[0]
    # A change to a field the mapping does not carry: read, but nothing to write.
    await crm.write(WriteOp("update", "contact", {"jobtitle": "Engineer"}, id=target))
    counts = (await run_once(config, chunk_size=3)).counters["contacts"]
    assert (counts.read, counts.unchanged, counts.campaign_writes) == (1, 1, 0)
