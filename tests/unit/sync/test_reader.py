"""The inbound reader with a scripted connector: chunking, cursor saved only after the round's
messages are published, snapshot bookkeeping, formatted values only when asked for."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from crmsync.connectors.base import ChangePage, Deletion, Record
from crmsync.errors import ProtocolError
from crmsync.queue.sqlite import SQLiteQueue
from crmsync.state.store import StateStore
from crmsync.store import build_metadata, create_engine_for, definitions_with_profile, publish
from crmsync.sync.fingerprints import Fingerprints
from crmsync.sync.reader import MappingReader, deletion_version
from crmsync.sync.transform import CompiledMapping


class ScriptedCrm:
    """Returns the pages given for each call of ``track_changes``; ``fail_after`` pages, raises."""

    def __init__(self, rounds: list[list[ChangePage]], fail_after: int | None = None) -> None:
        self.rounds = rounds
        self.fail_after = fail_after
        self.cursors: list[str | None] = []
        self.formatted: list[bool] = []

    async def track_changes(
        self, table: str, fields: Sequence[str] | None, cursor: str | None, *, formatted: bool
    ) -> AsyncIterator[ChangePage]:
        self.cursors.append(cursor)
        self.formatted.append(formatted)
        for index, page in enumerate(self.rounds.pop(0)):
            if self.fail_after is not None and index >= self.fail_after:
                raise ProtocolError("a page has no 'value' list", table=table)
            yield page


def _records(start: int, count: int) -> list[Record]:
    return [
        Record(f"id{n}", {"contactid": f"id{n}"}, {"gendercode": "Female"}, n)
        for n in range(start, start + count)
    ]


@pytest.fixture
def state(tmp_path: Path) -> Iterator[StateStore]:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'store.db'}")
    yield StateStore(engine)
    engine.dispose()


@pytest.fixture
async def queue(tmp_path: Path) -> AsyncIterator[SQLiteQueue]:
    async with SQLiteQueue(tmp_path / "queue.db") as q:
        yield q


def _compiled() -> Any:
    class Stub:
        name = "contacts"
        crm_table = "contact"
        crm_fields = ("contactid",)

    return Stub()


def _reader(crm: ScriptedCrm, queue: SQLiteQueue, state: StateStore, **kw: Any) -> MappingReader:
    compiled: CompiledMapping = _compiled()
    return MappingReader(compiled, crm, queue, state, chunk_size=3, **kw)  # type: ignore[arg-type]


async def test_snapshot_round_is_chunked_and_the_cursor_saved_last(
    queue: SQLiteQueue, state: StateStore
) -> None:
    pages = [
        ChangePage(_records(0, 5), snapshot=True),
        ChangePage(_records(5, 2), cursor="delta-1", snapshot=True),
    ]
    crm = ScriptedCrm([pages])
    reader = _reader(crm, queue, state, with_formatted=False)
    result = await reader.round()
    assert (result.changes, result.messages, result.snapshot) == (7, 3, True)
    assert crm.formatted == [False]  # the CRM is not asked for display labels nobody needs
    assert state.cursors.load("contacts") == reader.signature + "delta-1"
    deliveries = await queue.fetch(max_messages=10)
    assert sorted(d.message.change_count for d in deliveries) == [2, 2, 3]
    assert all(d.message.snapshot is not None for d in deliveries)
    assert all(c.formatted == {} for d in deliveries for c in d.message.changes)
    (snapshot,) = state.snapshots.all("contacts")
    assert snapshot.total_messages == 3


async def test_a_failed_round_keeps_the_old_cursor(queue: SQLiteQueue, state: StateStore) -> None:
    pages = [ChangePage(_records(0, 2)), ChangePage([], [Deletion("id9")], cursor="delta-1")]
    crm = ScriptedCrm([pages], fail_after=1)
    reader = _reader(crm, queue, state, with_formatted=True)
    state.cursors.save("contacts", reader.signature + "delta-0")
    with pytest.raises(ProtocolError):
        await reader.round()
    assert crm.cursors == ["delta-0"]
    assert state.cursors.load("contacts") == reader.signature + "delta-0"
    # What was read before the failure is in the queue: read again later, applied once.
    assert await queue.backlog("contacts") == 2


async def test_delta_rounds_carry_deletions_and_formatted_values(
    queue: SQLiteQueue, state: StateStore
) -> None:
    pages = [ChangePage(_records(0, 1), [Deletion("gone")], cursor="delta-1")]
    crm = ScriptedCrm([pages])
    reader = _reader(crm, queue, state, with_formatted=True)
    state.cursors.save("contacts", reader.signature + "delta-0")
    result = await reader.round()
    assert not result.snapshot
    assert crm.formatted == [True]
    (delivery,) = await queue.fetch()
    kinds = {c.id: (c.kind, dict(c.formatted)) for c in delivery.message.changes}
    assert kinds == {"id0": ("upsert", {"gendercode": "Female"}), "gone": ("delete", {})}
    assert state.snapshots.all("contacts") == []
    with state.engine.connect() as conn:
        assert conn.scalar(sa.text("select count(*) from crmsync_snapshots")) == 0


async def test_deletions_carry_the_highest_version_read_so_far(
    queue: SQLiteQueue, state: StateStore
) -> None:
    first = [ChangePage(_records(3, 5), [Deletion("early")], cursor="delta-1")]
    second = [
        ChangePage([], [Deletion("before-any-record")]),
        ChangePage(_records(20, 2), [Deletion("late")], cursor="delta-2"),
    ]
    reader = _reader(ScriptedCrm([first, second]), queue, state, with_formatted=False)
    await reader.round()
    assert state.cursors.watermark("contacts") == 7
    await reader.round()
    assert state.cursors.watermark("contacts") == 21
    deliveries = await queue.fetch(max_messages=10)
    stamped = {c.id: c.version for d in deliveries for c in d.message.changes if c.kind == "delete"}
    # A deletion is stamped with every version seen up to its page, earlier rounds included.
    assert stamped == {"early": 7, "before-any-record": 7, "late": 21}


async def test_a_deletion_with_its_time_is_stamped_no_later_than_that_second(
    queue: SQLiteQueue, state: StateStore
) -> None:
    """Salesforce reports when a record was deleted; its delete log, minutes late: the versions
    read since (an undelete among them) are above the deletion's."""
    deleted_at = datetime(2026, 3, 1, 10, 0, 0, 250_000, tzinfo=UTC)
    second = int(deleted_at.replace(microsecond=0).timestamp()) * 1_000_000
    undeleted = Record("back", {"contactid": "back"}, {}, second + 5_000_000)
    first = [ChangePage([undeleted], [], cursor="delta-1")]
    second_round = [ChangePage([], [Deletion("back", deleted_at)], cursor="delta-2")]
    reader = _reader(ScriptedCrm([first, second_round]), queue, state, with_formatted=False)
    await reader.round()
    await reader.round()
    deliveries = await queue.fetch(max_messages=10)
    stamped = [c.version for d in deliveries for c in d.message.changes if c.kind == "delete"]
    assert stamped == [second + 999_999]
    assert deletion_version(Deletion("x", deleted_at), second - 1) == second - 1
    assert deletion_version(Deletion("x", deleted_at), None) == second + 999_999
    assert deletion_version(Deletion("x"), 42) == 42


