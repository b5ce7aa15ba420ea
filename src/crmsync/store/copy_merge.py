"""PostgreSQL: a batch written by ``COPY`` into a temporary table and one guarded merge.

An ``INSERT … ON CONFLICT`` per row costs the server a statement each (parse, bind, execute and
a protocol round in the pipeline) and the client as much again to send it: about three times
what the same rows cost through ``COPY``. :func:`copy_merge` copies a batch's rows (one per key)
into a temporary table, then runs one statement that

- merges them into the resource table with ``INSERT … SELECT … ON CONFLICT (key) DO UPDATE …
  WHERE`` the guard of :func:`~crmsync.store.upserts.guarded_upsert` (the same as the upsert of
  one row: versions, values, digests), and
- counts what happens to each row, comparing it with the stored row as it was before the merge
  (the statement's snapshot): new (inserted), older than the stored version (stale), values
  changed (updated), only the version newer (version only), or nothing to change.

The temporary table has the columns' types as the upsert of one row casts its parameters to
(SQLAlchemy's types of the table), lives as long as the connection and holds a batch's rows
until the merge (emptied before each batch and by every commit). It is filled in PostgreSQL's
binary format: each value is sent as its type's binary form, not as text PostgreSQL parses (five
times cheaper for the client than the text format, and no escaping of tabs, newlines or
backslashes). That takes values of each column's own Python type, numbers within the column's
range (:func:`copyable`); a batch holding others (an integer for a text column, a text for a
date, an integer beyond ``bigint``) is left to the upsert of one row, whose parameters PostgreSQL
casts or refuses.
A value PostgreSQL refuses (a NUL in a text, a value too long for its column) raises the same
SQLAlchemy exception as the upsert of one row: :class:`sqlalchemy.exc.DataError` and its kin.
"""

from __future__ import annotations

import functools
import hashlib
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from operator import itemgetter
from types import NoneType
from typing import Any, cast

import psycopg
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from crmsync.store.types import UtcDateTime
from crmsync.store.upserts import UpsertResult, changed, guarded_upsert, newer, not_stale

__all__ = ["copy_merge", "copyable"]

#: The prefix of the temporary tables of batches (one per shape of batch and connection).
INCOMING = "crmsync_incoming"

#: Class of a row that was already stored, by the merge's counting query (``NULL``: new).
_STALE, _UPDATED, _VERSION_ONLY, _SAME = 1, 2, 3, 4

#: The Python types the binary form of a column type is made from (``None`` aside), by
#: SQLAlchemy type, most specific first. Exact types: ``bool`` is no integer here, nor a
#: ``datetime`` a date.
_BINARY_SOURCES: tuple[tuple[type[sa.types.TypeEngine[Any]], frozenset[type]], ...] = (
    (UtcDateTime, frozenset({datetime})),
    (sa.String, frozenset({str})),
    (sa.Boolean, frozenset({bool})),
    (sa.Integer, frozenset({int})),
    (sa.Float, frozenset({float, int})),
    (sa.Date, frozenset({date})),
)
#: The bits of each integer type (PostgreSQL's ``smallint``, ``integer``, ``bigint``).
_INTEGER_BITS: tuple[tuple[type[sa.types.TypeEngine[Any]], int], ...] = (
    (sa.SmallInteger, 16),
    (sa.BigInteger, 64),
    (sa.Integer, 32),
)
#: The largest finite ``real`` (single precision).
_REAL_MAX = 3.4028234663852886e38


def copyable(table: sa.Table, columns: Sequence[str], values: Sequence[tuple[Any, ...]]) -> bool:
    """Whether ``values`` (rows of ``columns`` in the driver's form) hold only values of their
    column's own Python type, or ``None``, and numbers within their column's range: what the
    binary ``COPY`` takes. (Others are for PostgreSQL to cast or refuse, as it always did.)"""
    checks = _checks(table, tuple(columns))
    if checks is None:
        return False
    for index, (allowed, in_range) in enumerate(checks):
        column = list(map(itemgetter(index), values))
        found = set(map(type, column))
        if not found <= allowed:
            found.discard(NoneType)
            if not found <= allowed:
                return False
            column = [value for value in column if value is not None]
        if column and in_range is not None and not in_range(column):
            return False
    return True


