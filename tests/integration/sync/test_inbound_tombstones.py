"""Deletes against late upserts: a change delivered again after the record's deletion must not
bring the record back, while a real re-creation of the same id does. The inbound engine against
the Dataverse emulator over HTTPS, with the redelivery order forced."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from inbound_support import (
    CONTACTS_MAPPING,
    ENV,
    Crm,
    make_config,
    run_once,
    running_crm,
    store_rows,
    sync_state,
)

from crmsync.connectors.base import WriteOp
from crmsync.emulators.common.tls import TlsFiles, generate
from crmsync.sync.engine import InboundEngine


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return generate([]).write(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def crm(tls: TlsFiles) -> Iterator[Crm]:
    with running_crm(tls, contacts=12, page_size=5) as running:
        yield running


async def test_a_late_upsert_after_the_delete_does_not_resurrect(crm: Crm, tmp_path: Path) -> None:
    config = make_config(crm, tmp_path, CONTACTS_MAPPING)
    await run_once(config)
    ids = sorted(await crm.rows("contact", ("firstname",)))
    target = ids[3]
    await crm.write(WriteOp("update", "contact", {"firstname": "Late"}, id=target))
    async with InboundEngine(config, environ=ENV) as engine:
        await engine.take_leases()  # read by this engine alone
        assert engine.queue is not None
        writer = engine.writers["contacts"]
        await engine.readers["contacts"].round()
        in_flight = await engine.queue.fetch(max_messages=50)  # its ack is lost: it comes back
        assert any(c.id == target for d in in_flight for c in d.message.changes)

        await crm.write(WriteOp("delete", "contact", id=target))
        await engine.readers["contacts"].round()
        deletes = await engine.queue.fetch(max_messages=50)
        for delivery in deletes:
            writer.apply(delivery.message)
        await engine.queue.ack(deletes)
        assert target not in store_rows(config, "profile", "external_id")

        before = sync_state(config).counters.by_mapping()["contacts"]
        for delivery in in_flight:  # the redelivery, after the delete
            writer.apply(delivery.message)
        await engine.queue.ack(in_flight)
    assert target not in store_rows(config, "profile", "external_id")
    after = sync_state(config).counters.by_mapping()["contacts"]
    assert after.campaign_writes == before.campaign_writes
    assert sync_state(config).tombstones.count("contacts") == 1

    # The same id created again in the CRM gets a newer version: it is a real record again.
    await crm.write(WriteOp("create", "contact", {"firstname": "Reborn"}, id=target))
    await run_once(config)
    stored = store_rows(config, "profile", "external_id")
    assert stored[target]["first_name"] == "Reborn"
    assert set(stored) == set(await crm.rows("contact", ("firstname",)))
    assert sync_state(config).tombstones.count("contacts") == 0
