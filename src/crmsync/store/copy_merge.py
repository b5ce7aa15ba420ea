"""PostgreSQL: a batch written by ``COPY`` into a temporary table and one guarded merge.

An ``INSERT … ON CONFLICT`` per row costs the server a statement each (parse, bind, execute and
a protocol round in the pipeline) and the client as much again to send it: about three times
what the same rows cost through ``COPY``. :func:`copy_merge` copies a batch's rows (one per key)
into a temporary table, then runs one statement that

- merges them into the resource table with ``INSERT … SELECT … ON CONFLICT (key) DO UPDATE …
  WHERE`` the guard of :func:`~crmsync.store.guards.guarded_upsert` (the same as the upsert of
  one row: versions, values, digests), and
- counts what happens to each row, comparing it with the stored row as it was before the merge
  (the statement's snapshot): new (inserted), older than the stored version (stale), values
  changed (updated), only the version newer (version only), or nothing to change.

The temporary table exists only during the call (dropped at the end; ``ON COMMIT DROP`` should the
call fail half-way). ``COPY`` takes text as PostgreSQL parses it from text, as it does an
untyped parameter: the values are the ones the upsert of a row binds, and are refused alike (a
NUL in a text, a value too long for its column, a date that is no date) with the same
SQLAlchemy exception, :class:`sqlalchemy.exc.DataError` and its kin.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any, cast

import psycopg
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from crmsync.store.bulk import driver_rows
from crmsync.store.upserts import UpsertResult, changed, guarded_upsert, newer, not_stale

__all__ = ["copy_merge"]

#: The temporary table of a batch (one at a time on a connection).
INCOMING = "crmsync_incoming"

#: Class of a row that was already stored, by the merge's counting query (``NULL``: new).
_STALE, _UPDATED, _VERSION_ONLY, _SAME = 1, 2, 3, 4


def copy_merge(
    conn: sa.Connection,
    table: sa.Table,
    key_field: str,
    version_field: str | None,
    columns: Sequence[str],
    value_columns: Sequence[str],
    rows: Sequence[Mapping[str, Any]],
    shared: Mapping[str, Any],
    *,
    driver_form: bool,
    digested: bool,
) -> UpsertResult:
    """Merge ``rows`` (one per key, each holding ``columns``) into ``table`` in the transaction
    of ``conn``; ``shared`` values (times, origin) are written with every inserted row, and with
    every updated one as the guard allows. Returns what happened to the rows."""
    preparer = conn.dialect.identifier_preparer
    names = ", ".join(preparer.quote(name) for name in columns)
    conn.exec_driver_sql(
        f"CREATE TEMPORARY TABLE {INCOMING} ON COMMIT DROP AS "  # noqa: S608 - identifiers
        f"SELECT {names} FROM {preparer.format_table(table)} WITH NO DATA"
    )
    _copy(conn, f"COPY pg_temp.{INCOMING} ({names}) FROM STDIN", table, columns, rows, driver_form)
    statement = _merge_statement(
        table,
        key_field,
        version_field,
        tuple(columns),
        tuple(value_columns),
        tuple(shared),
        digested=digested,
    )
    classes: dict[int | None, int] = dict(conn.execute(statement, dict(shared)).all())
    conn.exec_driver_sql(f"DROP TABLE pg_temp.{INCOMING}")
    stored = sum(count for kind, count in classes.items() if kind is not None)
    return UpsertResult(
        inserted=classes.get(None, 0),
        updated=classes.get(_UPDATED, 0),
        stale=classes.get(_STALE, 0),
        version_only=classes.get(_VERSION_ONLY, 0),
        unchanged=stored - classes.get(_UPDATED, 0) - classes.get(_STALE, 0),
    )


def _copy(
    conn: sa.Connection,
    sql: str,
    table: sa.Table,
    columns: Sequence[str],
    rows: Sequence[Mapping[str, Any]],
    driver_form: bool,
) -> None:
    """``COPY`` the rows' ``columns``, in text: the driver writes each value as PostgreSQL reads
    it from text (escaping tabs, newlines and backslashes). A driver error is raised as
    SQLAlchemy raises it from a statement."""
    values = driver_rows(conn.dialect, table, columns, processed=driver_form)(rows)
    cursor = cast(psycopg.Cursor[Any], conn.connection.cursor())
    dbapi = conn.dialect.loaded_dbapi
    try:
        with cursor.copy(sql) as copy:
            write = copy.write_row
            for row in values:
                write(row)
    except dbapi.Error as exc:
        raise sa.exc.DBAPIError.instance(sql, None, exc, dbapi.Error, dialect=conn.dialect) from exc
    finally:
        cursor.close()


@functools.lru_cache(maxsize=256)
def _merge_statement(
    table: sa.Table,
    key_field: str,
    version_field: str | None,
    columns: tuple[str, ...],
    value_columns: tuple[str, ...],
    shared: tuple[str, ...],
    *,
    digested: bool,
) -> sa.Select[int | None, int]:
    """The merge of the temporary table into ``table``, as a CTE of the query that counts each
    class of row (see :func:`copy_merge`): one statement object per shape of batch, compiled
    once. ``shared`` columns are bound parameters of their own names."""
    incoming = sa.table(
        INCOMING, *(sa.column(name, table.c[name].type) for name in columns), schema="pg_temp"
    )
    constants = [sa.bindparam(name, type_=table.c[name].type) for name in shared]
    source = sa.select(*(incoming.c[name] for name in columns), *constants)
    insert = postgresql.insert(table).from_select([*columns, *shared], source)
    merge = guarded_upsert(
        insert, table, key_field, version_field, value_columns, digested=digested
    )
    values_changed = changed(table, incoming.c, value_columns)
    if version_field is None:
        kind = sa.case((values_changed, _UPDATED), else_=_SAME)
    else:
        kind = sa.case(
            (sa.not_(not_stale(table, incoming.c, version_field)), _STALE),
            (values_changed, _UPDATED),
            (newer(table, incoming.c, version_field), _VERSION_ONLY),
            else_=_SAME,
        )
    # A correlated subquery, not a join: one look-up of the key's unique index per row whatever
    # the planner thinks of the table's size (a join may scan the whole table for each batch).
    stored = sa.select(kind).where(table.c[key_field] == incoming.c[key_field]).scalar_subquery()
    rows = sa.select(stored.label("kind")).select_from(incoming).subquery()
    counted = sa.select(rows.c.kind, sa.func.count()).group_by(rows.c.kind)
    return counted.add_cte(merge.cte("merged"))