_Check = tuple[frozenset[type], Callable[[list[Any]], bool] | None]


@functools.lru_cache(maxsize=256)
def _checks(table: sa.Table, columns: tuple[str, ...]) -> tuple[_Check, ...] | None:
    """Per column: the Python types its binary form is made from, and the check of a column's
    values against the type's range (``None``: any value of those types fits). ``None`` when a
    column's type has no binary form made here."""
    checks = []
    for name in columns:
        kind = table.c[name].type
        allowed = next((types for base, types in _BINARY_SOURCES if isinstance(kind, base)), None)
        if allowed is None:
            return None
        checks.append((allowed, _range_check(kind)))
    return tuple(checks)


def _range_check(kind: sa.types.TypeEngine[Any]) -> Callable[[list[Any]], bool] | None:
    if isinstance(kind, sa.Integer):
        bits = next(bits for base, bits in _INTEGER_BITS if isinstance(kind, base))
        low, high = -(2 ** (bits - 1)), 2 ** (bits - 1)
        return lambda column: low <= min(column) and max(column) < high
    # PostgreSQL's real (single precision): REAL, or FLOAT of at most 24 bits.
    single = isinstance(kind, sa.Float) and not isinstance(kind, sa.Double)
    if isinstance(kind, sa.REAL) or (single and (getattr(kind, "precision", None) or 53) <= 24):

        def real(column: list[Any]) -> bool:
            finite = [abs(value) for value in column if math.isfinite(value)]
            return not finite or max(finite) <= _REAL_MAX

        return real
    return None


def copy_merge(
    conn: sa.Connection,
    table: sa.Table,
    key_field: str,
    version_field: str | None,
    columns: Sequence[str],
    value_columns: Sequence[str],
    values: Sequence[tuple[Any, ...]],
    shared: Mapping[str, Any],
    *,
    digested: bool,
) -> UpsertResult:
    """Merge ``values`` (rows of ``columns`` in the driver's form, one per key, all
    :func:`copyable`) into ``table`` in the transaction of ``conn``; ``shared`` values (times,
    origin) are written with every inserted row, and with every updated one as the guard allows.
    Returns what happened to the rows."""
    incoming = _incoming(conn.dialect, table, tuple(columns))
    conn.exec_driver_sql(incoming.create)
    conn.exec_driver_sql(incoming.empty)
    _copy(conn, incoming.copy, _type_oids(conn, incoming.types), values)
    statement = _merge_statement(
        table,
        incoming.name,
        key_field,
        version_field,
        tuple(columns),
        tuple(value_columns),
        tuple(shared),
        digested=digested,
    )
    classes: dict[int | None, int] = dict(conn.execute(statement, dict(shared)).all())
    stored = sum(count for kind, count in classes.items() if kind is not None)
    return UpsertResult(
        inserted=classes.get(None, 0),
        updated=classes.get(_UPDATED, 0),
        stale=classes.get(_STALE, 0),
        version_only=classes.get(_VERSION_ONLY, 0),
        unchanged=stored - classes.get(_UPDATED, 0) - classes.get(_STALE, 0),
    )


@dataclass(frozen=True, slots=True)
class _Incoming:
    """The temporary table of a shape of batch: its name, its statements and the SQL type of
    each column."""

    name: str
    create: str
    empty: str
    copy: str
    types: tuple[str, ...]


