"""The store: persistence to a file, id counters, system changes, the recycle bin."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from crmsync.emulators.common.clock import Clock
from crmsync.emulators.salesforce.ids import make_id
from crmsync.emulators.salesforce.seed import seed
from crmsync.emulators.salesforce.store import SalesforceStore, format_datetime
from crmsync.emulators.salesforce.writes import Writer


def test_records_and_id_counters_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "org.sqlite"
    clock = Clock()
    store = SalesforceStore.open(path, clock)
    seed(store, contacts=25, accounts=2)
    contact = store.schema.get("Contact")
    assert contact is not None
    with store.transaction() as conn:
        created = Writer(store).create(conn, contact, {"LastName": "Kept"})
    assert created == make_id("003", 26)
    store.close()

    reopened = SalesforceStore.open(path, clock)
    try:
        assert reopened.count(contact) == 26
        with reopened.transaction() as conn:
            assert Writer(reopened).create(conn, contact, {"LastName": "Next"}) == make_id(
                "003", 27
            )
    finally:
        reopened.close()


def test_a_failed_transaction_gives_its_ids_back() -> None:
    store = SalesforceStore.open(None, Clock())
    contact = store.schema.get("Contact")
    assert contact is not None
    try:
        with store.transaction() as conn:
            Writer(store).create(conn, contact, {"LastName": "Gone"})
            raise RuntimeError("roll back")
    except RuntimeError:
        pass
    with store.transaction() as conn:
        assert Writer(store).create(conn, contact, {"LastName": "First"}) == make_id("003", 1)
    assert store.count(contact) == 1
    store.close()


def test_system_change_and_purge() -> None:
    clock = Clock()
    store = SalesforceStore.open(None, clock)
    contact = store.schema.get("Contact")
    assert contact is not None
    writer = Writer(store)
    with store.transaction() as conn:
        kept = writer.create(conn, contact, {"LastName": "Kept"})
        gone = writer.create(conn, contact, {"LastName": "Gone"})
        writer.delete(conn, contact, gone)
    clock.advance(3600)
    assert store.system_change(contact, [kept, gone]) == 1  # deleted records are not touched
    table = store.table(contact)
    with store.reading() as conn:
        stamp, modified = conn.execute(
            sa.select(table.c.SystemModstamp, table.c.LastModifiedDate).where(table.c.Id == kept)
        ).one()
    assert stamp > modified
    assert store.purge(format_datetime(clock.now())) == 1
    assert store.count(contact, include_deleted=True) == 1
    store.close()
