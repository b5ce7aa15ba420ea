"""Deletes are version-guarded on both stores: a delete delivered after a newer change of the same
record (a re-creation of the same id applied first, by another writer or after a redelivery)
removes nothing newer than itself: not the row, not a parked change. Dataverse versions and
Salesforce timestamps alike; the inbound writer on SQLite and on PostgreSQL."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import sqlalchemy as sa

from crmsync.config.models import InboundMapping, ResourceDefinition
from crmsync.connectors.base import CrmType, FieldInfo, TableInfo
from crmsync.queue.base import Change, ChangeMessage
from crmsync.state.store import StateStore
from crmsync.store import (
    build_metadata,
    definitions_with_profile,
    delete_versioned,
    publish,
    upsert_batch,
)
from crmsync.sync.transform import compile_mapping
from crmsync.sync.writer import MappingWriter, version_number

SUBSCRIPTION = ResourceDefinition.model_validate(
    {
        "name": "subscription",
        "identifier": "crm_id",
        "fields": [
            {"name": "crm_id", "type": "string", "length": 36},
            {"name": "name", "type": "string", "length": 100},
            {"name": "contact_id", "type": "string", "length": 255},
        ],
        "links": [{"resource": "profile", "field": "contact_id", "on_parent_delete": "cascade"}],
    }
)


def _table(name: str, key: str, *fields: str) -> TableInfo:
    """A change-tracked CRM table of text ``fields``."""
    infos = [FieldInfo(key, CrmType.STRING), FieldInfo("versionnumber", CrmType.BIGINT)]
    infos += [FieldInfo(field, CrmType.STRING) for field in fields]
    return TableInfo(
        name=name,
        collection=f"{name}s",
        primary_key=key,
        primary_name=None,
        change_tracking=True,
        version_field="versionnumber",
        fields={info.name: info for info in infos},
    )


CONTACT = _table("contact", "contactid", "firstname")
CHILD = _table("child", "childid", "name", "contactid")


@pytest.fixture
def engine(store_engine: sa.Engine) -> sa.Engine:
    publish(store_engine, [SUBSCRIPTION])
    return store_engine


def _writers(engine: sa.Engine, **contacts: Any) -> tuple[MappingWriter, MappingWriter]:
    """The writers of a contacts mapping (``contacts``: its options) and of their children."""
    definitions = definitions_with_profile([SUBSCRIPTION])
    tables = build_metadata(definitions).tables
    state = StateStore(engine)
    made = []
    for table, resource, key, fields, options in (
        (CONTACT, "profile", "external_id", {"firstname": "first_name"}, contacts),
        (CHILD, "subscription", "crm_id", {"name": "name", "contactid": "contact_id"}, {}),
    ):
        mapping = InboundMapping.model_validate(
            {
                "name": table.name,
                "connection": "crm",
                "crm_table": table.name,
                "resource": resource,
                "primary_key": {"campaign": key},
                "fields": [{"crm": crm, "campaign": column} for crm, column in fields.items()],
                **options,
            }
        )
        compiled = compile_mapping(mapping, table, definitions[resource], resources=definitions)
        made.append(MappingWriter(compiled, tables[resource], tables, state, origin="crm:x"))
    return made[0], made[1]


def _apply(writer: MappingWriter, *changes: Change) -> dict[str, int]:
    return writer.apply(ChangeMessage(writer.name, list(changes)))


def _rows(engine: sa.Engine, table: str, key: str, value: str) -> dict[str, Any]:
    with engine.connect() as conn:
        query = sa.text(f"select {key}, {value} from {table}")  # noqa: S608 - test constants
        return dict(conn.execute(query).all())


def _contact(key: str, version: int | str, name: str) -> Change:
    return Change("upsert", key, version, {"contactid": key, "firstname": name})


SALESFORCE_EARLIER = "2026-03-01T10:00:00.000+0000"
SALESFORCE_LATER = "2026-03-01T10:00:01.000+0000"


@pytest.mark.parametrize(
    ("older", "newer"),
    [(5, 10), (SALESFORCE_EARLIER, SALESFORCE_LATER)],
    ids=["dataverse", "salesforce"],
)
def test_a_late_delete_leaves_the_re_created_record(
    engine: sa.Engine, older: int | str, newer: int | str
) -> None:
    contacts, _ = _writers(engine)
    _apply(contacts, _contact("a", older, "first life"), _contact("b", older, "b"))
    _apply(contacts, _contact("a", newer, "second life"))
    # The deletion of the first life, stamped with the reader's watermark then, comes last.
    watermark = version_number(older)
    counts = _apply(contacts, Change("delete", "a", watermark), Change("delete", "b", watermark))
    assert _rows(engine, "profile", "external_id", "first_name") == {"a": "second life"}
    assert counts["deleted"] == 1
    # The older life delivered again stays out; a delete as new as the row removes it.
    _apply(contacts, _contact("b", older, "b"))
    _apply(contacts, Change("delete", "a", version_number(newer)))
    assert _rows(engine, "profile", "external_id", "first_name") == {}


def test_a_late_change_out_of_the_filters_leaves_the_newer_row(engine: sa.Engine) -> None:
    filters = {"conditions": [{"field": "firstname", "op": "ne", "value": "out"}]}
    contacts, _ = _writers(engine, filters=filters, delete_filtered_out=True)
    _apply(contacts, _contact("a", 10, "in"), _contact("b", 4, "in"))
    counts = _apply(contacts, _contact("a", 5, "out"), _contact("b", 5, "out"))
    assert _rows(engine, "profile", "external_id", "first_name") == {"a": "in"}
    assert counts["deleted"] == 1


def test_a_late_delete_keeps_a_newer_parked_child(engine: sa.Engine) -> None:
    contacts, children = _writers(engine)
    waiting = Change("upsert", "s1", 10, {"childid": "s1", "name": "new", "contactid": "p"})
    assert _apply(children, waiting)["parked"] == 1
    _apply(children, Change("delete", "s1", 5))
    assert children.state.parked.count("child") == 1
    _apply(contacts, _contact("p", 1, "parent"))
    assert children.release_parked() == 1
    assert _rows(engine, "subscription", "crm_id", "name") == {"s1": "new"}

    # A parked change older than its delete is dropped with it.
    _apply(children, Change("upsert", "s2", 3, {"childid": "s2", "contactid": "q"}))
    _apply(children, Change("delete", "s2", 5))
    assert children.state.parked.count("child") == 0


def test_a_reconciliation_spares_a_row_written_while_it_waited(
    pg_engine: sa.Engine,
) -> None:
    """PostgreSQL, several writers: a snapshot's reconciliation waits for a writer of the same
    mapping and weighs the rows as that writer left them (SQLite has one writer at a time)."""
    publish(pg_engine, [SUBSCRIPTION])
    contacts, _ = _writers(pg_engine)
    state = contacts.state
    _apply(contacts, _contact("kept", 1, "k"), _contact("again", 1, "first life"))
    snapshot = state.snapshots.start("contact")
    state.snapshots.record_messages(snapshot, ["s1"])
    state.snapshots.finish(snapshot, 1)
    # The snapshot did not see "again": deleted in the CRM before it was read.
    contacts.apply(ChangeMessage("contact", [_contact("kept", 1, "k")], snapshot, "s1"))
    removed: list[int] = []
    with pg_engine.begin() as conn:
        # Another writer applies the record's re-creation, read after the snapshot.
        state.counters.hold_mapping(conn, "contact")
        row = {"external_id": "again", "first_name": "second life", "source_version": 9}
        upsert_batch(conn, contacts.table, "external_id", [row])
        state.snapshots.note_seen(conn, "contact", ["again"])
        reconciling = threading.Thread(
            target=lambda: removed.append(contacts.reconcile_snapshots())
        )
        reconciling.start()
        reconciling.join(timeout=0.5)
        assert reconciling.is_alive()
    reconciling.join(timeout=10)
    assert removed == [0]
    assert _rows(pg_engine, "profile", "external_id", "first_name") == {
        "kept": "k",
        "again": "second life",
    }


def test_a_child_written_while_its_parent_is_deleted_waits_for_it(pg_engine: sa.Engine) -> None:
    """PostgreSQL, several writers: a child whose parent another writer is deleting finds the
    parent gone once that writer commits, and is parked (not refused by the link's foreign key,
    which would fail the writer)."""
    publish(pg_engine, [SUBSCRIPTION])
    contacts, children = _writers(pg_engine)
    _apply(contacts, _contact("p", 1, "parent"))
    outcome: list[dict[str, int] | BaseException] = []

    def write_child() -> None:
        child = Change("upsert", "s1", 4, {"childid": "s1", "name": "x", "contactid": "p"})
        try:
            outcome.append(_apply(children, child))
        except BaseException as exc:  # reported by the assertion below
            outcome.append(exc)

    with pg_engine.begin() as conn:
        contacts.state.counters.hold_mapping(conn, "contact")
        delete_versioned(conn, contacts.table, "external_id", {"p": 5})
        writing = threading.Thread(target=write_child)
        writing.start()
        writing.join(timeout=0.5)
    writing.join(timeout=10)
    assert len(outcome) == 1
    assert not isinstance(outcome[0], BaseException), outcome[0]
    assert outcome[0]["parked"] == 1
    assert _rows(pg_engine, "subscription", "crm_id", "name") == {}
