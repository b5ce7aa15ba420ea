"""Behaviour of StateStore, run on SQLite (unit) and PostgreSQL (integration).

A test module subclasses :class:`StateBehaviour` and provides an ``engine`` fixture: an engine
on an empty database (or schema) made with the store's engine factory.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from crmsync.connectors.base import CrmType, FieldInfo, Option, TableInfo
from crmsync.state import (
    Counters,
    ParkedChanges,
    Rejects,
    Snapshots,
    StateStore,
    WorkflowStatuses,
)
from crmsync.state.errors import LeaseLostError
from crmsync.state.models import PARENT_MISSING, Counts, ReplayRefused, WorkflowStatus
from crmsync.state.workers import GONE_AFTER_SECONDS, PRUNE_AFTER

T0 = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


class StateBehaviour:
    @pytest.fixture
    def clock(self) -> Clock:
        return Clock()

    @pytest.fixture
    def state(self, engine: sa.Engine, clock: Clock) -> StateStore:
        return StateStore(engine, clock=clock)

    # -- tables ---------------------------------------------------------------------------------

    def test_tables_are_created_on_open_with_the_reserved_prefix(
        self, engine: sa.Engine, state: StateStore
    ) -> None:
        names = set(sa.inspect(engine).get_table_names())
        ours = {t.name for t in state.tables.metadata.sorted_tables}
        assert ours <= names
        assert all(name.startswith("crmsync_") for name in ours)
        StateStore(engine)  # opening again is harmless

    # -- cursors --------------------------------------------------------------------------------

    def test_cursor_save_load_clear(self, state: StateStore, clock: Clock) -> None:
        assert state.cursors.load("contacts") is None
        state.cursors.save("contacts", "token-1")
        state.cursors.save("accounts", "a-1")
        clock.now += timedelta(minutes=5)
        state.cursors.save("contacts", "token-2")
        assert state.cursors.load("contacts") == "token-2"
        assert state.cursors.updated_at("contacts") == clock.now
        assert state.cursors.load("accounts") == "a-1"
        state.cursors.clear("contacts")
        state.cursors.clear("contacts")
        assert state.cursors.load("contacts") is None
        assert state.cursors.load("accounts") == "a-1"

    # -- snapshots ------------------------------------------------------------------------------

    def test_snapshot_is_ready_once_finished_and_every_message_applied(
        self, state: StateStore, engine: sa.Engine
    ) -> None:
        sid = state.snapshots.start("contacts")
        state.snapshots.record_messages(sid, ["m1", "m2"])
        with engine.begin() as conn:
            assert state.snapshots.mark_applied(conn, sid, "m1", ["a", "b"])
        assert not state.snapshots.ready(sid)  # not finished yet
        state.snapshots.record_message(sid, "m3")
        state.snapshots.finish(sid, 3)
        with engine.begin() as conn:
            state.snapshots.mark_applied(conn, sid, "m3", ["c"])
        assert not state.snapshots.ready(sid)
        with engine.begin() as conn:
            state.snapshots.mark_applied(conn, sid, "m2", ["d"])
        assert state.snapshots.ready(sid)
        info = state.snapshots.get(sid)
        assert info is not None
        assert (info.mapping, info.total_messages, info.applied_messages) == ("contacts", 3, 3)

    def test_duplicates_and_early_applies_count_once(
        self, state: StateStore, engine: sa.Engine
    ) -> None:
        sid = state.snapshots.start("contacts")
        with engine.begin() as conn:  # the writer is faster than the reader's bookkeeping
            state.snapshots.mark_applied(conn, sid, "m1", ["a", "a", "b"])
        with engine.begin() as conn:
            state.snapshots.mark_applied(conn, sid, "m1", ["a", "b"])
        state.snapshots.record_messages(sid, ["m1", "m2"])
        state.snapshots.record_message(sid, "m1")
        state.snapshots.finish(sid, 2)
        assert not state.snapshots.ready(sid)
        info = state.snapshots.get(sid)
        assert info is not None
        assert info.applied_messages == 1
        with engine.begin() as conn:
            state.snapshots.mark_applied(conn, sid, "m2", [])
        assert state.snapshots.ready(sid)
        with engine.connect() as conn:
            assert sorted(conn.scalars(state.snapshots.seen_keys_query(sid))) == ["a", "b"]

    def test_messages_of_several_snapshots_are_marked_applied_together(
        self, state: StateStore, engine: sa.Engine
    ) -> None:
        first, second = state.snapshots.start("contacts"), state.snapshots.start("accounts")
        closed = state.snapshots.start("leads")
        state.snapshots.finish(closed, 0)
        state.snapshots.close(closed)
        state.snapshots.record_messages(first, ["m1", "m2"])
        state.snapshots.finish(first, 2)
        applied = [
            (first, "m1", ["a", "b"]),
            (second, "n1", ["x"]),
            (first, "m2", ["b", "c"]),
            (closed, "l1", ["gone"]),
            ("unknown", "u1", ["nope"]),
        ]
        with engine.begin() as conn:
            assert state.snapshots.mark_all_applied(conn, applied) == {first, second}
        with engine.begin() as conn:  # again (a redelivery): nothing changes
            assert state.snapshots.mark_all_applied(conn, applied) == {first, second}
        assert state.snapshots.ready(first)
        info = state.snapshots.get(second)
        assert info is not None
        assert info.applied_messages == 1
        with engine.connect() as conn:
            seen = sorted(set(conn.scalars(state.snapshots.seen_keys_query(first))))
            assert seen == ["a", "b", "c"]
            assert set(conn.scalars(state.snapshots.seen_keys_query(second))) == {"x"}
            assert list(conn.scalars(state.snapshots.seen_keys_query(closed))) == []
            assert state.snapshots.mark_all_applied(conn, []) == set()

    def test_a_rolled_back_apply_leaves_no_trace(
        self, state: StateStore, engine: sa.Engine
    ) -> None:
        sid = state.snapshots.start("contacts")
        state.snapshots.finish(sid, 1)
        with engine.connect() as conn:
            transaction = conn.begin()
            state.snapshots.mark_applied(conn, sid, "m1", ["a"])
            state.counters.add(conn, "contacts", inserted=1)
            state.rejects.add(conn, "inbound", "contacts", "x", "E", "failed batch", {})
            transaction.rollback()  # the batch's Campaign writes failed
        assert not state.snapshots.ready(sid)
        assert state.counters.by_mapping() == {}
        assert state.rejects.count() == 0
        with engine.connect() as conn:
            assert list(conn.scalars(state.snapshots.seen_keys_query(sid))) == []

    def test_seen_keys_drive_an_anti_join_delete(
        self, state: StateStore, engine: sa.Engine
    ) -> None:
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
        sid = state.snapshots.start("contacts")
        other = state.snapshots.start("others")
        with engine.begin() as conn:
            state.snapshots.mark_applied(
                conn, sid, "m1", [f"k{i}" for i in range(1200)] + ["a", "b"]
            )
            state.snapshots.mark_applied(conn, other, "m2", ["gone"])
            # A key stored one row each by an earlier version still counts as seen.
            legacy = state.tables.snapshot_keys
            conn.execute(sa.insert(legacy), [{"snapshot_id": sid, "key": "old"}])
        state.snapshots.finish(sid, 1)
        assert state.snapshots.ready(sid)
        with engine.begin() as conn:
            deleted = conn.execute(
                sa.delete(rows).where(
                    rows.c.external_id.is_not(None), state.snapshots.unseen(sid, rows.c.external_id)
                )
            ).rowcount
        assert deleted == 1
        with engine.connect() as conn:
            left = set(conn.scalars(sa.select(rows.c.external_id)))
        assert left == {"a", "b", "old", None}  # rows without a CRM key are never touched

    def test_key_sets_hold_any_key_one_row_per_message(
        self, state: StateStore, engine: sa.Engine
    ) -> None:
        sid = state.snapshots.start("contacts")
        odd = ["o'brien", 'say "hi"', "ünïcödé", "a,b", "[x]", "\\"]
        keys = [f"k{i}" for i in range(1500)] + odd
        with engine.begin() as conn:
            state.snapshots.mark_applied(conn, sid, "m1", keys)
            state.snapshots.note_seen(
                conn, "contacts", ["late"]
            )  # a delta while the snapshot is open
            state.snapshots.note_seen(conn, "other", ["not-ours"])
        with engine.connect() as conn:
            assert sorted(conn.scalars(state.snapshots.seen_keys_query(sid))) == sorted(
                [*keys, "late"]
            )
            sets = state.tables.snapshot_key_sets
            assert conn.scalar(sa.select(sa.func.count()).select_from(sets)) == 2

    def test_a_message_without_upserts_costs_no_statement(
        self, state: StateStore, engine: sa.Engine
    ) -> None:
        state.snapshots.start("contacts")
        statements: list[str] = []
        sa.event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
        with engine.connect() as conn:
            state.snapshots.note_seen(conn, "contacts", [])
        assert statements == []

    def test_keys_stored_one_row_each_by_earlier_versions_still_count(
        self, state: StateStore, engine: sa.Engine
    ) -> None:
        sid = state.snapshots.start("contacts")  # open across an upgrade
        legacy = state.tables.snapshot_keys
        with engine.begin() as conn:
            conn.execute(sa.insert(legacy), [{"snapshot_id": sid, "key": k} for k in "ab"])
            state.snapshots.mark_applied(conn, sid, "m1", ["b", "c"])
        with engine.connect() as conn:
            assert sorted(conn.scalars(state.snapshots.seen_keys_query(sid))) == ["a", "b", "c"]
        state.snapshots.close(sid)
        with engine.connect() as conn:
            assert list(conn.scalars(state.snapshots.seen_keys_query(sid))) == []
            assert conn.scalar(sa.select(sa.func.count()).select_from(legacy)) == 0

    def test_close_drops_the_keys_and_later_applies(
        self, state: StateStore, engine: sa.Engine
    ) -> None:
        sid = state.snapshots.start("contacts")
        with engine.begin() as conn:
            state.snapshots.mark_applied(conn, sid, "m1", ["a"])
        state.snapshots.finish(sid, 1)
        state.snapshots.close(sid)
        with engine.connect() as conn:
            assert list(conn.scalars(state.snapshots.seen_keys_query(sid))) == []
        with engine.begin() as conn:
            assert not state.snapshots.mark_applied(conn, sid, "m2", ["b"])
        assert not state.snapshots.ready(sid)
        assert state.snapshots.all("contacts") == []
        [closed] = state.snapshots.all("contacts", closed=True)
        assert closed.closed_at is not None
        with pytest.raises(ValueError, match="unknown or closed"):
            state.snapshots.finish(sid, 1)

    def test_a_new_snapshot_abandons_unfinished_ones_only(
        self, state: StateStore, engine: sa.Engine, clock: Clock
    ) -> None:
        finished = state.snapshots.start("contacts")
        state.snapshots.finish(finished, 0)
        clock.now += timedelta(seconds=1)
        crashed = state.snapshots.start("contacts")
        other = state.snapshots.start("accounts")
        with engine.begin() as conn:
            state.snapshots.mark_applied(conn, crashed, "m1", ["a"])
        clock.now += timedelta(seconds=1)
        fresh = state.snapshots.start("contacts")
        assert state.snapshots.get(crashed) is None
        with engine.begin() as conn:
            assert not state.snapshots.mark_applied(conn, crashed, "m2", ["b"])
        assert [s.id for s in state.snapshots.all("contacts")] == [finished, fresh]
        assert state.snapshots.ready(finished)
        assert [s.id for s in state.snapshots.all("accounts")] == [other]
        assert state.snapshots.get("nope") is None
        assert not state.snapshots.ready("nope")

    # -- counters -------------------------------------------------------------------------------

    def test_counters_accumulate_per_mapping(self, state: StateStore, engine: sa.Engine) -> None:
        with engine.begin() as conn:
            state.counters.add(conn, "contacts", read=10, inserted=7, unchanged=3)
            state.counters.add(conn, "accounts", read=1, campaign_writes=1)
        with engine.begin() as conn:
            state.counters.add(conn, "contacts", read=5, updated=5, crm_calls=2)
            state.counters.add(conn, "empty", read=0)
        all_counts = state.counters.by_mapping()
        assert set(all_counts) == {"accounts", "contacts"}
        assert all_counts["contacts"] == Counts(
            read=15, inserted=7, updated=5, unchanged=3, crm_calls=2
        )
        assert state.counters.by_mapping("accounts")["accounts"].as_dict()["campaign_writes"] == 1
        assert state.counters.by_mapping("unknown") == {}

    def test_unknown_counters_are_refused(self, state: StateStore, engine: sa.Engine) -> None:
        with engine.begin() as conn, pytest.raises(ValueError, match="unknown counters"):
            state.counters.add(conn, "contacts", inserts=1)

    # -- rejects --------------------------------------------------------------------------------

    def test_rejects_are_kept_and_filtered_newest_first(
        self, state: StateStore, engine: sa.Engine, clock: Clock
    ) -> None:
        with engine.begin() as conn:
            state.rejects.add(conn, "inbound", "contacts", "c1", "BAD_DATE", "no date", {"d": "x"})
            clock.now += timedelta(seconds=1)
            state.rejects.add(
                conn, "inbound", "contacts", "c2", "TOO_LONG", "too long", {"at": clock.now}
            )
            state.rejects.add(conn, "outbound", None, None, "TOO_LONG", "event", {})
        latest = state.rejects.newest()
        assert [r.record_id for r in latest] == [None, "c2", "c1"]
        assert latest[1].record == {"at": clock.now.isoformat()}
        assert latest[1].at == clock.now
        assert [r.record_id for r in state.rejects.newest(mapping="contacts", code="TOO_LONG")] == [
            "c2"
        ]
        assert [r.workflow for r in state.rejects.newest(workflow="outbound")] == ["outbound"]
        assert len(state.rejects.newest(limit=2)) == 2
        assert state.rejects.count() == 3
        assert state.rejects.count("contacts") == 2

    # -- parked children ------------------------------------------------------------------------

    def test_parked_children_wait_for_their_parent(
        self, state: StateStore, engine: sa.Engine
    ) -> None:
        with engine.begin() as conn:
            assert state.parked.park(conn, "subs", "s1", "profile", "p1", {"id": "s1"}, version=1)
            assert not state.parked.park(
                conn, "subs", "s1", "profile", "p1", {"id": "s1"}, version=1
            )
            assert state.parked.park(
                conn, "subs", "s1", "profile", "p1", {"id": "s1", "v": 2}, version=2
            )
            assert state.parked.park(conn, "subs", "s2", "profile", "p2", {"id": "s2"})
            assert state.parked.park(conn, "orders", "o1", "account", "p1", {"id": "o1"})
        assert state.parked.count() == 4
        assert state.parked.count("subs") == 3
        waiting = state.parked.waiting_for("profile", ["p1", "p9"])
        assert [(p.record_id, p.version) for p in waiting] == [("s1", "1"), ("s1", "2")]
        assert waiting[1].payload == {"id": "s1", "v": 2}
        assert state.parked.waiting_for("profile", [f"x{i}" for i in range(1100)]) == []
        with engine.begin() as conn:
            assert state.parked.unpark(conn, [p.id for p in waiting]) == 2
        assert state.parked.count("subs") == 1
        [s2] = state.parked.waiting_for("profile", ["p2"])
        assert s2.version is None

    def test_children_whose_parent_never_comes_become_rejects(
        self, state: StateStore, engine: sa.Engine, clock: Clock
    ) -> None:
        with engine.begin() as conn:
            state.parked.park(conn, "subs", "old", "profile", "p1", {"id": "old"})
        clock.now += timedelta(hours=2)
        with engine.begin() as conn:
            state.parked.park(conn, "subs", "new", "profile", "p2", {"id": "new"})
        cutoff = clock.now - timedelta(hours=1)
        assert [p.record_id for p in state.parked.expired(cutoff)] == ["old"]
        expired = state.parked.reject_expired("inbound", cutoff)
        assert [p.record_id for p in expired] == ["old"]
        assert state.parked.reject_expired("inbound", cutoff) == []
        [reject] = state.rejects.newest(code=PARENT_MISSING)
        assert (reject.mapping, reject.record_id, reject.record) == ("subs", "old", {"id": "old"})
        assert "profile 'p1'" in reject.message
        assert state.parked.count() == 1

    # -- replays --------------------------------------------------------------------------------

    def test_a_replay_is_pending_until_taken(self, state: StateStore, clock: Clock) -> None:
        request = state.replays.request("contacts", backlog=10, table_rows=500)
        assert (request.status, request.requested_at, request.taken_at) == ("pending", T0, None)
        assert [r.mapping for r in state.replays.pending()] == ["contacts"]
        with pytest.raises(ReplayRefused, match="a replay of 'contacts' is already pending") as e:
            state.replays.request("contacts", backlog=0, table_rows=0)
        assert e.value.code == "REPLAY_PENDING"
        assert state.replays.take("accounts") is None
        clock.now += timedelta(minutes=1)
        taken = state.replays.take("contacts")
        assert taken is not None
        assert (taken.status, taken.taken_at, taken.backlog) == ("taken", clock.now, 10)
        assert state.replays.take("contacts") is None
        assert state.replays.pending() == []
        again = state.replays.request("contacts", backlog=1, table_rows=2)
        assert (again.status, again.taken_at, again.table_rows) == ("pending", None, 2)

    @pytest.mark.parametrize(
        ("backlog", "rows", "code", "text"),
        [
            (2_000_000, 5, "REPLAY_BACKLOG_LIMIT", "backlog holds 2,000,000 changes"),
            (5, 2_500_000, "REPLAY_TABLE_LIMIT", "table holds 2,500,000 rows"),
        ],
    )
    def test_replay_limits_say_which_was_hit(
        self, state: StateStore, backlog: int, rows: int, code: str, text: str
    ) -> None:
        with pytest.raises(ReplayRefused, match=text) as caught:
            state.replays.request("contacts", backlog=backlog, table_rows=rows)
        assert caught.value.code == code
        assert caught.value.limit == 2_000_000
        assert "2,000,000" in caught.value.message
        assert state.replays.pending() == []
        state.replays.request(
            "contacts", backlog=backlog, table_rows=rows, limit_backlog=10**9, limit_rows=10**9
        )
        assert len(state.replays.pending()) == 1

    # -- workflow status ------------------------------------------------------------------------

    def test_workflow_status(self, state: StateStore, clock: Clock) -> None:
        assert state.statuses.all() == {}
        state.statuses.set("inbound", WorkflowStatus.STARTING)
        clock.now += timedelta(seconds=3)
        state.statuses.set("inbound", "FAILED", reason="change tracking is disabled on contact")
        state.statuses.set("outbound", WorkflowStatus.STOPPED)
        statuses = state.statuses.all()
        assert statuses["inbound"].status is WorkflowStatus.FAILED
        assert statuses["inbound"].reason == "change tracking is disabled on contact"
        assert statuses["inbound"].updated_at == clock.now
        assert statuses["outbound"].reason is None
        with pytest.raises(ValueError, match="PAUSED"):
            state.statuses.set("inbound", "PAUSED")

    def test_each_part_opens_alone(self, engine: sa.Engine) -> None:
        WorkflowStatuses(engine).set("outbound", WorkflowStatus.RUNNING, "alone")
        ParkedChanges(engine).reject_expired("inbound", datetime.now(UTC))
        assert StateStore(engine).statuses.all()["outbound"].reason == "alone"
        assert (Counters(engine).by_mapping(), Rejects(engine).count()) == ({}, 0)
        snapshot = Snapshots(engine).start("contacts")
        assert StateStore(engine).snapshots.get(snapshot) is not None

    # -- leases ---------------------------------------------------------------------------------

    def test_a_lease_has_one_holder_until_it_expires(self, state: StateStore, clock: Clock) -> None:
        leases = state.leases
        assert leases.take("inbound:contacts", "a", 6) == 1
        assert leases.take("inbound:contacts", "b", 6) is None
        clock.now += timedelta(seconds=5)
        assert leases.take("inbound:contacts", "a", 6) == 1  # renewed: the same token
        clock.now += timedelta(seconds=5)
        assert leases.take("inbound:contacts", "b", 6) is None  # renewed 5 s ago
        clock.now += timedelta(seconds=1)
        assert leases.take("inbound:contacts", "b", 6) == 2
        lease = leases.get("inbound:contacts")
        assert lease is not None
        assert (lease.holder, lease.token, lease.acquired_at) == ("b", 2, clock.now)
        assert leases.take("inbound:contacts", "a", 6) is None
        assert [held.name for held in leases.held("inbound:")] == ["inbound:contacts"]

    def test_a_released_lease_is_free_with_a_higher_token(
        self, state: StateStore, clock: Clock
    ) -> None:
        leases = state.leases
        assert leases.take("outbound", "a", 60) == 1
        leases.release("outbound", "b")  # not b's: nothing changes
        assert leases.take("outbound", "b", 60) is None
        leases.release("outbound", "a")
        assert leases.held() == []
        assert leases.take("outbound", "b", 60) == 2

    def test_a_dead_holders_lease_is_broken(self, state: StateStore) -> None:
        leases = state.leases
        assert leases.take("optinout", "a", 60) == 1
        assert leases.take("optinout", "b", 60, breaking="c") is None
        assert leases.take("optinout", "b", 60, breaking="a") == 2

    def test_a_fenced_save_is_refused_once_the_lease_is_lost(
        self, state: StateStore, clock: Clock
    ) -> None:
        leases = state.leases
        token = leases.take("inbound:contacts", "a", 6)
        assert token == 1

        def fence(conn: sa.Connection) -> None:
            leases.check(conn, "inbound:contacts", "a", token)

        state.cursors.save("contacts", "first", 10, fence=fence)
        snapshot = state.snapshots.start("contacts", fence=fence)
        clock.now += timedelta(seconds=7)
        assert leases.take("inbound:contacts", "b", 6) == 2
        with pytest.raises(LeaseLostError) as caught:
            state.cursors.save("contacts", "second", 20, fence=fence)
        assert (caught.value.lease, caught.value.holder) == ("inbound:contacts", "a")
        with pytest.raises(LeaseLostError):
            state.snapshots.start("contacts", fence=fence)
        with pytest.raises(LeaseLostError):
            state.snapshots.finish(snapshot, 3, fence=fence)
        assert (state.cursors.load("contacts"), state.cursors.watermark("contacts")) == (
            "first",
            10,
        )
        assert state.snapshots.get(snapshot) is not None

    # -- workers --------------------------------------------------------------------------------

    def test_workers_are_listed_with_their_leases_and_gone_when_silent(
        self, state: StateStore, clock: Clock
    ) -> None:
        workers = state.workers
        workers.register("w1", "reader", "host-a", "host-a boot", 11)
        workers.register("w2", "writer", "host-b", "host-b boot", 22)
        state.leases.take("inbound:contacts", "w1", 6)
        state.leases.take("outbound", "w2", 6)
        clock.now += timedelta(seconds=GONE_AFTER_SECONDS - 1)
        workers.beat("w1")
        state.leases.take("inbound:contacts", "w1", 6)
        clock.now += timedelta(seconds=2)
        views = {view.id: view for view in workers.all()}
        assert (views["w1"].gone, views["w1"].holds, views["w1"].role) == (
            False,
            ("inbound:contacts",),
            "reader",
        )
        assert (views["w2"].gone, views["w2"].holds) == (True, ())
        assert [view.id for view in workers.all()] == ["w1", "w2"]  # the live ones first
        assert [view.id for view in workers.alive(["reader"])] == ["w1"]
        assert workers.alive(["writer"]) == []
        workers.stopped("w1")
        assert workers.alive() == []
        assert workers.get("w1") is not None

    def test_long_gone_workers_are_pruned_by_the_next_start(
        self, state: StateStore, clock: Clock
    ) -> None:
        state.workers.register("old", "all", "h", "h boot", 1)
        state.workers.register("stopped", "all", "h", "h boot", 2)
        state.workers.stopped("stopped")
        clock.now += PRUNE_AFTER - timedelta(seconds=1)
        state.workers.beat("stopped")  # a beat does not bring a stopped worker back
        state.workers.register("new", "writer", "h", "h boot", 3)
        assert {view.id for view in state.workers.all()} == {"old", "stopped", "new"}
        clock.now += timedelta(seconds=2)
        state.workers.register("newer", "writer", "h", "h boot", 4)
        assert {view.id for view in state.workers.all()} == {"new", "newer"}

    def test_crm_tables_are_saved_for_the_writers(self, state: StateStore) -> None:
        info = TableInfo(
            "contact",
            "contacts",
            "contactid",
            "fullname",
            True,
            {
                "gendercode": FieldInfo(
                    "gendercode", CrmType.PICKLIST, options=(Option(1, "Male"), Option("2", "x"))
                ),
                "lastname": FieldInfo("lastname", CrmType.STRING, required=True),
            },
            version_field="versionnumber",
            alternate_keys=(("emailaddress1",),),
        )
        assert state.crm_tables.load("dynamics", "contact") is None
        state.crm_tables.save("dynamics", info)
        state.crm_tables.save("dynamics", info)
        assert state.crm_tables.load("dynamics", "contact") == info
        assert state.crm_tables.load("salesforce", "contact") is None
