"""Idempotent, version-guarded writes of CRM records into resource tables.

The inbound engine receives changes at least once and not always in order. These helpers make
that harmless:

- :func:`upsert_batch` inserts new rows and updates existing ones (matched on the resource's key
  field, e.g. ``profile.external_id``) only when the incoming ``source_version`` is newer than the
  stored one, so a duplicate or late message never overwrites newer data. A row whose values are
  already stored costs no write; when only its version is newer, just the version is advanced (so
  that an older message arriving later is still recognised as stale).
- A row may carry the ``source_digest`` of the CRM record it comes from (the inbound writer's
  fingerprint, see :mod:`crmsync.sync.fingerprints`): it is written with the row, and with it the
  time (``synced_at``), without counting as a change of the row's values. A row whose values and
  version are stored already is written for its digest alone when the stored one differs or no
  longer holds (the row was modified since).
- :func:`delete_versioned` deletes rows by key as of a version: a row whose stored version is newer
  than its delete's stays (it was written from a later change, e.g. a re-creation of the same id,
  applied before the delete). :func:`delete_by_keys` deletes rows by key whatever their version.
  Rows without a key were not created by a CRM and are never touched.

Each runs in one transaction (the caller's, when one is open) and use
``INSERT … ON CONFLICT … DO UPDATE … WHERE`` on SQLite and PostgreSQL alike, so the guard also holds
against a concurrent writer: on SQLite one statement per row, on PostgreSQL one statement for the
batch, copied into a temporary table first (:mod:`crmsync.store.copy_merge`). The guard is
:mod:`crmsync.store.upserts`'.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Collection, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from crmsync.store.bulk import driver_rows, execute_many
from crmsync.store.copy_merge import copy_merge, copyable
from crmsync.store.errors import StoreWriteError
from crmsync.store.key_lists import key_values, one_of
from crmsync.store.names import SOURCE_DIGEST, SYNCED_AT
from crmsync.store.upserts import UpsertResult, dialect_insert, guarded_upsert, held_digest

__all__ = [
    "UpsertResult",
    "delete_by_keys",
    "delete_versioned",
    "dialect_insert",
    "held_digest",
    "upsert_batch",
]

_MANAGED = frozenset({"id", "created_at", "modified_at", "origin", SYNCED_AT})


def _transaction(conn: sa.Connection) -> AbstractContextManager[Any]:
    return nullcontext() if conn.in_transaction() else conn.begin()


def _check_rows(
    table: sa.Table, key_field: str, version_field: str | None, rows: Sequence[Mapping[str, Any]]
) -> tuple[str, ...]:
    if key_field not in table.c:
        raise StoreWriteError(f"{table.name}: unknown key field '{key_field}'", table=table.name)
    if version_field is not None and version_field not in table.c:
        raise StoreWriteError(
            f"{table.name}: unknown version field '{version_field}'", table=table.name
        )
    columns = tuple(rows[0])
    expected = set(columns)
    unknown = sorted(name for name in expected if name not in table.c or name in _MANAGED)
    if unknown:
        raise StoreWriteError(
            f"{table.name}: fields {unknown} are unknown or managed by the store", table=table.name
        )
    for index, row in enumerate(rows):
        if row.keys() != expected:
            raise StoreWriteError(
                f"{table.name}: row {index} has fields {sorted(row)}, expected {sorted(expected)}: "
                "every row of a batch must carry the same fields",
                table=table.name,
            )
        if row.get(key_field) is None:
            raise StoreWriteError(
                f"{table.name}: row {index} has no value for key field '{key_field}'",
                table=table.name,
            )
        if version_field is not None and row.get(version_field) is None:
            raise StoreWriteError(
                f"{table.name}: row {index} has no value for version field '{version_field}'",
                table=table.name,
                record_id=str(row[key_field]),
            )
    return columns


def _latest_per_key(
    rows: Sequence[Mapping[str, Any]], key_field: str, version_field: str | None
) -> dict[Any, Mapping[str, Any]]:
    """One row per key: the highest version, the last one on a tie."""
    latest: dict[Any, Mapping[str, Any]] = {}
    for row in rows:
        key = row[key_field]
        held = latest.get(key)
        if held is None or version_field is None or row[version_field] >= held[version_field]:
            latest[key] = row
    return latest


def upsert_batch(
    conn: sa.Connection,
    table: sa.Table,
    key_field: str,
    rows: Sequence[Mapping[str, Any]],
    version_field: str | None = "source_version",
    *,
    insert_only: Collection[str] = (),
    origin: str | None = None,
    now: datetime | None = None,
    driver_form: bool = False,
) -> UpsertResult:
    """Insert or update ``rows`` of ``table`` matched on ``key_field``, guarded by version.

    ``rows`` map field names to values; every row carries the same fields, including the key and
    (unless ``version_field`` is ``None``) a version that only grows for the same record.
    ``insert_only`` fields are written when a row is inserted and never updated (mappings whose
    "apply updates" switch is off). ``origin`` is recorded on inserted rows. The key field must
    have a unique index. ``driver_form``: the values are already as the driver takes them
    (:func:`~crmsync.store.bulk.driver_rows`; the inbound writer's rows are).
    """
    if not rows:
        return UpsertResult()
    columns = _check_rows(table, key_field, version_field, rows)
    latest = _latest_per_key(rows, key_field, version_field)
    duplicates = len(rows) - len(latest)
    digested = SOURCE_DIGEST in columns
    value_columns = [
        c
        for c in columns
        if c not in (key_field, version_field, SOURCE_DIGEST) and c not in insert_only
    ]
    stamp = now or datetime.now(UTC)
    shared = {"created_at": stamp, "modified_at": stamp, "origin": origin}
    if digested:
        shared[SYNCED_AT] = stamp

    with _transaction(conn):
        if conn.dialect.name == "postgresql":
            values = driver_rows(conn.dialect, table, columns, processed=driver_form)(
                list(latest.values())
            )
            if copyable(table, columns, values):
                result = copy_merge(
                    conn,
                    table,
                    key_field,
                    version_field,
                    columns,
                    value_columns,
                    values,
                    shared,
                    digested=digested,
                )
                return dataclasses.replace(result, unchanged=result.unchanged + duplicates)
        stored = _stored_rows(
            conn, table, key_field, value_columns, version_field, latest, digested=digested
        )
        # The incoming values of the rows already stored, in the form they are stored in.
        present = [row for key, row in latest.items() if key in stored]
        as_driver = driver_rows(conn.dialect, table, value_columns, processed=driver_form)
        as_stored = dict(zip((row[key_field] for row in present), as_driver(present), strict=True))
        to_write: list[Mapping[str, Any]] = []
        inserted = updated = unchanged = stale = version_only = 0
        for key, row in latest.items():
            held = stored.get(key)
            if held is not None:
                held_version, held_values, stored_digest = held
                if version_field is None:
                    newer, same_version = False, True
                else:
                    version = row[version_field]
                    newer = held_version is None or version > held_version
                    same_version = held_version is not None and version == held_version
                if not (newer or same_version):
                    stale += 1
                    continue
                if as_stored[key] != held_values:
                    updated += 1
                elif newer:
                    unchanged += 1
                    version_only += 1
                else:
                    unchanged += 1
                    if not digested or stored_digest == row[SOURCE_DIGEST]:
                        continue
            else:
                inserted += 1
            to_write.append(row)
        if to_write:
            _execute_upsert(
                conn,
                table,
                key_field,
                version_field,
                value_columns,
                to_write,
                shared,
                driver_form=driver_form,
                digested=digested,
            )
    return UpsertResult(
        inserted=inserted,
        updated=updated,
        unchanged=unchanged + duplicates,
        stale=stale,
        version_only=version_only,
    )


def _stored_rows(
    conn: sa.Connection,
    table: sa.Table,
    key_field: str,
    value_columns: list[str],
    version_field: str | None,
    latest: Mapping[Any, Mapping[str, Any]],
    *,
    digested: bool,
) -> dict[Any, tuple[Any, tuple[Any, ...], int | None]]:
    """Key → (stored version, stored values of ``value_columns``, stored digest) of the rows
    already there. The digest is ``None`` where the row no longer holds it (modified since),
    and unless ``digested``.

    Values are read as the database holds them, without SQLAlchemy's result processing (which
    would parse every SQLite timestamp), and compared with the incoming values in the form they
    are written in (:func:`~crmsync.store.bulk.driver_rows`).
    """

    def raw(name: str) -> sa.ColumnElement[Any]:
        return sa.type_coerce(table.c[name], sa.types.NullType())

    version = raw(version_field) if version_field else sa.null()
    digest = held_digest(table) if digested else sa.null()
    selected = [table.c[key_field], version, digest, *(raw(name) for name in value_columns)]
    query = sa.select(*selected).where(one_of(table.c[key_field], list(latest), conn.dialect))
    result = conn.execute(query)
    # The driver's rows as they are: SQLAlchemy would build and process a Row each.
    stored = {row[0]: (row[1], row[3:], row[2]) for row in result.cursor.fetchall()}
    result.close()
    return stored


def _execute_upsert(
    conn: sa.Connection,
    table: sa.Table,
    key_field: str,
    version_field: str | None,
    value_columns: list[str],
    rows: list[Mapping[str, Any]],
    shared: Mapping[str, Any],
    *,
    driver_form: bool,
    digested: bool,
) -> None:
    stmt = _upsert_statement(
        conn.dialect.name, table, key_field, version_field, tuple(value_columns), digested
    )
    execute_many(conn, stmt, table, rows, constants=shared, driver_form=driver_form)


@functools.lru_cache(maxsize=256)
def _upsert_statement(
    dialect: str,
    table: sa.Table,
    key_field: str,
    version_field: str | None,
    value_columns: tuple[str, ...],
    digested: bool,
) -> sa.ClauseElement:
    """The guarded upsert of ``value_columns``: one statement object per shape of batch, so that
    :func:`~crmsync.store.bulk.execute_many` compiles it once (an upsert of 30 columns costs
    SQLAlchemy milliseconds to compile, as much as writing a hundred rows)."""
    upsert: sa.ClauseElement = guarded_upsert(
        dialect_insert(dialect, table),
        table,
        key_field,
        version_field,
        value_columns,
        digested=digested,
    )
    return upsert


def delete_by_keys(
    conn: sa.Connection, table: sa.Table, key_field: str, keys: Collection[Any]
) -> int:
    """Delete the rows of ``table`` whose ``key_field`` is one of ``keys``; return how many.

    Only rows owned by the CRM can match: a row whose key is empty was created by other means and
    is never deleted here. Children linked with ``on_parent_delete: cascade`` go with their parent.
    """
    if key_field not in table.c:
        raise StoreWriteError(f"{table.name}: unknown key field '{key_field}'", table=table.name)
    wanted = [key for key in dict.fromkeys(keys) if key is not None]
    column = table.c[key_field]
    with _transaction(conn):
        listed = one_of(column, wanted, conn.dialect)
        return conn.execute(sa.delete(table).where(column.is_not(None), listed)).rowcount


def delete_versioned(
    conn: sa.Connection,
    table: sa.Table,
    key_field: str,
    versions: Mapping[Any, int],
    version_field: str = "source_version",
) -> int:
    """Delete the rows of ``table`` whose ``key_field`` is a key of ``versions`` and whose stored
    version is not newer than the key's (or is empty); return how many.

    One statement, so the guard holds against a concurrent writer too: a row written from a
    later change than the delete (a record re-created with the same id, then the delete of its
    earlier life delivered late) is kept. As with :func:`delete_by_keys`, rows without a key are
    never deleted and children linked with ``on_parent_delete: cascade`` go with their parent.
    """
    for name in (key_field, version_field):
        if name not in table.c:
            raise StoreWriteError(f"{table.name}: unknown field '{name}'", table=table.name)
    if not versions:
        return 0
    column, stored = table.c[key_field], table.c[version_field]
    given = key_values(column, versions, sa.BigInteger(), conn.dialect)
    matched = (column == given.c.key, sa.or_(stored.is_(None), stored <= given.c.value))
    if conn.dialect.name == "postgresql":
        # DELETE … USING: the guard is a condition of the deleted row itself, which PostgreSQL
        # checks again on the row's newest version when it waited for a concurrent writer.
        statement = sa.delete(table).where(*matched)
    else:  # SQLite has one writer at a time, and no DELETE … USING
        doomed = sa.select(table.c.id).join(given, matched[0]).where(matched[1])
        statement = sa.delete(table).where(table.c.id.in_(doomed))
    with _transaction(conn):
        return conn.execute(statement.where(column.is_not(None))).rowcount