@functools.lru_cache(maxsize=256)
def _incoming(dialect: sa.Dialect, table: sa.Table, columns: tuple[str, ...]) -> _Incoming:
    """The temporary table of a batch of ``columns`` of ``table``, named after its columns and
    their types: created once per connection (``IF NOT EXISTS``: again after a rollback undid
    it), emptied by every commit (``ON COMMIT DELETE ROWS``, which truncates it in place: no
    catalog rows are written, as creating and dropping a table per batch would) and before each
    batch (a second batch of the transaction)."""
    preparer = dialect.identifier_preparer
    types = tuple(dialect.type_compiler_instance.process(table.c[name].type) for name in columns)
    names = [preparer.quote(name) for name in columns]
    declared = ", ".join(f"{name} {kind}" for name, kind in zip(names, types, strict=True))
    name = f"{INCOMING}_{hashlib.sha256(declared.encode()).hexdigest()[:16]}"
    return _Incoming(
        name=name,
        create=f"CREATE TEMPORARY TABLE IF NOT EXISTS {name} ({declared}) ON COMMIT DELETE ROWS",
        empty=f"DELETE FROM pg_temp.{name}",  # noqa: S608 - a name made here
        copy=f"COPY pg_temp.{name} ({', '.join(names)}) FROM STDIN (FORMAT BINARY)",
        types=types,
    )


#: Type OIDs by SQL type (as SQLAlchemy renders it), as the server resolved them.
_OIDS: dict[str, int] = {}


def _type_oids(conn: sa.Connection, types: Sequence[str]) -> list[int]:
    """The OID of each of ``types`` (asked of the server once per type and process: the
    built-in types' OIDs are the same on every server)."""
    missing = [kind for kind in dict.fromkeys(types) if kind not in _OIDS]
    if missing:
        found = conn.exec_driver_sql(
            "SELECT t, t::regtype::oid FROM unnest(%(types)s::text[]) AS t", {"types": missing}
        )
        _OIDS.update((kind, int(oid)) for kind, oid in found)
    return [_OIDS[kind] for kind in types]


def _copy(
    conn: sa.Connection, sql: str, oids: Sequence[int], values: Sequence[tuple[Any, ...]]
) -> None:
    """``COPY`` ``values`` in the binary format. A driver error is raised as SQLAlchemy raises
    it from a statement."""
    cursor = cast(psycopg.Cursor[Any], conn.connection.cursor())
    dbapi = conn.dialect.loaded_dbapi
    try:
        with cursor.copy(sql) as copy:
            copy.set_types(oids)
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
    incoming_name: str,
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
        incoming_name, *(sa.column(name, table.c[name].type) for name in columns), schema="pg_temp"
    )
    constants = [sa.bindparam(name, type_=table.c[name].type) for name in shared]
    source = sa.select(*(incoming.c[name] for name in columns), *constants)
    insert = postgresql.insert(table).from_select([*columns, *shared], source)
    merge = guarded_upsert(
        insert, table, key_field, version_field, value_columns, digested=digested
    )
    values_changed = changed(table, incoming.c, value_columns)
    if version_field is None:
        kind = sa.case((values_changed, _sql(_UPDATED)), else_=_sql(_SAME))
    else:
        kind = sa.case(
            (sa.not_(not_stale(table, incoming.c, version_field)), _sql(_STALE)),
            (values_changed, _sql(_UPDATED)),
            (newer(table, incoming.c, version_field), _sql(_VERSION_ONLY)),
            else_=_sql(_SAME),
        )
    # A correlated subquery, not a join: one look-up of the key's unique index per row whatever
    # the planner thinks of the table's size (a join may scan the whole table for each batch).
    stored = sa.select(kind).where(table.c[key_field] == incoming.c[key_field]).scalar_subquery()
    rows = sa.select(stored.label("kind")).select_from(incoming).subquery()
    counted = sa.select(rows.c.kind, sa.func.count()).group_by(rows.c.kind)
    return counted.add_cte(merge.cte("merged"))


def _sql(kind: int) -> sa.ColumnElement[int]:
    """A class of row as a constant of the statement (not a parameter)."""
    return sa.literal_column(str(kind), sa.Integer)
