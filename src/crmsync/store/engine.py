"""Engines for the Campaign store: SQLite (embedded default) and PostgreSQL (production).

Engines are built by :func:`create_engine_for` and passed to whoever needs them; nothing here is
created at import time.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from crmsync.errors import ConfigurationError
from crmsync.sqlite_locks import use_wal, when_unlocked
from crmsync.store.names import check_identifier

__all__ = [
    "DEFAULT_STORE_URL",
    "SQLITE_BUSY_TIMEOUT_MS",
    "begin_writing",
    "create_engine_for",
    "missing_sqlite_file",
    "parse_store_url",
    "write_transaction",
]


DEFAULT_STORE_URL = "sqlite:///crmsync.db"
SQLITE_BUSY_TIMEOUT_MS = 10_000
#: The execution option that makes the next transaction on a SQLite connection ``BEGIN
#: IMMEDIATE``.
_BEGIN_OPTION = "crmsync_sqlite_begin"

_DRIVERS = {"sqlite": "sqlite", "sqlite+pysqlite": "sqlite", "postgresql+psycopg": "postgresql"}


def parse_store_url(url: str | URL) -> URL:
    """Parse and check a store URL; ``postgresql://`` means ``postgresql+psycopg://``."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigurationError(f"store url is not a database URL: {exc}") from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.drivername not in _DRIVERS:
        raise ConfigurationError(
            f"store url: unsupported database '{parsed.drivername}': use sqlite:///PATH "
            "or postgresql+psycopg://USER@HOST/DB"
        )
    return parsed


def missing_sqlite_file(url: str | URL) -> Path | None:
    """The file of a SQLite store that does not exist yet (opening the store would create it),
    for the commands that must create nothing; ``None`` for a store that exists, an in-memory
    one, or PostgreSQL."""
    parsed = parse_store_url(url)
    if (
        _DRIVERS[parsed.drivername] != "sqlite"
        or parsed.database in (None, "", ":memory:")
        or "uri" in parsed.query
    ):
        return None
    path = Path(parsed.database)
    return None if path.exists() else path


def create_engine_for(url: str | URL, *, schema: str | None = None, **kwargs: Any) -> sa.Engine:
    """An engine for the store at ``url``, tuned for its database.

    SQLite: write-ahead log, ``synchronous=FULL`` (a commit survives a power loss too: the
    inbound writer deletes a queue message as soon as the commit that applied it returns),
    foreign keys enforced, and a busy timeout so that concurrent writers wait instead of failing.
    PostgreSQL (psycopg 3): ``schema`` (optional) becomes the search path, so that tests and
    tenants can keep their tables apart.
    """
    parsed = parse_store_url(url)
    if _DRIVERS[parsed.drivername] == "sqlite":
        if schema is not None:
            raise ConfigurationError("store: a schema can only be chosen on PostgreSQL")
        engine = sa.create_engine(parsed, **kwargs)
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        # pysqlite's own transaction handling delays BEGIN; let SQLAlchemy emit it.
        sa.event.listen(engine, "begin", _sqlite_begin)
        return engine
    engine = sa.create_engine(parsed, pool_pre_ping=True, **kwargs)
    if schema is not None:
        check_identifier(schema, what="store schema")
        sa.event.listen(engine, "connect", _search_path(schema))
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # autocommit at the driver; BEGIN comes from below
    # The busy timeout first, so that every statement after it waits for other connections.
    dbapi_connection.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS:d}")
    use_wal(dbapi_connection)
    dbapi_connection.execute("PRAGMA synchronous=FULL")
    dbapi_connection.execute("PRAGMA foreign_keys=ON")


def _sqlite_begin(connection: sa.Connection) -> None:
    connection.exec_driver_sql(connection.get_execution_options().get(_BEGIN_OPTION, "BEGIN"))


@contextmanager
def write_transaction(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A transaction that may read before it writes (``engine.begin()`` otherwise).

    On SQLite a transaction that reads first holds a snapshot of the database; when another
    connection commits a write after it, its own first write fails at once with "database is
    locked", the busy timeout notwithstanding: waiting cannot make its snapshot current. This
    transaction starts with ``BEGIN IMMEDIATE`` instead, taking the write lock before it reads;
    the lock is waited for through :data:`~crmsync.sqlite_locks.LOCK_ATTEMPTS` busy timeouts,
    with a pause between, before "database is locked" is raised. Readers are never blocked
    (write-ahead log).
    """
    if engine.dialect.name != "sqlite":
        with engine.begin() as conn:
            yield conn
        return
    with engine.connect() as conn, begin_writing(conn):
        yield conn


def begin_writing(conn: sa.Connection) -> sa.RootTransaction:
    """Begin the transaction of :func:`write_transaction` on ``conn`` (a SQLite connection)."""
    conn.execution_options(**{_BEGIN_OPTION: "BEGIN IMMEDIATE"})
    return when_unlocked(conn.begin)


def _search_path(schema: str) -> Any:
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # The schema name was checked against the identifier pattern; psycopg's sql module
        # quotes it as an identifier all the same.
        from psycopg import sql

        autocommit = dbapi_connection.autocommit
        dbapi_connection.autocommit = True
        with dbapi_connection.cursor() as cursor:
            cursor.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
        dbapi_connection.autocommit = autocommit

    return on_connect
