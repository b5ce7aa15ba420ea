"""The workflows' state on the local PostgreSQL: the same behaviour as on SQLite, plus concurrency.

Each test gets a schema of its own on the server of ``tests/integration/conftest.py``; when it
cannot be reached the tests skip, except in CI (``CI=true``), where that is a failure.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from crmsync.state.models import ReplayRefused
from crmsync.state.store import StateStore


def _load_behaviour() -> type:
    """The shared behaviour class, which lives with the unit tests."""
    path = Path(__file__).parents[2] / "unit" / "state" / "state_behaviour.py"
    spec = importlib.util.spec_from_file_location("state_behaviour", path)
    assert spec is not None
    assert spec.loader is not None
    module = sys.modules.get(spec.name) or importlib.util.module_from_spec(spec)
    if spec.name not in sys.modules:
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
    return module.StateBehaviour  # type: ignore[no-any-return]


StateBehaviour = _load_behaviour()


@pytest.fixture
def engine(pg_engine: sa.Engine) -> sa.Engine:
    """The behaviour tests' database: a fresh schema on the local PostgreSQL."""
    return pg_engine


class TestStateOnPostgreSQL(StateBehaviour):  # type: ignore[misc,valid-type]
    pass


def test_concurrent_replay_requests_let_exactly_one_through(engine: sa.Engine) -> None:
    state = StateStore(engine)
    barrier = threading.Barrier(8)
    outcomes: list[str] = []

    def request() -> None:
        barrier.wait()
        try:
            state.replays.request("contacts", backlog=0, table_rows=0)
            outcomes.append("ok")
        except ReplayRefused as exc:
            outcomes.append(str(exc.code))

    threads = [threading.Thread(target=request) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["REPLAY_PENDING"] * 7 + ["ok"]


def test_concurrent_writers_add_counts_without_losing_any(engine: sa.Engine) -> None:
    state = StateStore(engine)

    def write() -> None:
        for _ in range(20):
            with engine.begin() as conn:
                state.counters.add(conn, "contacts", read=3, inserted=1)

    threads = [threading.Thread(target=write) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    counts = state.counters.by_mapping("contacts")["contacts"]
    assert (counts.read, counts.inserted) == (240, 80)


def test_unseen_rows_are_found_by_an_anti_join(engine: sa.Engine) -> None:
    """Not a subquery scanned again for each row when the seen keys outgrow ``work_mem``."""
    state = StateStore(engine)
    rows = sa.Table("keyed", sa.MetaData(), sa.Column("external_id", sa.String(64)))
    rows.create(engine)
    sid = state.snapshots.start("contacts")
    with engine.begin() as conn:
        conn.execute(sa.insert(rows), [{"external_id": f"k{i}"} for i in range(3000)])
        for start in range(0, 3000, 1000):
            keys = [f"k{i}" for i in range(start, start + 1000) if i != 1234]
            state.snapshots.mark_applied(conn, sid, f"m{start}", keys)
        conn.exec_driver_sql("SET LOCAL work_mem = '64kB'")
        query = sa.select(rows.c.external_id).where(state.snapshots.unseen(sid, rows.c.external_id))
        compiled = query.compile(conn)
        plan = "\n".join(conn.exec_driver_sql(f"EXPLAIN {compiled}", compiled.params).scalars())
        assert list(conn.scalars(query)) == ["k1234"]
    assert "Anti Join" in plan
    assert "SubPlan" not in plan


def test_concurrent_takers_of_a_free_lease_let_exactly_one_through(engine: sa.Engine) -> None:
    state = StateStore(engine)
    barrier = threading.Barrier(8)
    tokens: dict[str, int | None] = {}

    def take(holder: str) -> None:
        barrier.wait()
        tokens[holder] = state.leases.take("inbound:contacts", holder, 30)

    threads = [threading.Thread(target=take, args=(f"w{n}",)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [holder for holder, token in tokens.items() if token is not None]
    assert len(winners) == 1
    lease = state.leases.get("inbound:contacts")
    assert lease is not None
    assert (lease.holder, lease.token) == (winners[0], 1)


def test_a_taker_waits_for_the_fenced_save_under_way(engine: sa.Engine) -> None:
    """The lease's row is locked by the check until the save commits: a worker taking the
    expired lease then finds the cursor the old holder saved, never a save landing after it."""
    state = StateStore(engine)
    assert state.leases.take("inbound:contacts", "old", 0.001) == 1
    taken: list[int | None] = []
    with engine.begin() as conn:
        state.leases.check(conn, "inbound:contacts", "old", 1)
        taker = threading.Thread(
            target=lambda: taken.append(state.leases.take("inbound:contacts", "new", 30))
        )
        taker.start()
        taker.join(timeout=0.5)
        assert taker.is_alive(), "the taker did not wait for the save"
        conn.execute(
            state.tables.cursors.insert().values(
                mapping="contacts", cursor="saved by old", updated_at=datetime.now(UTC)
            )
        )
    taker.join(timeout=10)
    assert taken == [2]
    assert state.cursors.load("contacts") == "saved by old"
