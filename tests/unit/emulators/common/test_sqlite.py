"""The emulators' SQLite engine: page size of new files, bulk loading, indexes built after."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

import pytest
import sqlalchemy as sa

from crmsync.emulators.common.sqlite import create_sqlite_engine, indexes_built_after


def _pragma(engine: sa.Engine, name: str) -> object:
    with engine.connect() as conn:
        return conn.exec_driver_sql(f"PRAGMA {name}").scalar_one()


def test_a_new_file_gets_the_page_size_asked_for_and_wal(tmp_path: Path) -> None:
    engine = create_sqlite_engine(tmp_path / "a.db", page_size=16384)
    assert _pragma(engine, "page_size") == 16384
    assert _pragma(engine, "journal_mode") == "wal"
    engine.dispose()


def test_a_bulk_load_has_no_journal(tmp_path: Path) -> None:
    engine = create_sqlite_engine(tmp_path / "a.db", bulk=True)
    assert _pragma(engine, "journal_mode") == "off"
    assert _pragma(engine, "synchronous") == 0
    engine.dispose()
    reopened = create_sqlite_engine(tmp_path / "a.db")
    assert _pragma(reopened, "journal_mode") == "wal"
    reopened.dispose()


def _tables() -> tuple[sa.MetaData, sa.Table, sa.Table]:
    metadata = sa.MetaData()
    empty = sa.Table(
        "empty",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("a", sa.Integer, index=True),
        sa.Column("b", sa.Integer, index=True),
    )
    full = sa.Table(
        "full",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("a", sa.Integer, index=True),
    )
    return metadata, empty, full


def _indexes(engine: sa.Engine, table: str) -> set[str]:
    with engine.connect() as conn:
        return {str(index["name"]) for index in sa.inspect(conn).get_indexes(table)}


@pytest.mark.parametrize("fails", [False, True])
def test_indexes_of_empty_tables_are_built_after_the_load(fails: bool) -> None:
    engine = create_sqlite_engine(None)
    metadata, empty, full = _tables()
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(sa.insert(full).values(a=1))

    @contextmanager
    def transaction() -> Iterator[sa.Connection]:
        with engine.begin() as conn:
            yield conn

    during: dict[str, set[str]] = {}
    with (
        pytest.raises(RuntimeError) if fails else nullcontext(),
        indexes_built_after(transaction, [empty, full], keep={"ix_empty_b"}),
    ):
        during = {"empty": _indexes(engine, "empty"), "full": _indexes(engine, "full")}
        if fails:
            raise RuntimeError("load failed")
    assert during == {"empty": {"ix_empty_b"}, "full": {"ix_full_a"}}
    # Rebuilt even when the load failed: the store stays usable.
    assert _indexes(engine, "empty") == {"ix_empty_a", "ix_empty_b"}
    assert _indexes(engine, "full") == {"ix_full_a"}
    engine.dispose()
