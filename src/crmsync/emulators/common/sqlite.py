"""The SQLite engine both emulators' stores run on: one shared connection, real SAVEPOINTs.

A file-backed database is opened in WAL mode (readers do not wait for the writer; ``synchronous``
relaxed to NORMAL, which is crash-safe in WAL mode); ``None`` keeps the data in memory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection, Engine
from sqlalchemy.pool import StaticPool

__all__ = ["create_sqlite_engine"]


def create_sqlite_engine(path: Path | None, *, page_size: int | None = None) -> Engine:
    """An engine on ``path`` (in memory when ``None``) whose one connection threads share.

    ``page_size`` (bytes) applies to a new database only: larger pages keep long rows out of
    overflow chains.
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
        if path is not None:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA cache_size=-65536")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN")

    return engine
