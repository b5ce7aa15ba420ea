"""The privacy suppression list: records a privacy delete removed, which crmsync never writes again.

An entry is either a record of a resource, by its key (``kind`` ``crm_id``: the value of its
identifier, or of the field its mapping keeps the CRM id in, which is the CRM id when the record
came from a CRM), or the email of a profile, by its hash (``kind`` ``email``,
:func:`email_hash`). Every path that writes CRM records into Campaign tables (the inbound writer,
hence replays and snapshots; the two-way merge, which it calls; job imports) passes its rows
through :meth:`Suppressions.unsuppressed` inside its write transaction: a row is dropped when its
key is suppressed, when a link column points at a suppressed parent (so a deleted profile's
subscriptions, and theirs, stay away), or, for a profile that is not in the store yet, when its
email hashes to a suppressed hash. Entries hold ids and hashes only, never the deleted values.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa

from crmsync.state.part import StatePart
from crmsync.store.key_lists import one_of
from crmsync.store.resources import PROFILE

__all__ = [
    "EMAIL_FIELD",
    "EMAIL_HASH_PREFIX",
    "NewSuppression",
    "Suppression",
    "SuppressionKind",
    "Suppressions",
    "WriteGuard",
    "email_hash",
]

SuppressionKind = Literal["crm_id", "email"]
#: The profile's email field: the one suppressed by hash.
EMAIL_FIELD = "email"
#: What the lower-cased, trimmed email is prefixed with before it is hashed (SHA-256).
EMAIL_HASH_PREFIX = "crmsync-privacy-email:"


def email_hash(address: str) -> str:
    """The hash an email is suppressed by: SHA-256 (hex) of :data:`EMAIL_HASH_PREFIX` followed by
    the address trimmed and lower-cased, so that ``Ann@X.org`` and ``ann@x.org`` are one."""
    text = EMAIL_HASH_PREFIX + address.strip().lower()
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class NewSuppression:
    """An entry to add: a record of ``resource`` by ``key``, or (``kind`` ``email``) an email hash
    of a profile."""

    kind: SuppressionKind
    resource: str
    key: str
    connection: str | None = None
    crm_table: str | None = None


@dataclass(frozen=True, slots=True)
class Suppression:
    id: int
    kind: SuppressionKind
    resource: str
    key: str
    connection: str | None
    crm_table: str | None
    reason: str
    suppressed_at: datetime
    suppressed_by: str
    delete_id: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "resource": self.resource,
            "key": self.key,
            "connection": self.connection,
            "crm_table": self.crm_table,
            "reason": self.reason,
            "suppressed_at": self.suppressed_at.isoformat(),
            "suppressed_by": self.suppressed_by,
            "delete_id": self.delete_id,
        }


@dataclass(frozen=True, slots=True)
class WriteGuard:
    """What the rows written into one resource are checked against: their key column (``None``:
    none to check), and their link columns with the resource each points at."""

    resource: str
    key_field: str | None
    links: tuple[tuple[str, str], ...] = ()


class Suppressions(StatePart):
    """The suppression list (``crmsync_suppressions``)."""

    def add(
        self,
        conn: sa.Connection,
        entries: Sequence[NewSuppression],
        *,
        reason: str,
        by: str,
        delete_id: str | None,
    ) -> int:
        """In the caller's transaction: suppress ``entries`` (an entry already listed stays as it
        is). Returns how many were added."""
        t = self.tables.suppressions
        now = self._clock()
        rows = [
            {
                "kind": entry.kind,
                "resource": entry.resource,
                "key": entry.key,
                "connection": entry.connection,
                "crm_table": entry.crm_table,
                "reason": reason,
                "suppressed_at": now,
                "suppressed_by": by,
                "delete_id": delete_id,
            }
            for entry in dict.fromkeys(entries)
        ]
        stmt = self._insert(conn, t).on_conflict_do_nothing(
            index_elements=[t.c.kind, t.c.resource, t.c.key]
        )
        # One statement a row (a person's records are few): each count is exact.
        return sum(conn.execute(stmt, row).rowcount for row in rows)

    def lift(
        self, conn: sa.Connection, kind: SuppressionKind, resource: str, key: str
    ) -> Suppression | None:
        """In the caller's transaction: remove an entry; the entry removed (``None``: none)."""
        t = self.tables.suppressions
        where = sa.and_(t.c.kind == kind, t.c.resource == resource, t.c.key == key)
        row = conn.execute(sa.select(t).where(where)).first()
        if row is None:
            return None
        conn.execute(sa.delete(t).where(t.c.id == row.id))
        return _suppression(row)

    def listed(self, conn: sa.Connection | None = None) -> list[Suppression]:
        """Every entry, oldest first."""
        query = sa.select(self.tables.suppressions).order_by(self.tables.suppressions.c.id)
        if conn is not None:
            return [_suppression(row) for row in conn.execute(query)]
        with self.engine.connect() as own:
            return [_suppression(row) for row in own.execute(query)]

    def of_delete(self, conn: sa.Connection, delete_id: str) -> list[Suppression]:
        t = self.tables.suppressions
        query = sa.select(t).where(t.c.delete_id == delete_id).order_by(t.c.id)
        return [_suppression(row) for row in conn.execute(query)]

    def found(
        self, conn: sa.Connection, kind: SuppressionKind, resource: str, keys: Sequence[str]
    ) -> set[str]:
        """Those of ``keys`` that are suppressed."""
        if not keys:
            return set()
        t = self.tables.suppressions
        query = sa.select(t.c.key).where(
            t.c.kind == kind,
            t.c.resource == resource,
            one_of(t.c.key, list(dict.fromkeys(keys)), conn.dialect),
        )
        return set(conn.scalars(query))

    def count(self) -> int:
        query = sa.select(sa.func.count()).select_from(self.tables.suppressions)
        with self.engine.connect() as conn:
            return int(conn.scalar(query) or 0)

    def unsuppressed(
        self,
        conn: sa.Connection,
        guard: WriteGuard,
        table: sa.Table,
        rows: list[dict[str, Any]],
        *,
        upsert_key: str,
    ) -> tuple[list[dict[str, Any]], int]:
        """In the write transaction: ``rows`` of ``guard``'s resource without the suppressed
        ones, and how many were dropped. A row is suppressed when its key or one of its links is
        (a link's value is the parent's key), or, for a profile that ``table`` does not hold yet
        (by ``upsert_key``, the column the write is keyed on), when its email's hash is.

        One indexed probe when the list is empty, the usual case."""
        t = self.tables.suppressions
        if not rows or conn.scalar(sa.select(t.c.id).limit(1)) is None:
            return rows, 0
        blocked: set[int] = set()
        checks = ((guard.key_field, guard.resource), *guard.links)
        for column, resource in checks:
            if column is None:
                continue
            values = _texts(rows, column)
            found = self.found(conn, "crm_id", resource, list(set(values.values())))
            blocked.update(index for index, value in values.items() if value in found)
        if guard.resource == PROFILE.name:
            blocked.update(self._new_with_suppressed_email(conn, table, rows, blocked, upsert_key))
        if not blocked:
            return rows, 0
        return [row for index, row in enumerate(rows) if index not in blocked], len(blocked)

    def _new_with_suppressed_email(
        self,
        conn: sa.Connection,
        table: sa.Table,
        rows: Sequence[Mapping[str, Any]],
        blocked: set[int],
        upsert_key: str,
    ) -> set[int]:
        hashes = {
            index: email_hash(value)
            for index, value in _texts(rows, EMAIL_FIELD).items()
            if index not in blocked
        }
        found = self.found(conn, "email", PROFILE.name, list(set(hashes.values())))
        candidates = [index for index, value in hashes.items() if value in found]
        if not candidates:
            return set()
        keys = [rows[index].get(upsert_key) for index in candidates]
        column = table.c[upsert_key]
        present = set(
            conn.scalars(
                sa.select(column).where(
                    one_of(column, [key for key in keys if key is not None], conn.dialect)
                )
            )
        )
        return {index for index in candidates if rows[index].get(upsert_key) not in present}


def _texts(rows: Sequence[Mapping[str, Any]], column: str) -> dict[int, str]:
    """The non-empty values of ``column`` in ``rows``, as text, by row index."""
    return {
        index: str(row[column])
        for index, row in enumerate(rows)
        if row.get(column) not in (None, "")
    }


def _suppression(row: Any) -> Suppression:
    return Suppression(
        id=row.id,
        kind=row.kind,
        resource=row.resource,
        key=row.key,
        connection=row.connection,
        crm_table=row.crm_table,
        reason=row.reason,
        suppressed_at=row.suppressed_at,
        suppressed_by=row.suppressed_by,
        delete_id=row.delete_id,
    )
