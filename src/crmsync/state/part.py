"""What every part of the workflows' state shares: the engine, the tables, the clock."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa

from crmsync.state.tables import StateTables
from crmsync.state.upgrade import ensure_store_schema
from crmsync.store.writes import dialect_insert

__all__ = ["Clock", "Fence", "StatePart", "chunks", "to_json", "utcnow"]

Clock = Callable[[], datetime]
#: Called inside the transaction of what a leased duty saves: raises
#: :class:`~crmsync.state.errors.LeaseLostError` when the process no longer holds the lease.
Fence = Callable[[sa.Connection], None]
_CHUNK = 500  # rows per statement: well inside every database's parameter limit


def utcnow() -> datetime:
    return datetime.now(UTC)


def to_json(document: Mapping[str, Any]) -> str:
    """JSON text of a record; a reject must always be storable, so unknown types become text."""
    return orjson.dumps(document, default=str, option=orjson.OPT_NON_STR_KEYS).decode()


def chunks(items: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


class StatePart:
    """A part of the state in ``engine``'s store, whose tables are brought to this crmsync's
    schema version on open. Each method is one transaction; methods that take a ``conn`` run
    inside the caller's, so that what they record commits (or rolls back) with the writes it
    describes."""

    def __init__(
        self, engine: sa.Engine, *, tables: StateTables | None = None, clock: Clock = utcnow
    ) -> None:
        ensure_store_schema(engine)
        self.engine = engine
        self.tables = tables or StateTables()
        self._clock = clock

    def _count(self, table: sa.Table, mapping: str | None) -> int:
        """Rows of ``table`` (of ``mapping`` only, when given)."""
        query = sa.select(sa.func.count()).select_from(table)
        if mapping is not None:
            query = query.where(table.c.mapping == mapping)
        with self.engine.connect() as conn:
            return int(conn.scalar(query) or 0)

    def _insert(self, conn: sa.Connection, table: sa.Table) -> Any:
        """INSERT with ``ON CONFLICT`` support for the connection's database."""
        return dialect_insert(conn.dialect.name, table)
