"""Schema work on the store, one at a time: publishing resources and upgrading crmsync's own
tables (:mod:`crmsync.state.upgrade`).

Workflows do schema work when they start, and they may start together (``crmsync run``,
``crmsync serve --start …``) or in several processes. Checking which tables exist (or which schema
version the store is at) and changing them must then be one step, or two starts both see a table
missing and the second fails creating it. :func:`schema_transaction` makes it one step: on SQLite
it holds the write lock from the start (:func:`~crmsync.store.engine.write_transaction`), on
PostgreSQL a transaction-scoped advisory lock of the schema; the other starts wait for it to
commit, then find the work done.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

from crmsync.errors import ConfigurationError
from crmsync.store.engine import begin_writing, write_transaction

__all__ = ["schema_transaction"]

#: The first key of the advisory lock taken for schema work (the second: the schema's name).
_LOCK_CLASS = 0x63726D73  # "crms"


@contextmanager
def schema_transaction(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A transaction for schema work that no other schema work runs beside.

    On SQLite foreign keys are not enforced inside it (they can only be switched off outside a
    transaction, as SQLite's table rebuild procedure needs): whoever rebuilds a table checks them
    before committing.
    """
    if engine.dialect.name != "sqlite":
        with write_transaction(engine) as conn:
            _require_schema(conn)
            conn.execute(
                sa.select(
                    sa.func.pg_advisory_xact_lock(
                        _LOCK_CLASS, sa.func.hashtext(sa.func.current_schema())
                    )
                )
            )
            yield conn
        return
    with engine.connect() as conn:
        raw = conn.connection.driver_connection
        assert raw is not None
        raw.execute("PRAGMA foreign_keys=OFF")
        try:
            with begin_writing(conn):
                yield conn
        finally:
            raw.execute("PRAGMA foreign_keys=ON")


def _require_schema(conn: sa.Connection) -> None:
    """A :class:`ConfigurationError` when no schema of the search path exists: PostgreSQL
    would refuse every table (and lock on no schema), so say which one to create instead."""
    if conn.execute(sa.select(sa.func.current_schema())).scalar() is None:
        path = conn.execute(sa.text("SHOW search_path")).scalar()
        raise ConfigurationError(
            f"the PostgreSQL store's schema does not exist (search path: {path}): create it "
            "(CREATE SCHEMA …) or correct store.pg_schema",
            code="STORE_SCHEMA_MISSING",
        )
