"""Leases: one holder at a time for each duty two processes could both do.

A duty (reading one inbound mapping, the two-way push, the writers' housekeeping, the outbound
and optinout workflows) is done only by the process holding its lease in ``crmsync_leases``. A
lease has a holder (a worker id), an expiry its holder pushes back with each heartbeat, and a
fencing ``token`` that grows by one each time another holder takes it.

- :meth:`Leases.take` takes or renews a lease in one conditional upsert: it succeeds when the
  lease is free, expired, already the caller's, or held by a holder the caller knows is dead.
- :meth:`Leases.check` runs inside the transaction of whatever the duty saves (a cursor, a
  snapshot): it locks the lease's row and fails with :class:`LeaseLostError` when the caller's
  holder and token are no longer the row's. A holder that lost its lease while paused or cut
  off therefore saves nothing more, and one that takes the lease after it waits for the save
  under way to commit, then reads it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from crmsync.state.errors import LeaseLostError
from crmsync.state.part import StatePart

__all__ = ["Lease", "Leases"]


@dataclass(frozen=True, slots=True)
class Lease:
    """One lease as the store holds it."""

    name: str
    holder: str
    token: int
    acquired_at: datetime
    expires_at: datetime


class Leases(StatePart):
    """The leases (``crmsync_leases``)."""

    def take(
        self, name: str, holder: str, seconds: float, *, breaking: str | None = None
    ) -> int | None:
        """Take lease ``name`` for ``holder`` for ``seconds`` (or renew it, when ``holder`` has
        it); the fencing token it is held with, or ``None`` when another holder has it and it
        has not expired. ``breaking``: a holder known to be dead, whose lease is taken even
        before it expires."""
        t = self.tables.leases
        now = self._clock()
        with self.engine.begin() as conn:
            stmt = self._insert(conn, t).values(
                name=name,
                holder=holder,
                token=1,
                acquired_at=now,
                expires_at=now + timedelta(seconds=seconds),
            )
            same = t.c.holder == stmt.excluded.holder
            free = sa.or_(same, t.c.expires_at <= now)
            if breaking is not None:
                free = sa.or_(free, t.c.holder == breaking)
            stmt = stmt.on_conflict_do_update(
                index_elements=[t.c.name],
                set_={
                    "holder": stmt.excluded.holder,
                    "token": sa.case((same, t.c.token), else_=t.c.token + 1),
                    "acquired_at": sa.case(
                        (same, t.c.acquired_at), else_=stmt.excluded.acquired_at
                    ),
                    "expires_at": stmt.excluded.expires_at,
                },
                where=free,
            ).returning(t.c.token)
            token = conn.execute(stmt).scalar()
        return None if token is None else int(token)

    def check(self, conn: sa.Connection, name: str, holder: str, token: int) -> None:
        """In the caller's transaction: ``holder`` still holds lease ``name`` with ``token``
        (its row locked until the transaction ends); :class:`LeaseLostError` otherwise."""
        t = self.tables.leases
        found = conn.execute(
            sa.update(t)
            .where(t.c.name == name, t.c.holder == holder, t.c.token == token)
            .values(token=t.c.token)
        )
        if found.rowcount != 1:
            raise LeaseLostError(name, holder)

    def release(self, name: str, holder: str) -> None:
        """Give lease ``name`` up, when ``holder`` has it: it expires now (its token stays, so
        that the next holder's is higher)."""
        t = self.tables.leases
        with self.engine.begin() as conn:
            conn.execute(
                sa.update(t)
                .where(t.c.name == name, t.c.holder == holder)
                .values(expires_at=self._clock())
            )

    def get(self, name: str) -> Lease | None:
        t = self.tables.leases
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(t).where(t.c.name == name)).first()
        return None if row is None else Lease(**row._mapping)

    def all(self) -> list[Lease]:
        """Every lease, held or expired, by name."""
        t = self.tables.leases
        with self.engine.connect() as conn:
            return [Lease(**row._mapping) for row in conn.execute(sa.select(t).order_by(t.c.name))]

    def held(self, prefix: str = "") -> list[Lease]:
        """The leases held now (not expired) whose name starts with ``prefix``."""
        now = self._clock()
        return [
            lease
            for lease in self.all()
            if lease.expires_at > now and lease.name.startswith(prefix)
        ]
