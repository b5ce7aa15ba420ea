"""SQLite's "database is locked" where the busy timeout does not wait: tried again instead.

Both embedded files (the store and the queue) are opened by several connections at once when
crmsync starts. SQLite's busy timeout makes a connection wait for another's lock in most cases,
but not all: switching a new file to the write-ahead log fails at once while another connection
(the first to switch it) holds a lock, and a busy timeout that ran out leaves the caller with the
error. :func:`when_unlocked` tries such a step again after a growing pause, a bounded number of
times; :func:`use_wal` is the journal switch done that way.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable
from typing import TypeVar

__all__ = ["LOCK_ATTEMPTS", "is_locked", "use_wal", "when_unlocked"]

logger = logging.getLogger(__name__)
_T = TypeVar("_T")

#: Tries of a step that fails with "database is locked" before the error is raised.
LOCK_ATTEMPTS = 6


def is_locked(exc: BaseException) -> bool:
    """Whether ``exc`` (SQLite's own, or a wrapper with it as ``orig``) is "database is locked"."""
    cause = getattr(exc, "orig", exc)
    return isinstance(cause, sqlite3.OperationalError) and "database is locked" in str(cause)


def when_unlocked(action: Callable[[], _T]) -> _T:
    """``action()``, tried again after a growing pause (0.2 s doubling, at most 2 s) while it
    fails with "database is locked", :data:`LOCK_ATTEMPTS` tries in all."""
    attempt = 1
    while True:
        try:
            return action()
        except Exception as exc:
            if not is_locked(exc) or attempt == LOCK_ATTEMPTS:
                raise
        logger.warning("the SQLite file is locked by another connection: waiting (%d)", attempt)
        time.sleep(min(0.1 * 2**attempt, 2.0))
        attempt += 1


def use_wal(conn: sqlite3.Connection) -> None:
    """Put the file of ``conn`` in write-ahead-log mode (it stays so: later opens only read it)."""
    if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
        when_unlocked(lambda: conn.execute("PRAGMA journal_mode=WAL"))
