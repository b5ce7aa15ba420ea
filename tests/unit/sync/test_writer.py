"""The inbound writer on a real SQLite store: one transaction per message, version guard,
rejects, filters, deletes, parking and snapshot reconciliation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from crm_tables import contact_table

from crmsync.config.models import InboundMapping
from crmsync.connectors.base import CrmType, FieldInfo
from crmsync.queue.base import Change, ChangeMessage
from crmsync.state.store import StateStore
from crmsync.store import build_metadata, create_engine_for, definitions_with_profile, publish
from crmsync.store.resources import PROFILE
from crmsync.sync.transform import compile_mapping
from crmsync.sync.writer import MISSING_VERSION, MappingWriter, version_number

CONTACT = contact_table(
    FieldInfo("firstname", CrmType.STRING), FieldInfo("numberofchildren", CrmType.INTEGER)
)


def _mapping(**overrides: Any) -> InboundMapping:
    data: dict[str, Any] = {
        "name": "contacts",
        "connection": "crm",
        "crm_table": "contact",
        "resource": "profile",
        "primary_key": {"campaign": "external_id"},
        "fields": [{"crm": "firstname", "campaign": "first_name"}],
    }
    return InboundMapping.model_validate(data | overrides)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[sa.Engine]:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'store.db'}")
    publish(engine, [])
    yield engine
    engine.dispose()


def _writer(engine: sa.Engine, **overrides: Any) -> MappingWriter:
    definitions = definitions_with_profile([])
    compiled = compile_mapping(_mapping(**overrides), CONTACT, PROFILE, resources=definitions)
    tables = build_metadata(definitions).tables
    return MappingWriter(compiled, tables["profile"], tables, StateStore(engine), origin="crm:x")


def _upsert(key: str, version: int | None, name: str) -> Change:
    return Change("upsert", key, version, {"contactid": key, "firstname": name})


def _names(engine: sa.Engine) -> dict[str, str]:
    with engine.connect() as conn:
        return dict(conn.execute(sa.text("select external_id, first_name from profile")).all())


def test_newest_version_wins_in_any_order(engine: sa.Engine) -> None:
    writer = _writer(engine)
    writer.apply(ChangeMessage("contacts", [_upsert("a", 5, "new")], None, "m1"))
    counts = writer.apply(ChangeMessage("contacts", [_upsert("a", 3, "old")], None, "m2"))
    assert _names(engine) == {"a": "new"}
    assert counts["unchanged"] == 1
    assert counts["campaign_writes"] == 0


def test_the_readers_digest_is_recorded_as_it_came(engine: sa.Engine) -> None:
    writer = _writer(engine)
    carried = Change("upsert", "a", 4, {"contactid": "a", "firstname": "Ada"}, {}, 1234)
    computed = _upsert("b", 4, "Bob")
    writer.apply(ChangeMessage("contacts", [carried, computed], None, "m1"))
    with engine.connect() as conn:
        held = writer.fingerprints.held(conn, ["a", "b"])
    assert held == {"a": (4, 1234), "b": (4, writer.fingerprints.digest(computed.values, {}))}


def test_a_bad_record_is_rejected_and_the_rest_is_written(engine: sa.Engine) -> None:
    writer = _writer(engine)
    bad = Change("upsert", "b", 2, {"contactid": "b", "firstname": ["not", "text"]})
    unversioned = _upsert("c", None, "no version")
    counts = writer.apply(ChangeMessage("contacts", [bad, unversioned, _upsert("a", 1, "ok")]))
    assert _names(engine) == {"a": "ok"}
    assert counts["rejected"] == 2
    rejects = {r.record_id: r for r in writer.state.rejects.newest()}
    assert rejects["c"].code == MISSING_VERSION
    assert rejects["b"].record["values"]["firstname"] == ["not", "text"]


def test_deletes_follow_the_apply_deletes_switch(engine: sa.Engine) -> None:
    on = _writer(engine)
    on.apply(ChangeMessage("contacts", [_upsert("a", 1, "x"), _upsert("b", 1, "y")]))
    on.apply(ChangeMessage("contacts", [Change("delete", "a")]))
    assert set(_names(engine)) == {"b"}
    off = _writer(engine, apply_deletes=False)
    off.apply(ChangeMessage("contacts", [Change("delete", "b")]))
    assert set(_names(engine)) == {"b"}


def test_leaving_the_filter_deletes_only_rows_not_newer(engine: sa.Engine) -> None:
    filters = {"conditions": [{"field": "firstname", "op": "ne", "value": "out"}]}
    writer = _writer(engine, filters=filters, delete_filtered_out=True)
    writer.apply(ChangeMessage("contacts", [_upsert("a", 5, "in"), _upsert("b", 5, "in")]))
    counts = writer.apply(
        ChangeMessage("contacts", [_upsert("a", 6, "out"), _upsert("b", 4, "out")])
    )
    assert set(_names(engine)) == {"b"}  # b's filtered-out change is older than the row
    assert counts["filtered"] == 2
    assert counts["deleted"] == 1


def test_snapshot_reconciliation_deletes_unseen_crm_rows_only(engine: sa.Engine) -> None:
    writer = _writer(engine)
    state = writer.state
    writer.apply(ChangeMessage("contacts", [_upsert("a", 1, "x"), _upsert("gone", 1, "y")]))
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "insert into profile (first_name, created_at, modified_at, origin)"
                " values ('local', '2026-01-01', '2026-01-01', 'api')"
            )
        )
    snapshot = state.snapshots.start("contacts")
    state.snapshots.record_messages(snapshot, ["s1"])
    state.snapshots.finish(snapshot, 1)
    assert writer.reconcile_snapshots() == 0  # not every message applied yet
    writer.apply(ChangeMessage("contacts", [_upsert("a", 2, "x2")], snapshot, "s1"))
    assert writer.reconcile_snapshots() == 1
    assert _names(engine) == {"a": "x2", None: "local"}
    assert state.snapshots.all("contacts") == []


def _delete(key: str, version: int | None) -> Change:
    return Change("delete", key, version)


def test_a_stale_upsert_after_the_delete_stays_deleted(engine: sa.Engine) -> None:
    writer = _writer(engine)
    writer.apply(ChangeMessage("contacts", [_upsert("a", 5, "x"), _upsert("b", 5, "y")]))
    writer.apply(ChangeMessage("contacts", [_delete("a", 9)]))
    counts = writer.apply(ChangeMessage("contacts", [_upsert("a", 5, "x"), _upsert("b", 6, "y2")]))
    assert _names(engine) == {"b": "y2"}
    assert counts["unchanged"] == 1
    assert counts["campaign_writes"] == 1
    assert writer.state.tombstones.count("contacts") == 1


def test_a_delete_before_its_record_arrives_keeps_it_out(engine: sa.Engine) -> None:
    writer = _writer(engine)
    counts = writer.apply(ChangeMessage("contacts", [_delete("a", 9)]))
    assert counts["deleted"] == 0
    writer.apply(ChangeMessage("contacts", [_upsert("a", 9, "stale")]))
    assert _names(engine) == {}


def test_a_newer_version_is_a_re_creation(engine: sa.Engine) -> None:
    writer = _writer(engine)
    writer.apply(ChangeMessage("contacts", [_upsert("a", 5, "x")]))
    writer.apply(ChangeMessage("contacts", [_delete("a", 9)]))
    counts = writer.apply(ChangeMessage("contacts", [_upsert("a", 10, "again")]))
    assert _names(engine) == {"a": "again"}
    assert counts["inserted"] == 1
    assert writer.state.tombstones.count() == 0
    # The old delete delivered again is older than the re-creation: it removes nothing; nor
    # does the first life's upsert come back.
    counts = writer.apply(ChangeMessage("contacts", [_delete("a", 9)]))
    writer.apply(ChangeMessage("contacts", [_upsert("a", 5, "x")]))
    assert _names(engine) == {"a": "again"}
    assert counts["deleted"] == 0


def test_in_one_message_the_higher_version_decides(engine: sa.Engine) -> None:
    writer = _writer(engine)
    writer.apply(ChangeMessage("contacts", [_upsert("a", 12, "new"), _delete("a", 9)]))
    writer.apply(ChangeMessage("contacts", [_upsert("b", 8, "old"), _delete("b", 9)]))
    assert _names(engine) == {"a": "new"}
    assert writer.state.tombstones.count() == 1


def test_tombstones_follow_the_apply_deletes_switch(engine: sa.Engine) -> None:
    writer = _writer(engine, apply_deletes=False)
    writer.apply(ChangeMessage("contacts", [_delete("a", 9)]))
    writer.apply(ChangeMessage("contacts", [_upsert("a", 5, "kept")]))
    assert _names(engine) == {"a": "kept"}
    assert writer.state.tombstones.count() == 0


def test_an_unversioned_delete_leaves_no_tombstone(engine: sa.Engine) -> None:
    writer = _writer(engine)
    writer.apply(ChangeMessage("contacts", [_upsert("a", 5, "x")]))
    writer.apply(ChangeMessage("contacts", [_delete("a", None)]))
    assert _names(engine) == {}
    assert writer.state.tombstones.count() == 0


def test_records_that_left_the_filters_do_not_come_back_stale(engine: sa.Engine) -> None:
    filters = {"conditions": [{"field": "firstname", "op": "ne", "value": "out"}]}
    writer = _writer(engine, filters=filters, delete_filtered_out=True)
    writer.apply(ChangeMessage("contacts", [_upsert("a", 5, "in")]))
    writer.apply(ChangeMessage("contacts", [_upsert("a", 6, "out")]))
    writer.apply(ChangeMessage("contacts", [_upsert("a", 5, "in")]))
    assert _names(engine) == {}
    writer.apply(ChangeMessage("contacts", [_upsert("a", 7, "in again")]))
    assert _names(engine) == {"a": "in again"}


def test_a_completed_snapshot_prunes_older_tombstones(engine: sa.Engine) -> None:
    writer = _writer(engine)
    state = writer.state
    writer.apply(ChangeMessage("contacts", [_delete("old", 3)]))
    snapshot = state.snapshots.start("contacts")
    writer.apply(ChangeMessage("contacts", [_delete("new", 4)]))
    state.snapshots.record_messages(snapshot, ["s1"])
    state.snapshots.finish(snapshot, 1)
    writer.apply(ChangeMessage("contacts", [_upsert("a", 5, "x")], snapshot, "s1"))
    writer.reconcile_snapshots()
    with engine.connect() as conn:
        keys = conn.scalars(sa.text("select key from crmsync_tombstones")).all()
    assert keys == ["new"]


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        (7, 7),
        ("42", 42),
        ("2026-01-01T00:00:00.000+0000", 1_767_225_600_000_000),
        ("soon", None),
        (None, None),
        (True, None),
    ],
)
def test_version_number(version: Any, expected: int | None) -> None:
    assert version_number(version) == expected


def test_timestamp_versions_grow_with_time() -> None:
    early = version_number("2026-01-01T00:00:00Z")
    late = version_number("2026-01-01T00:00:01Z")
    assert early is not None
    assert late is not None
    assert late > early