async def test_a_deletion_of_a_record_the_page_holds_is_left_out(
    queue: SQLiteQueue, state: StateStore
) -> None:
    """Deleted, then created again with the same id before the read: the page holds the new
    life, and the deletion (stamped above it) would delete it."""
    pages = [ChangePage(_records(8, 2), [Deletion("id9"), Deletion("gone")], cursor="delta-1")]
    reader = _reader(ScriptedCrm([pages]), queue, state, with_formatted=False)
    await reader.round()
    deliveries = await queue.fetch(max_messages=10)
    changes = [(c.kind, c.id) for d in deliveries for c in d.message.changes]
    assert changes == [("upsert", "id8"), ("upsert", "id9"), ("delete", "gone")]


async def test_the_watermark_never_goes_down(queue: SQLiteQueue, state: StateStore) -> None:
    pages = [ChangePage(_records(0, 2), [Deletion("gone")], cursor="delta-1")]
    reader = _reader(ScriptedCrm([pages]), queue, state, with_formatted=False)
    state.cursors.save("contacts", reader.signature + "delta-0", 50)
    await reader.round()
    assert state.cursors.watermark("contacts") == 50
    (delivery,) = await queue.fetch()
    assert [c.version for c in delivery.message.changes if c.kind == "delete"] == [50]


async def test_a_cursor_read_with_other_fields_starts_a_snapshot(
    queue: SQLiteQueue, state: StateStore
) -> None:
    """A field added to the mapping: the old delta link would never read it, so read in full."""

    class Wider:
        name = "contacts"
        crm_table = "contact"
        crm_fields = ("contactid", "emailaddress1")

    pages = [ChangePage(_records(0, 2), cursor="delta-wide", snapshot=True)]
    crm = ScriptedCrm([pages])
    narrow = _reader(ScriptedCrm([]), queue, state, with_formatted=False)
    state.cursors.save("contacts", narrow.signature + "delta-narrow")
    wider = MappingReader(Wider(), crm, queue, state, with_formatted=False)  # type: ignore[arg-type]
    assert wider.signature != narrow.signature
    result = await wider.round()
    assert crm.cursors == [None]
    assert result.snapshot
    assert state.cursors.load("contacts") == wider.signature + "delta-wide"


async def test_messages_carry_the_digests_of_their_records(
    queue: SQLiteQueue, state: StateStore
) -> None:
    publish(state.engine, [])
    profile = build_metadata(definitions_with_profile([])).tables["profile"]
    fingerprints = Fingerprints(profile, key_field="external_id", signature=b"m")
    records = _records(0, 2)
    crm = ScriptedCrm([[ChangePage(records, cursor="delta-1", snapshot=True)]])
    reader = _reader(crm, queue, state, with_formatted=False, fingerprints=fingerprints)
    await reader.round()
    (delivery,) = await queue.fetch()
    digests = {change.id: change.digest for change in delivery.message.changes}
    # As the writer would digest the queued change: display labels left out.
    assert digests == {r.id: fingerprints.digest(r.values, {}) for r in records}
    assert digests["id0"] != fingerprints.digest(records[0].values, records[0].formatted)
