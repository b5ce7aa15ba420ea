"""The counters of each inbound mapping, and its write lock (the counters row)."""

from __future__ import annotations

import functools

import sqlalchemy as sa

from crmsync.state.models import Counts
from crmsync.state.part import StatePart
from crmsync.state.tables import COUNTER_NAMES
from crmsync.store.writes import dialect_insert

__all__ = ["Counters"]


class Counters(StatePart):
    """What the inbound workflow did, per mapping (``crmsync_counters``)."""

    def hold_mapping(self, conn: sa.Connection, mapping: str) -> None:
        """In a writer's transaction, first: take ``mapping``'s write lock (its counters row) until
        the transaction ends. The transactions that write one mapping's rows (applying messages,
        releasing parked children, reconciling a snapshot) take it, so that on PostgreSQL, with
        several writer processes, they run one after the other and each sees what the previous
        one committed (a delete weighed against the row it finds, an upsert against the
        tombstones). On SQLite it takes the database's write lock at once."""
        stmt = _add_counts(conn.dialect.name, self.tables.counters, ())
        conn.execute(stmt, {"mapping": mapping, "updated_at": self._clock()})

    def add(self, conn: sa.Connection, mapping: str, **deltas: int) -> None:
        """In the writer's transaction: add ``deltas`` (e.g. ``inserted=3``) to the counters."""
        unknown = sorted(set(deltas) - set(COUNTER_NAMES))
        if unknown:
            raise ValueError(f"unknown counters {unknown}; known: {', '.join(COUNTER_NAMES)}")
        if not any(deltas.values()):
            return
        stmt = _add_counts(conn.dialect.name, self.tables.counters, tuple(deltas))
        conn.execute(stmt, {"mapping": mapping, "updated_at": self._clock(), **deltas})

    def by_mapping(self, mapping: str | None = None) -> dict[str, Counts]:
        """Counters by mapping (only ``mapping``'s when given)."""
        t = self.tables.counters
        query = sa.select(t)
        if mapping is not None:
            query = query.where(t.c.mapping == mapping)
        with self.engine.connect() as conn:
            return {
                row.mapping: Counts(**{name: row._mapping[name] for name in COUNTER_NAMES})
                for row in conn.execute(query.order_by(t.c.mapping))
            }


@functools.lru_cache(maxsize=64)
def _add_counts(dialect: str, counters: sa.Table, names: tuple[str, ...]) -> sa.Insert:
    """The upsert adding to counters ``names``, built once (the writer adds to its counters
    twice a transaction) and run with the mapping, the time and the deltas bound."""
    stmt = dialect_insert(dialect, counters)
    added = {name: counters.c[name] + stmt.excluded[name] for name in names}
    upsert: sa.Insert = stmt.on_conflict_do_update(
        index_elements=[counters.c.mapping], set_=added | {"updated_at": stmt.excluded.updated_at}
    )
    return upsert
