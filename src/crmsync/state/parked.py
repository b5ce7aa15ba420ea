"""Child changes parked until their parent arrives (SPEC §3 "Links and ordering").

A parked child moves parked → released (:meth:`ParkedChanges.unpark`) | rejected as
``PARENT_MISSING`` (:meth:`ParkedChanges.reject_expired`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa

from crmsync.state.models import PARENT_MISSING, ParkedChange
from crmsync.state.part import Clock, StatePart, to_json, utcnow
from crmsync.state.rejects import Rejects
from crmsync.state.tables import StateTables
from crmsync.store.key_lists import one_of

__all__ = ["ParkedChanges"]


class ParkedChanges(StatePart):
    """The parked children (``crmsync_parked``); those that expire become ``rejects``."""

    def __init__(
        self,
        engine: sa.Engine,
        *,
        tables: StateTables | None = None,
        clock: Clock = utcnow,
        rejects: Rejects | None = None,
    ) -> None:
        super().__init__(engine, tables=tables, clock=clock)
        self.rejects = rejects or Rejects(engine, tables=self.tables, clock=clock)

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

    def waiting_for(self, parent_resource: str, keys: Sequence[str]) -> list[ParkedChange]:
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

    def expired(self, older_than: datetime, *, limit: int = 1000) -> list[ParkedChange]:
        """Children parked before ``older_than``, oldest first."""
        with self.engine.connect() as conn:
            return self._expired(conn, older_than, limit, lock=False)

    def reject_expired(
        self, workflow: str, older_than: datetime, *, limit: int = 1000
    ) -> list[ParkedChange]:
        """Turn children parked before ``older_than`` into ``PARENT_MISSING`` rejects, in one
        transaction; returns them. Concurrent callers (PostgreSQL) skip each other's rows."""
        with self.engine.begin() as conn:
            expired = self._expired(conn, older_than, limit, lock=True)
            self.unpark(conn, [p.id for p in expired])
            for p in expired:
                self.rejects.add(
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

    def count(self, mapping: str | None = None) -> int:
        """Number of parked children (they count in the backlog)."""
        return self._count(self.tables.parked, mapping)


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
