"""The SQLite engine both emulators' stores run on: one shared connection, real SAVEPOINTs.

A file-backed database is opened in WAL mode (readers do not wait for the writer; ``synchronous``
relaxed to NORMAL, which is crash-safe in WAL mode); ``None`` keeps the data in memory. The page
cache is bounded (64 MiB), so a file of any size is served in bounded memory.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection, Engine
from sqlalchemy.pool import StaticPool

__all__ = ["create_sqlite_engine", "indexes_built_after"]


def create_sqlite_engine(
    path: Path | None, *, page_size: int | None = None, bulk: bool = False
) -> Engine:
    """An engine on ``path`` (in memory when ``None``) whose one connection threads share.

    ``page_size`` (bytes) applies to a new database only: larger pages keep long rows out of
    overflow chains. ``bulk`` is for filling a new file that nothing else reads and that is
    thrown away unless the load completes (see :mod:`.datafile`): no rollback journal and no
    syncs, which makes a load of millions of rows several times faster.
    """
    url = "sqlite://" if path is None else f"sqlite:///{path}"
    engine = sa.create_engine(url, poolclass=StaticPool, connect_args={"check_same_thread": False})

    # pysqlite's own transaction handling does not let SAVEPOINT work; take it over
    # (the approach SQLAlchemy documents for the pysqlite driver).
    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        # Before the journal mode: a database in WAL mode keeps the page size it has.
        if page_size is not None:
            cursor.execute(f"PRAGMA page_size={int(page_size)}")
        if path is not None and bulk:
            cursor.execute("PRAGMA journal_mode=OFF")
            cursor.execute("PRAGMA synchronous=OFF")
        elif path is not None:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA cache_size=-65536")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN")

    return engine


@contextmanager
def indexes_built_after(
    transaction: Callable[[], AbstractContextManager[Connection]],
    tables: Iterable[sa.Table],
    *,
    keep: Collection[str] = (),
) -> Iterator[None]:
    """Load ``tables`` without their indexes (but those named in ``keep``), built at the end.

    Only the indexes of tables empty at the start are dropped. Building an index from the loaded
    rows (one sort) is much faster than growing it one insertion at a time, above all for
    columns filled in random order: a million-row index that no longer fits in the page cache
    makes every insertion read and write a random page.
    """
    with transaction() as conn:
        dropped = [
            index
            for table in tables
            if conn.execute(sa.select(sa.literal(1)).select_from(table).limit(1)).first() is None
            for index in table.indexes
            if index.name not in keep
        ]
        for index in dropped:
            index.drop(conn)
    try:
        yield
    finally:
        with transaction() as conn:
            for index in dropped:
                index.create(conn)
