"""Behaviour of SyncState, run on SQLite (unit) and PostgreSQL (integration).

A test module subclasses :class:`SyncStateBehaviour` and provides an ``engine`` fixture: an engine
on an empty database (or schema) made with the store's engine factory.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from crmsync.sync.state import SyncState
from crmsync.sync.state_models import PARENT_MISSING, Counts, ReplayRefused, WorkflowStatus

T0 = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


class SyncStateBehaviour:
    @pytest.fixture
    def clock(self) -> Clock:
        return Clock()

    @pytest.fixture
    def state(self, engine: sa.Engine, clock: Clock) -> SyncState:
        return SyncState(engine, clock=clock)

    # -- tables ---------------------------------------------------------------------------------

    def test_tables_are_created_on_open_with_the_reserved_prefix(
        self, engine: sa.Engine, state: SyncState
    ) -> None:
        names = set(sa.inspect(engine).get_table_names())
        ours = {t.name for t in state.tables.metadata.sorted_tables}
        assert ours <= names
        assert all(name.startswith("crmsync_") for name in ours)
        SyncState(engine)  # opening again is harmless

    # -- cursors --------------------------------------------------------------------------------

    def test_cursor_save_load_clear(self, state: SyncState, clock: Clock) -> None:
        assert state.load_cursor("contacts") is None
        state.save_cursor("contacts", "token-1")
        state.save_cursor("accounts", "a-1")
        clock.now += timedelta(minutes=5)
        state.save_cursor("contacts", "token-2")
        assert state.load_cursor("contacts") == "token-2"
        assert state.cursor_updated_at("contacts") == clock.now
        assert state.load_cursor("accounts") == "a-1"
        state.clear_cursor("contacts")
        state.clear_cursor("contacts")
        assert state.load_cursor("contacts") is None
        assert state.load_cursor("accounts") == "a-1"

    # -- snapshots ------------------------------------------------------------------------------

    def test_snapshot_is_ready_once_finished_and_every_message_applied(
        self, state: SyncState, engine: sa.Engine
    ) -> None:
        sid = state.start_snapshot("contacts")
        state.record_snapshot_messages(sid, ["m1", "m2"])
        with engine.begin() as conn:
            assert state.mark_applied(conn, sid, "m1", ["a", "b"])
        assert not state.snapshot_ready(sid)  # not finished yet
        state.record_snapshot_message(sid, "m3")
        state.finish_snapshot(sid, 3)
        with engine.begin() as conn:
            state.mark_applied(conn, sid, "m3", ["c"])
        assert not state.snapshot_ready(sid)
        with engine.begin() as conn:
            state.mark_applied(conn, sid, "m2", ["d"])
        assert state.snapshot_ready(sid)
        info = state.snapshot(sid)
        assert info is not None
        assert (info.mapping, info.total_messages, info.applied_messages) == ("contacts", 3, 3)

    def test_duplicates_and_early_applies_count_once(
        self, state: SyncState, engine: sa.Engine
    ) -> None:
        sid = state.start_snapshot("contacts")
        with engine.begin() as conn:  # the writer is faster than the reader's bookkeeping
            state.mark_applied(conn, sid, "m1", ["a", "a", "b"])
        with engine.begin() as conn:
            state.mark_applied(conn, sid, "m1", ["a", "b"])
        state.record_snapshot_messages(sid, ["m1", "m2"])
        state.record_snapshot_message(sid, "m1")
        state.finish_snapshot(sid, 2)
        assert not state.snapshot_ready(sid)
        info = state.snapshot(sid)
        assert info is not None
        assert info.applied_messages == 1
        with engine.begin() as conn:
            state.mark_applied(conn, sid, "m2", [])
        assert state.snapshot_ready(sid)
        with engine.connect() as conn:
            assert sorted(conn.scalars(state.seen_keys_query(sid))) == ["a", "b"]

    def test_a_rolled_back_apply_leaves_no_trace(self, state: SyncState, engine: sa.Engine) -> None:
        sid = state.start_snapshot("contacts")
        state.finish_snapshot(sid, 1)
        with engine.connect() as conn:
            transaction = conn.begin()
            state.mark_applied(conn, sid, "m1", ["a"])
            state.add_counts(conn, "contacts", inserted=1)
            state.add_reject(conn, "inbound", "contacts", "x", "E", "failed batch", {})
            transaction.rollback()  # the batch's Campaign writes failed
        assert not state.snapshot_ready(sid)
        assert state.counters() == {}
        assert state.reject_count() == 0
        with engine.connect() as conn:
            assert list(conn.scalars(state.seen_keys_query(sid))) == []

    def test_seen_keys_drive_an_anti_join_delete(self, state: SyncState, engine: sa.Engine) -> None:
        rows = sa.Table(
            "profile_like",
            sa.MetaData(),
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("external_id", sa.String(64)),
        )
        rows.create(engine)
        with engine.begin() as conn:
            conn.execute(
                sa.insert(rows),
                [{"external_id": k} for k in ("a", "b", "old", "gone", None)],
            )
        sid = state.start_snapshot("contacts")
        other = state.start_snapshot("others")
        with engine.begin() as conn:
            state.mark_applied(conn, sid, "m1", [f"k{i}" for i in range(1200)] + ["a", "b"])
            state.mark_applied(conn, other, "m2", ["gone"])
            # A key stored one row each by an earlier version still counts as seen.
            legacy = state.tables.snapshot_keys
            conn.execute(sa.insert(legacy), [{"snapshot_id": sid, "key": "old"}])
        state.finish_snapshot(sid, 1)
        assert state.snapshot_ready(sid)
        with engine.begin() as conn:
            deleted = conn.execute(
                sa.delete(rows).where(
                    rows.c.external_id.is_not(None), state.unseen(sid, rows.c.external_id)
                )
            ).rowcount
        assert deleted == 1
        with engine.connect() as conn:
            left = set(conn.scalars(sa.select(rows.c.external_id)))
        assert left == {"a", "b", "old", None}  # rows without a CRM key are never touched

    def test_key_sets_hold_any_key_one_row_per_message(
        self, state: SyncState, engine: sa.Engine
    ) -> None:
        sid = state.start_snapshot("contacts")
        odd = ["o'brien", 'say "hi"', "ünïcödé", "a,b", "[x]", "\\"]
        keys = [f"k{i}" for i in range(1500)] + odd
        with engine.begin() as conn:
            state.mark_applied(conn, sid, "m1", keys)
            state.note_seen(conn, "contacts", ["late"])  # a delta while the snapshot is open
            state.note_seen(conn, "other", ["not-ours"])
        with engine.connect() as conn:
            assert sorted(conn.scalars(state.seen_keys_query(sid))) == sorted([*keys, "late"])
            sets = state.tables.snapshot_key_sets
            assert conn.scalar(sa.select(sa.func.count()).select_from(sets)) == 2

    def test_a_message_without_upserts_costs_no_statement(
        self, state: SyncState, engine: sa.Engine
    ) -> None:
        state.start_snapshot("contacts")
        statements: list[str] = []
        sa.event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
        with engine.connect() as conn:
            state.note_seen(conn, "contacts", [])
        assert statements == []

    def test_keys_stored_one_row_each_by_earlier_versions_still_count(
        self, state: SyncState, engine: sa.Engine
    ) -> None:
        sid = state.start_snapshot("contacts")  # open across an upgrade
        legacy = state.tables.snapshot_keys
        with engine.begin() as conn:
            conn.execute(sa.insert(legacy), [{"snapshot_id": sid, "key": k} for k in "ab"])
            state.mark_applied(conn, sid, "m1", ["b", "c"])
        with engine.connect() as conn:
            assert sorted(conn.scalars(state.seen_keys_query(sid))) == ["a", "b", "c"]
        state.close_snapshot(sid)
        with engine.connect() as conn:
            assert list(conn.scalars(state.seen_keys_query(sid))) == []
            assert conn.scalar(sa.select(sa.func.count()).select_from(legacy)) == 0

    def test_close_drops_the_keys_and_later_applies(
        self, state: SyncState, engine: sa.Engine
    ) -> None:
        sid = state.start_snapshot("contacts")
        with engine.begin() as conn:
            state.mark_applied(conn, sid, "m1", ["a"])
        state.finish_snapshot(sid, 1)
        state.close_snapshot(sid)
        with engine.connect() as conn:
            assert list(conn.scalars(state.seen_keys_query(sid))) == []
        with engine.begin() as conn:
            assert not state.mark_applied(conn, sid, "m2", ["b"])
        assert not state.snapshot_ready(sid)
        assert state.snapshots("contacts") == []
        [closed] = state.snapshots("contacts", closed=True)
        assert closed.closed_at is not None
        with pytest.raises(ValueError, match="unknown or closed"):
            state.finish_snapshot(sid, 1)

    def test_a_new_snapshot_abandons_unfinished_ones_only(
        self, state: SyncState, engine: sa.Engine, clock: Clock
    ) -> None:
        finished = state.start_snapshot("contacts")
        state.finish_snapshot(finished, 0)
        clock.now += timedelta(seconds=1)
        crashed = state.start_snapshot("contacts")
        other = state.start_snapshot("accounts")
        with engine.begin() as conn:
            state.mark_applied(conn, crashed, "m1", ["a"])
        clock.now += timedelta(seconds=1)
        fresh = state.start_snapshot("contacts")
        assert state.snapshot(crashed) is None
        with engine.begin() as conn:
            assert not state.mark_applied(conn, crashed, "m2", ["b"])
        assert [s.id for s in state.snapshots("contacts")] == [finished, fresh]
        assert state.snapshot_ready(finished)
        assert [s.id for s in state.snapshots("accounts")] == [other]
        assert state.snapshot("nope") is None
        assert not state.snapshot_ready("nope")

    # -- counters -------------------------------------------------------------------------------

    def test_counters_accumulate_per_mapping(self, state: SyncState, engine: sa.Engine) -> None:
        with engine.begin() as conn:
            state.add_counts(conn, "contacts", read=10, inserted=7, unchanged=3)
            state.add_counts(conn, "accounts", read=1, campaign_writes=1)
        with engine.begin() as conn:
            state.add_counts(conn, "contacts", read=5, updated=5, crm_calls=2)
            state.add_counts(conn, "empty", read=0)
        all_counts = state.counters()
        assert set(all_counts) == {"accounts", "contacts"}
        assert all_counts["contacts"] == Counts(
            read=15, inserted=7, updated=5, unchanged=3, crm_calls=2
        )
        assert state.counters("accounts")["accounts"].as_dict()["campaign_writes"] == 1
        assert state.counters("unknown") == {}

    def test_unknown_counters_are_refused(self, state: SyncState, engine: sa.Engine) -> None:
        with engine.begin() as conn, pytest.raises(ValueError, match="unknown counters"):
            state.add_counts(conn, "contacts", inserts=1)

    # -- rejects --------------------------------------------------------------------------------

    def test_rejects_are_kept_and_filtered_newest_first(
        self, state: SyncState, engine: sa.Engine, clock: Clock
    ) -> None:
        with engine.begin() as conn:
            state.add_reject(conn, "inbound", "contacts", "c1", "BAD_DATE", "no date", {"d": "x"})
            clock.now += timedelta(seconds=1)
            state.add_reject(
                conn, "inbound", "contacts", "c2", "TOO_LONG", "too long", {"at": clock.now}
            )
            state.add_reject(conn, "outbound", None, None, "TOO_LONG", "event", {})
        latest = state.rejects()
        assert [r.record_id for r in latest] == [None, "c2", "c1"]
        assert latest[1].record == {"at": clock.now.isoformat()}
        assert latest[1].at == clock.now
        assert [r.record_id for r in state.rejects(mapping="contacts", code="TOO_LONG")] == ["c2"]
        assert [r.workflow for r in state.rejects(workflow="outbound")] == ["outbound"]
        assert len(state.rejects(limit=2)) == 2
        assert state.reject_count() == 3
        assert state.reject_count("contacts") == 2

    # -- parked children ------------------------------------------------------------------------

    def test_parked_children_wait_for_their_parent(
        self, state: SyncState, engine: sa.Engine
    ) -> None:
        with engine.begin() as conn:
            assert state.park(conn, "subs", "s1", "profile", "p1", {"id": "s1"}, version=1)
            assert not state.park(conn, "subs", "s1", "profile", "p1", {"id": "s1"}, version=1)
            assert state.park(conn, "subs", "s1", "profile", "p1", {"id": "s1", "v": 2}, version=2)
            assert state.park(conn, "subs", "s2", "profile", "p2", {"id": "s2"})
            assert state.park(conn, "orders", "o1", "account", "p1", {"id": "o1"})
        assert state.parked_count() == 4
        assert state.parked_count("subs") == 3
        waiting = state.parked_waiting_for("profile", ["p1", "p9"])
        assert [(p.record_id, p.version) for p in waiting] == [("s1", "1"), ("s1", "2")]
        assert waiting[1].payload == {"id": "s1", "v": 2}
        assert state.parked_waiting_for("profile", [f"x{i}" for i in range(1100)]) == []
        with engine.begin() as conn:
            assert state.unpark(conn, [p.id for p in waiting]) == 2
        assert state.parked_count("subs") == 1
        [s2] = state.parked_waiting_for("profile", ["p2"])
        assert s2.version is None

    def test_children_whose_parent_never_comes_become_rejects(
        self, state: SyncState, engine: sa.Engine, clock: Clock
    ) -> None:
        with engine.begin() as conn:
            state.park(conn, "subs", "old", "profile", "p1", {"id": "old"})
        clock.now += timedelta(hours=2)
        with engine.begin() as conn:
            state.park(conn, "subs", "new", "profile", "p2", {"id": "new"})
        cutoff = clock.now - timedelta(hours=1)
        assert [p.record_id for p in state.expired_parked(cutoff)] == ["old"]
        expired = state.reject_expired_parked("inbound", cutoff)
        assert [p.record_id for p in expired] == ["old"]
        assert state.reject_expired_parked("inbound", cutoff) == []
        [reject] = state.rejects(code=PARENT_MISSING)
        assert (reject.mapping, reject.record_id, reject.record) == ("subs", "old", {"id": "old"})
        assert "profile 'p1'" in reject.message
        assert state.parked_count() == 1

    # -- replays --------------------------------------------------------------------------------

    def test_a_replay_is_pending_until_taken(self, state: SyncState, clock: Clock) -> None:
        request = state.request_replay("contacts", backlog=10, table_rows=500)
        assert (request.status, request.requested_at, request.taken_at) == ("pending", T0, None)
        assert [r.mapping for r in state.pending_replays()] == ["contacts"]
        with pytest.raises(ReplayRefused, match="a replay of 'contacts' is already pending") as e:
            state.request_replay("contacts", backlog=0, table_rows=0)
        assert e.value.code == "REPLAY_PENDING"
        assert state.take_replay("accounts") is None
        clock.now += timedelta(minutes=1)
        taken = state.take_replay("contacts")
        assert taken is not None
        assert (taken.status, taken.taken_at, taken.backlog) == ("taken", clock.now, 10)
        assert state.take_replay("contacts") is None
        assert state.pending_replays() == []
        again = state.request_replay("contacts", backlog=1, table_rows=2)
        assert (again.status, again.taken_at, again.table_rows) == ("pending", None, 2)

    @pytest.mark.parametrize(
        ("backlog", "rows", "code", "text"),
        [
            (2_000_000, 5, "REPLAY_BACKLOG_LIMIT", "backlog holds 2,000,000 changes"),
            (5, 2_500_000, "REPLAY_TABLE_LIMIT", "table holds 2,500,000 rows"),
        ],
    )
    def test_replay_limits_say_which_was_hit(
        self, state: SyncState, backlog: int, rows: int, code: str, text: str
    ) -> None:
        with pytest.raises(ReplayRefused, match=text) as caught:
            state.request_replay("contacts", backlog=backlog, table_rows=rows)
        assert caught.value.code == code
        assert caught.value.limit == 2_000_000
        assert "2,000,000" in caught.value.message
        assert state.pending_replays() == []
        state.request_replay(
            "contacts", backlog=backlog, table_rows=rows, limit_backlog=10**9, limit_rows=10**9
        )
        assert len(state.pending_replays()) == 1

    # -- workflow status ------------------------------------------------------------------------

    def test_workflow_status(self, state: SyncState, clock: Clock) -> None:
        assert state.statuses() == {}
        state.set_status("inbound", WorkflowStatus.STARTING)
        clock.now += timedelta(seconds=3)
        state.set_status("inbound", "FAILED", reason="change tracking is disabled on contact")
        state.set_status("outbound", WorkflowStatus.STOPPED)
        statuses = state.statuses()
        assert statuses["inbound"].status is WorkflowStatus.FAILED
        assert statuses["inbound"].reason == "change tracking is disabled on contact"
        assert statuses["inbound"].updated_at == clock.now
        assert statuses["outbound"].reason is None
        with pytest.raises(ValueError, match="PAUSED"):
            state.set_status("inbound", "PAUSED")
