"""Rejects, parked children and tombstones: the per-record part of
:class:`~crmsync.sync.state.SyncState`."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa

from crmsync.store.key_lists import one_of
from crmsync.sync.state_models import PARENT_MISSING, ParkedChange, Reject
from crmsync.sync.state_tables import StateTables

__all__ = ["RecordsState", "to_json"]

_CHUNK = 500  # rows per statement: well inside every database's parameter limit


def to_json(document: Mapping[str, Any]) -> str:
    """JSON text of a record; a reject must always be storable, so unknown types become text."""
    return orjson.dumps(document, default=str, option=orjson.OPT_NON_STR_KEYS).decode()


def chunks(items: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


class RecordsState:
    """Rejects, parked children and tombstones; mixed into ``SyncState``, which provides the
    attributes."""

    engine: sa.Engine
    tables: StateTables
    _clock: Callable[[], datetime]
    _insert: Callable[[sa.Connection, sa.Table], Any]

    # -- rejects --------------------------------------------------------------------------------

    def add_reject(
        self,
        conn: sa.Connection,
        workflow: str,
        mapping: str | None,
        record_id: str | None,
        code: str,
        message: str,
        record: Mapping[str, Any],
    ) -> None:
        """In the writer's transaction: keep a rejected record with its code and message."""
        conn.execute(
            sa.insert(self.tables.rejects).values(
                at=self._clock(),
                workflow=workflow,
                mapping=mapping,
                record_id=record_id,
                code=code,
                message=message,
                record=to_json(record),
            )
        )

    def rejects(
        self,
        workflow: str | None = None,
        mapping: str | None = None,
        code: str | None = None,
        limit: int = 100,
    ) -> list[Reject]:
        """The newest rejects first, filtered by what is given."""
        t = self.tables.rejects
        query = sa.select(t)
        for column, value in ((t.c.workflow, workflow), (t.c.mapping, mapping), (t.c.code, code)):
            if value is not None:
                query = query.where(column == value)
        query = query.order_by(t.c.id.desc()).limit(limit)
        with self.engine.connect() as conn:
            return [
                Reject(
                    row.id,
                    row.at,
                    row.workflow,
                    row.mapping,
                    row.record_id,
                    row.code,
                    row.message,
                    orjson.loads(row.record),
                )
                for row in conn.execute(query)
            ]

    def reject_count(self, mapping: str | None = None) -> int:
        t = self.tables.rejects
        query = sa.select(sa.func.count()).select_from(t)
        if mapping is not None:
            query = query.where(t.c.mapping == mapping)
        with self.engine.connect() as conn:
            return int(conn.scalar(query) or 0)

    # -- parked children ------------------------------------------------------------------------

    def park(
        self,
        conn: sa.Connection,
        mapping: str,
        record_id: str,
        parent_resource: str,
        parent_key: str,
        change_payload: Mapping[str, Any],
        *,
        version: int | str | None = None,
    ) -> bool:
        """In the writer's transaction: hold a child change until its parent arrives.

        The same change (mapping, record id, version) delivered twice is parked once; different
        versions of a record are all kept, and applying them version-guarded on release leaves
        the newest. ``False`` when the change was already parked.
        """
        t = self.tables.parked
        stmt = self._insert(conn, t).values(
            mapping=mapping,
            record_id=record_id,
            version="" if version is None else str(version),
            parent_resource=parent_resource,
            parent_key=parent_key,
            payload=to_json(change_payload),
            parked_at=self._clock(),
        )
        return conn.execute(stmt.on_conflict_do_nothing().returning(t.c.id)).first() is not None

    def parked_waiting_for(self, parent_resource: str, keys: Sequence[str]) -> list[ParkedChange]:
        """Parked children whose parent (``parent_resource`` with one of ``keys``) has arrived."""
        t = self.tables.parked
        out: list[ParkedChange] = []
        with self.engine.connect() as conn:
            query = sa.select(t).where(
                t.c.parent_resource == parent_resource,
                one_of(t.c.parent_key, list(set(keys)), conn.dialect),
            )
            out.extend(_parked(row) for row in conn.execute(query.order_by(t.c.id)))
        return out

    def unpark(self, conn: sa.Connection, ids: Sequence[int]) -> int:
        """In the writer's transaction (the one that applied them): drop released children."""
        t = self.tables.parked
        return conn.execute(sa.delete(t).where(one_of(t.c.id, ids, conn.dialect))).rowcount

    def expired_parked(self, older_than: datetime, *, limit: int = 1000) -> list[ParkedChange]:
        """Children parked before ``older_than``, oldest first."""
        with self.engine.connect() as conn:
            return self._expired(conn, older_than, limit, lock=False)

    def reject_expired_parked(
        self, workflow: str, older_than: datetime, *, limit: int = 1000
    ) -> list[ParkedChange]:
        """Turn children parked before ``older_than`` into ``PARENT_MISSING`` rejects, in one
        transaction; returns them. Concurrent callers (PostgreSQL) skip each other's rows."""
        with self.engine.begin() as conn:
            expired = self._expired(conn, older_than, limit, lock=True)
            self.unpark(conn, [p.id for p in expired])
            for p in expired:
                self.add_reject(
                    conn,
                    workflow,
                    p.mapping,
                    p.record_id,
                    PARENT_MISSING,
                    f"{p.mapping} record {p.record_id!r}: its parent {p.parent_resource}"
                    f" {p.parent_key!r} did not arrive (parked since {p.parked_at.isoformat()})",
                    p.payload,
                )
        return expired

    def _expired(
        self, conn: sa.Connection, older_than: datetime, limit: int, *, lock: bool
    ) -> list[ParkedChange]:
        t = self.tables.parked
        query = sa.select(t).where(t.c.parked_at < older_than).order_by(t.c.id).limit(limit)
        if lock:
            query = query.with_for_update(skip_locked=True)  # ignored by SQLite (one writer)
        return [_parked(row) for row in conn.execute(query)]

    def parked_count(self, mapping: str | None = None) -> int:
        """Number of parked children (they count in the backlog)."""
        t = self.tables.parked
        query = sa.select(sa.func.count()).select_from(t)
        if mapping is not None:
            query = query.where(t.c.mapping == mapping)
        with self.engine.connect() as conn:
            return int(conn.scalar(query) or 0)

    # -- tombstones -----------------------------------------------------------------------------

    def add_tombstones(
        self, conn: sa.Connection, mapping: str, versions: Mapping[str, int]
    ) -> None:
        """In the writer's transaction: records deleted as of ``versions`` (key → version); an
        existing tombstone keeps the higher version."""
        t = self.tables.tombstones
        now = self._clock()
        rows = [
            {"mapping": mapping, "key": key, "version": version, "deleted_at": now}
            for key, version in versions.items()
        ]
        for chunk in chunks(rows):
            stmt = self._insert(conn, t)
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=[t.c.mapping, t.c.key],
                    set_={"version": stmt.excluded.version, "deleted_at": now},
                    where=t.c.version < stmt.excluded.version,
                ),
                chunk,
            )

    def tombstones(self, conn: sa.Connection, mapping: str, keys: Sequence[str]) -> dict[str, int]:
        """The tombstone versions of those of ``keys`` that have one."""
        t = self.tables.tombstones
        # Most mappings hold none: one indexed probe spares the key lookups of every message.
        if conn.scalar(sa.select(t.c.key).where(t.c.mapping == mapping).limit(1)) is None:
            return {}
        query = sa.select(t.c.key, t.c.version).where(
            t.c.mapping == mapping, one_of(t.c.key, list(set(keys)), conn.dialect)
        )
        return dict(conn.execute(query).all())

    def clear_tombstones(self, conn: sa.Connection, mapping: str, keys: Sequence[str]) -> None:
        """In the writer's transaction: these records exist again (a newer version arrived)."""
        t = self.tables.tombstones
        conn.execute(
            sa.delete(t).where(t.c.mapping == mapping, one_of(t.c.key, keys, conn.dialect))
        )

    def prune_tombstones(self, mapping: str, before: datetime) -> int:
        """Drop the tombstones of ``mapping`` recorded before ``before`` (the start of a snapshot
        that has been completed since: it reconciled whatever they guarded)."""
        t = self.tables.tombstones
        with self.engine.begin() as conn:
            result = conn.execute(
                sa.delete(t).where(t.c.mapping == mapping, t.c.deleted_at < before)
            )
        return result.rowcount

    def tombstone_count(self, mapping: str | None = None) -> int:
        t = self.tables.tombstones
        query = sa.select(sa.func.count()).select_from(t)
        if mapping is not None:
            query = query.where(t.c.mapping == mapping)
        with self.engine.connect() as conn:
            return int(conn.scalar(query) or 0)


def _parked(row: sa.Row[Any]) -> ParkedChange:
    return ParkedChange(
        row.id,
        row.mapping,
        row.record_id,
        row.version or None,
        row.parent_resource,
        row.parent_key,
        orjson.loads(row.payload),
        row.parked_at,
    )
