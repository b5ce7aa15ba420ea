"""Replay requests (SPEC §3.6): a mapping read again in full at the next start of inbound.

A request moves pending → taken (at most one pending per mapping).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from crmsync.state.models import ReplayRefused, ReplayRequest
from crmsync.state.part import StatePart

__all__ = ["DEFAULT_REPLAY_LIMIT", "Replays"]

DEFAULT_REPLAY_LIMIT = 2_000_000


class Replays(StatePart):
    """The replay requests (``crmsync_replays``), one per mapping."""

    def request(
        self,
        mapping: str,
        *,
        backlog: int,
        table_rows: int,
        limit_backlog: int = DEFAULT_REPLAY_LIMIT,
        limit_rows: int = DEFAULT_REPLAY_LIMIT,
    ) -> ReplayRequest:
        """Ask for a replay of ``mapping`` at the next start of ``inbound``.

        Refused (:class:`ReplayRefused`, saying which limit and the numbers) when the inbound
        ``backlog`` holds ``limit_backlog`` changes or more, when the CRM table holds
        ``limit_rows`` rows or more, or when a replay of the mapping is already pending.
        """
        if backlog >= limit_backlog:
            raise ReplayRefused(
                f"replay of '{mapping}' refused: the inbound backlog holds {backlog:,} changes,"
                f" the limit is {limit_backlog:,}; wait until it drains below the limit",
                code="REPLAY_BACKLOG_LIMIT",
                mapping=mapping,
                value=backlog,
                limit=limit_backlog,
            )
        if table_rows >= limit_rows:
            raise ReplayRefused(
                f"replay of '{mapping}' refused: the CRM table holds {table_rows:,} rows,"
                f" the limit is {limit_rows:,}",
                code="REPLAY_TABLE_LIMIT",
                mapping=mapping,
                value=table_rows,
                limit=limit_rows,
            )
        t = self.tables.replays
        with self.engine.begin() as conn:
            stmt = self._insert(conn, t).values(
                mapping=mapping,
                status="pending",
                requested_at=self._clock(),
                backlog=backlog,
                table_rows=table_rows,
                taken_at=None,
            )
            # One statement, so two concurrent requests cannot both succeed.
            row = conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=[t.c.mapping],
                    set_={
                        name: stmt.excluded[name]
                        for name in ("status", "requested_at", "backlog", "table_rows", "taken_at")
                    },
                    where=t.c.status != "pending",
                ).returning(*t.c)
            ).first()
            if row is None:
                pending = conn.scalar(sa.select(t.c.requested_at).where(t.c.mapping == mapping))
                raise _already_pending(mapping, pending)
        return _replay(row)

    def refuse_if_pending(self, mapping: str) -> None:
        """Refuse (:class:`ReplayRefused`, ``REPLAY_PENDING``) when a replay of ``mapping`` is
        pending already: checked before the limits are measured (counting the CRM table needs
        the CRM), and again by :meth:`request`, which alone is safe from a concurrent one."""
        t = self.tables.replays
        query = sa.select(t.c.requested_at).where(t.c.mapping == mapping, t.c.status == "pending")
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is not None:
            raise _already_pending(mapping, row.requested_at)

    def pending(self) -> list[ReplayRequest]:
        t = self.tables.replays
        query = sa.select(t).where(t.c.status == "pending").order_by(t.c.requested_at)
        with self.engine.connect() as conn:
            return [_replay(row) for row in conn.execute(query)]

    def take(self, mapping: str) -> ReplayRequest | None:
        """Mark the pending replay of ``mapping`` taken (the inbound workflow starts it);
        ``None`` when there is none. Only one caller can take a request."""
        t = self.tables.replays
        with self.engine.begin() as conn:
            row = conn.execute(
                sa.update(t)
                .where(t.c.mapping == mapping, t.c.status == "pending")
                .values(status="taken", taken_at=self._clock())
                .returning(*t.c)
            ).first()
        return None if row is None else _replay(row)


def _already_pending(mapping: str, requested_at: datetime | None) -> ReplayRefused:
    when = requested_at.isoformat() if requested_at is not None else "earlier"
    return ReplayRefused(
        f"a replay of '{mapping}' is already pending (requested {when});"
        " it runs at the next start of inbound",
        code="REPLAY_PENDING",
        mapping=mapping,
        value=None,
        limit=None,
    )


def _replay(row: sa.Row[Any]) -> ReplayRequest:
    return ReplayRequest(
        row.mapping, row.status, row.requested_at, row.backlog, row.table_rows, row.taken_at
    )
