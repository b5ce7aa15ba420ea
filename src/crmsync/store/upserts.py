"""The versioned upsert's guard (which incoming rows may overwrite the stored ones, in SQL) and
its result.

One definition for both ways a batch is written (:mod:`crmsync.store.writes`): an
``INSERT … VALUES … ON CONFLICT`` run once per row (SQLite) and an ``INSERT … SELECT`` from a
temporary table the batch was copied into (PostgreSQL, :mod:`crmsync.store.copy_merge`). The
conditions compare a stored row with an incoming one, whichever names the incoming values
(``excluded`` in the upsert, the temporary table when the batch's rows are counted).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from crmsync.store.errors import StoreWriteError
from crmsync.store.names import SOURCE_DIGEST, SYNCED_AT

__all__ = [
    "UpsertResult",
    "changed",
    "dialect_insert",
    "guarded_upsert",
    "held_digest",
    "newer",
    "not_stale",
]

#: The incoming values' columns: ``excluded`` of an upsert, or the columns (``.c``) of a table
#: holding the incoming rows.
Incoming = Any


@dataclass(frozen=True, slots=True)
class UpsertResult:
    """What :func:`~crmsync.store.writes.upsert_batch` did with each row of a batch.

    ``unchanged`` rows cost no write of their values (duplicates, same values, or a newer version
    with the same values); ``stale`` rows carried an older version than the stored one and were
    ignored. ``version_only`` counts the unchanged rows whose stored version was advanced.
    """

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    stale: int = 0
    version_only: int = 0

    @property
    def written(self) -> int:
        """Rows whose values were written (the engine's call count on the Campaign side)."""
        return self.inserted + self.updated


def dialect_insert(dialect: str, table: sa.Table) -> Any:
    """An INSERT of ``table`` with ``ON CONFLICT`` support, for the database named ``dialect``
    (SQLAlchemy's dialect name)."""
    match dialect:
        case "sqlite":
            return sqlite.insert(table)
        case "postgresql":
            return postgresql.insert(table)
    raise StoreWriteError(f"upserts are not supported on {dialect}")


def held_digest(table: sa.Table) -> sa.ColumnElement[Any]:
    """SQL: the row's ``source_digest`` while the row holds it, that is while it has not been
    modified since the digest was written; ``NULL`` otherwise."""
    return sa.case((table.c[SYNCED_AT] >= table.c.modified_at, table.c[SOURCE_DIGEST]))


def changed(
    table: sa.Table, incoming: Incoming, value_columns: Sequence[str]
) -> sa.ColumnElement[bool]:
    """SQL: one of ``value_columns`` of the stored row differs from the incoming one (NULLs
    compared as values)."""
    return sa.or_(sa.false(), *(table.c[c].is_distinct_from(incoming[c]) for c in value_columns))


def newer(table: sa.Table, incoming: Incoming, version_field: str) -> sa.ColumnElement[bool]:
    """SQL: the incoming version is newer than the stored one (or the stored row has none)."""
    stored = table.c[version_field]
    return sa.or_(stored.is_(None), incoming[version_field] > stored)


def not_stale(table: sa.Table, incoming: Incoming, version_field: str) -> sa.ColumnElement[bool]:
    """SQL: the incoming version is newer than the stored one or the same."""
    return sa.or_(
        newer(table, incoming, version_field),
        incoming[version_field] == table.c[version_field],
    )


def guarded_upsert(
    insert: Any,
    table: sa.Table,
    key_field: str,
    version_field: str | None,
    value_columns: Sequence[str],
    *,
    digested: bool,
) -> Any:
    """``insert`` (a dialect's INSERT of ``table``, of values or from a SELECT) with its
    ``ON CONFLICT (key) DO UPDATE … WHERE`` guard: an older version never overwrites a newer
    one; rows of the same version are written when their values changed, or (carrying a digest)
    when the row does not hold that digest. ``modified_at`` moves only when values changed."""
    excluded = insert.excluded
    values_changed = changed(table, excluded, value_columns)
    set_: dict[str, Any] = {c: excluded[c] for c in value_columns}
    set_["modified_at"] = sa.case((values_changed, excluded.modified_at), else_=table.c.modified_at)
    written = values_changed
    if digested:
        set_[SOURCE_DIGEST] = excluded[SOURCE_DIGEST]
        set_[SYNCED_AT] = excluded[SYNCED_AT]
        written = sa.or_(
            values_changed, held_digest(table).is_distinct_from(excluded[SOURCE_DIGEST])
        )
    if version_field is None:
        guard = written
    else:
        set_[version_field] = excluded[version_field]
        guard = sa.or_(
            newer(table, excluded, version_field),
            sa.and_(excluded[version_field] == table.c[version_field], written),
        )
    return insert.on_conflict_do_update(index_elements=[table.c[key_field]], set_=set_, where=guard)
