"""Records deleted (or gone out of the filters), so that an older upsert delivered late cannot
bring them back; a newer upsert (a re-creation) removes the tombstone."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

import sqlalchemy as sa

from crmsync.state.part import StatePart, chunks
from crmsync.store.key_lists import one_of

__all__ = ["Tombstones"]


class Tombstones(StatePart):
    """The tombstones (``crmsync_tombstones``), by mapping and key."""

    def add(self, conn: sa.Connection, mapping: str, versions: Mapping[str, int]) -> None:
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

    def versions(self, conn: sa.Connection, mapping: str, keys: Sequence[str]) -> dict[str, int]:
        """The tombstone versions of those of ``keys`` that have one."""
        t = self.tables.tombstones
        # Most mappings hold none: one indexed probe spares the key lookups of every message.
        if conn.scalar(sa.select(t.c.key).where(t.c.mapping == mapping).limit(1)) is None:
            return {}
        query = sa.select(t.c.key, t.c.version).where(
            t.c.mapping == mapping, one_of(t.c.key, list(set(keys)), conn.dialect)
        )
        return dict(conn.execute(query).all())

    def clear(self, conn: sa.Connection, mapping: str, keys: Sequence[str]) -> None:
        """In the writer's transaction: these records exist again (a newer version arrived)."""
        t = self.tables.tombstones
        conn.execute(
            sa.delete(t).where(t.c.mapping == mapping, one_of(t.c.key, keys, conn.dialect))
        )

    def prune(self, mapping: str, before: datetime) -> int:
        """Drop the tombstones of ``mapping`` recorded before ``before`` (the start of a snapshot
        that has been completed since: it reconciled whatever they guarded)."""
        t = self.tables.tombstones
        with self.engine.begin() as conn:
            result = conn.execute(
                sa.delete(t).where(t.c.mapping == mapping, t.c.deleted_at < before)
            )
        return result.rowcount

    def count(self, mapping: str | None = None) -> int:
        return self._count(self.tables.tombstones, mapping)
