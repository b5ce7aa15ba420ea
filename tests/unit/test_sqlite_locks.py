"""Opening a new SQLite file while another connection holds its write lock: the switch to the
write-ahead log, which SQLite's busy timeout does not wait for, is tried again instead of failing
(the store and the queue alike)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from crmsync.queue.sqlite import SQLiteQueue
from crmsync.sqlite_locks import LOCK_ATTEMPTS, use_wal, when_unlocked
from crmsync.store import create_engine_for


@contextmanager
def locked_for(path: Path, seconds: float) -> Iterator[None]:
    """A new file whose write lock another connection holds for ``seconds``."""
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("CREATE TABLE earlier (x INTEGER)")
    holder.execute("BEGIN IMMEDIATE")
    release = threading.Timer(seconds, lambda: holder.execute("ROLLBACK"))
    release.start()
    try:
        yield
    finally:
        release.join()
        holder.close()


def open_file(path: Path) -> str:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA busy_timeout=10000")
        use_wal(conn)
        return str(conn.execute("PRAGMA journal_mode").fetchone()[0])
    finally:
        conn.close()


def open_queue(path: Path) -> str:
    asyncio.run(SQLiteQueue(path).aclose())
    return open_file(path)


def open_store(path: Path) -> str:
    engine = create_engine_for(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            return str(conn.exec_driver_sql("PRAGMA journal_mode").scalar_one())
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    "open_", [open_file, open_queue, open_store], ids=["connection", "queue", "store"]
)
def test_a_new_file_locked_by_another_connection_is_switched_to_wal_once_free(
    tmp_path: Path, open_: Callable[[Path], str]
) -> None:
    path = tmp_path / "new.db"
    with locked_for(path, 0.3):
        assert open_(path) == "wal"


def test_a_lock_that_stays_is_reported_after_the_last_try(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("crmsync.sqlite_locks.time.sleep", lambda _seconds: None)
    tries = 0

    def locked() -> None:
        nonlocal tries
        tries += 1
        raise sqlite3.OperationalError("database is locked")

    with pytest.raises(sqlite3.OperationalError, match="locked"):
        when_unlocked(locked)
    assert tries == LOCK_ATTEMPTS


def test_other_errors_are_not_tried_again() -> None:
    tries = 0

    def broken() -> None:
        nonlocal tries
        tries += 1
        raise sqlite3.OperationalError("no such table: t")

    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        when_unlocked(broken)
    assert tries == 1
