"""The upgrade of crmsync's own tables on SQLite: what a store made before versions gets, and
that an engine is checked once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from crmsync.state import ensure_store_schema, store_schema, upgrade_store
from crmsync.store import create_engine_for


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[sa.Engine]:
    made = create_engine_for(f"sqlite:///{tmp_path / 'store.db'}")
    yield made
    made.dispose()


def test_the_fingerprints_table_of_earlier_releases_is_dropped(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE crmsync_fingerprints (mapping TEXT, key TEXT)")
        conn.exec_driver_sql("CREATE TABLE crmsync_cursors (mapping TEXT PRIMARY KEY)")
    found = store_schema(engine)
    assert (found.current, found.unversioned) == (None, True)
    ensure_store_schema(engine)
    tables = set(sa.inspect(engine).get_table_names())
    assert "crmsync_fingerprints" not in tables
    assert {"crmsync_cursors", "crmsync_rejects", "crmsync_schema_version"} <= tables


def test_a_store_without_crmsyncs_tables_is_new_not_unversioned(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE profile (id INTEGER PRIMARY KEY)")
    found = store_schema(engine)
    assert (found.current, found.unversioned) == (None, False)
    assert [m.version for m in found.pending] == [
        "0001_baseline",
        "0002_upgrade_history",
        "0003_drop_fingerprints",
        "0004_campaign_changes",
        "0005_twoway_base",
        "0006_twoway_conflicts",
        "0007_twoway_sent",
        "0008_leases_workers",
        "0009_audit",
        "0010_privacy",
        "0011_job_schedules",
    ]
    assert all(m.title for m in found.pending)


def test_an_engine_is_checked_once(engine: sa.Engine) -> None:
    ensure_store_schema(engine)
    statements: list[str] = []
    sa.event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    ensure_store_schema(engine)
    assert statements == []


def test_upgrading_an_up_to_date_store_changes_nothing(engine: sa.Engine) -> None:
    first = upgrade_store(engine)
    assert first.current is None
    again = upgrade_store(engine)
    assert (again.current, again.pending) == (first.head, ())
    assert len(store_schema(engine).upgrades) == 1
