"""The change-tracking cursor of each inbound mapping, with the highest record version read."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from crmsync.state.part import Fence, StatePart

__all__ = ["Cursors"]


class Cursors(StatePart):
    """Cursors (``crmsync_cursors``) and watermarks (``crmsync_watermarks``), by mapping.

    A cursor is saved only after everything read up to it has been published.
    """

    def load(self, mapping: str) -> str | None:
        """The saved change-tracking cursor of ``mapping`` (``None``: start with a snapshot)."""
        t = self.tables.cursors
        with self.engine.connect() as conn:
            return conn.scalar(sa.select(t.c.cursor).where(t.c.mapping == mapping))

    def save(
        self,
        mapping: str,
        cursor: str,
        watermark: int | None = None,
        *,
        fence: Fence | None = None,
    ) -> None:
        """Save the cursor after every change read up to it has been published, with the
        highest record version read so far (``watermark``: it only grows). ``fence``: checks,
        in the same transaction, that the caller still holds the mapping's lease."""
        t = self.tables.cursors
        with self.engine.begin() as conn:
            if fence is not None:
                fence(conn)
            if watermark is not None:
                self._raise_watermark(conn, mapping, watermark)
            stmt = self._insert(conn, t).values(
                mapping=mapping, cursor=cursor, updated_at=self._clock()
            )
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=[t.c.mapping],
                    set_={"cursor": stmt.excluded.cursor, "updated_at": stmt.excluded.updated_at},
                )
            )

    def watermark(self, mapping: str) -> int | None:
        """The highest record version of ``mapping`` saved with a cursor (``None``: none yet)."""
        t = self.tables.watermarks
        with self.engine.connect() as conn:
            return conn.scalar(sa.select(t.c.version).where(t.c.mapping == mapping))

    def _raise_watermark(self, conn: sa.Connection, mapping: str, version: int) -> None:
        t = self.tables.watermarks
        stmt = self._insert(conn, t).values(mapping=mapping, version=version)
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=[t.c.mapping],
                set_={"version": stmt.excluded.version},
                where=t.c.version < stmt.excluded.version,
            )
        )

    def clear(self, mapping: str) -> None:
        """Forget the cursor: the next read is a snapshot (replay, expired tracking)."""
        t = self.tables.cursors
        with self.engine.begin() as conn:
            conn.execute(sa.delete(t).where(t.c.mapping == mapping))

    def updated_at(self, mapping: str) -> datetime | None:
        t = self.tables.cursors
        with self.engine.connect() as conn:
            return conn.scalar(sa.select(t.c.updated_at).where(t.c.mapping == mapping))
