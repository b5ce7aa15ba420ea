"""SQLite storage of the emulated org: one real table per object.

Values are stored the way they go on the wire, so reads hand them to JSON as they are: ids as
18-character text, strings as text compared without regard to case (``COLLATE NOCASE``, as SOQL
compares them), numbers as numbers, booleans as 0/1, dates as ``YYYY-MM-DD`` and date-times as
``YYYY-MM-DDTHH:MM:SS.000+0000`` text in UTC (which sorts chronologically).

Deleted records stay in their table with ``IsDeleted = 1`` and the hidden ``_DeletedDate``: that is
the recycle bin ``queryAll`` and ``deleted/`` read; :meth:`SalesforceStore.purge` empties what is
older than the retention. Ids come from per-prefix counters kept in ``emulator_state``. All access
goes through one connection guarded by a lock: handlers call the store synchronously, which keeps
every request consistent without any isolation subtleties.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from crmsync.emulators.common.clock import SupportsNow
from crmsync.emulators.common.sqlite import create_sqlite_engine
from crmsync.emulators.salesforce.ids import IdGenerator
from crmsync.emulators.salesforce.schema import (
    NUMBER_TYPES,
    SEED_OBJECTS,
    TEXT_TYPES,
    Field,
    FieldType,
    Schema,
    SObject,
)

__all__ = ["DELETED_DATE", "SalesforceStore", "format_datetime"]

#: Hidden column: when the record went to the recycle bin (``None`` while it is live).
DELETED_DATE = "_DeletedDate"
#: The emulated org and its (only) user: well-formed ids, so SOQL filters on them are accepted.
ORG_ID = "00D5g000004ORGaEAO"
USER_ID = "0055g00000USERaAAP"


def format_datetime(when: datetime) -> str:
    """A date-time as stored and sent: UTC, milliseconds, ``+0000`` suffix."""
    when = when.astimezone(UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}+0000"


def _column(field: Field) -> sa.Column[Any]:
    name, type_ = field.name, field.type
    if type_ == FieldType.ID:
        return sa.Column(name, sa.Text, primary_key=True)
    if type_ in TEXT_TYPES:
        return sa.Column(name, sa.Text(collation="NOCASE"))
    if type_ in (FieldType.BOOLEAN, FieldType.INT):
        return sa.Column(name, sa.Integer)
    if type_ in NUMBER_TYPES:
        return sa.Column(name, sa.Float)
    # Lookups to other records are indexed (parent joins, upsert checks); owner and audit users
    # are all the same emulated user, an index on them would only slow writes.
    indexed = type_ == FieldType.REFERENCE and "User" not in field.reference_to
    return sa.Column(name, sa.Text, index=indexed)


def _build_metadata(schema: Schema) -> tuple[sa.MetaData, dict[str, sa.Table], sa.Table]:
    metadata = sa.MetaData()
    tables: dict[str, sa.Table] = {}
    for obj in schema.objects:
        table = sa.Table(
            obj.name,
            metadata,
            *(_column(f) for f in obj.fields),
            sa.Column(DELETED_DATE, sa.Text),
            sqlite_with_rowid=False,
        )
        # Incremental reads sort by one of these and Id: the index serves both order and keyset.
        sa.Index(f"ix_{obj.name}_modstamp", table.c.SystemModstamp, table.c.Id)
        sa.Index(f"ix_{obj.name}_modified", table.c.LastModifiedDate, table.c.Id)
        sa.Index(f"ix_{obj.name}_deleted", table.c[DELETED_DATE])
        for f in obj.fields:
            if f.unique:
                sa.Index(
                    f"ux_{obj.name}_{f.name}",
                    table.c[f.name],
                    unique=True,
                    sqlite_where=table.c.IsDeleted == 0,
                )
        tables[obj.name] = table
    state = sa.Table(
        "emulator_state",
        metadata,
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("value", sa.Integer, nullable=False),
    )
    return metadata, tables, state


class SalesforceStore:
    """The emulator's records, id counters and recycle bin."""

    def __init__(self, engine: Engine, clock: SupportsNow, schema: Schema) -> None:
        self.engine = engine
        self.clock = clock
        self.schema = schema
        metadata, self._tables, self._state = _build_metadata(schema)
        metadata.create_all(engine)
        self._lock = threading.RLock()
        self._connection = engine.connect()
        self._depth = 0
        #: Bumped by every committed write.
        self.generation = 0
        with self.reading() as conn:
            rows = conn.execute(sa.select(self._state.c.name, self._state.c.value)).all()
        self.ids = IdGenerator({name[3:]: value for name, value in rows if name.startswith("id:")})

    @classmethod
    def open(
        cls,
        path: Path | None,
        clock: SupportsNow,
        schema: Schema | None = None,
        *,
        bulk: bool = False,
    ) -> SalesforceStore:
        """Open (creating what is missing) a store in ``path``, or in memory when ``None``;
        ``bulk``: a new file being seeded (see :func:`.create_sqlite_engine`)."""
        engine = create_sqlite_engine(path, bulk=bulk)
        return cls(engine, clock, schema or Schema(SEED_OBJECTS))

    def close(self) -> None:
        with self._lock:
            self._connection.close()
            self.engine.dispose()

    def table(self, obj: SObject) -> sa.Table:
        """The SQLAlchemy table that stores ``obj``."""
        return self._tables[obj.name]

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """The connection, inside a transaction; nested calls join the outer transaction.

        Id counters are saved with the transaction and restored when it rolls back.
        """
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield self._connection
                finally:
                    self._depth -= 1
                return
            counters = dict(self.ids.counters)
            self._depth = 1
            try:
                with self._connection.begin():
                    yield self._connection
                    self._save_counters(counters)
                self.generation += 1
            except BaseException:
                self.ids.counters = counters
                raise
            finally:
                self._depth = 0

    @contextmanager
    def savepoint(self) -> Iterator[Connection]:
        """A nested transaction (SAVEPOINT) inside :meth:`transaction`: rolled back on error."""
        with self.transaction() as conn:
            counters = dict(self.ids.counters)
            try:
                with conn.begin_nested():
                    yield conn
            except BaseException:
                self.ids.counters = counters
                raise

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """The connection for reads; the transaction a read starts ends with the block."""
        with self._lock:
            try:
                yield self._connection
            finally:
                if not self._depth and self._connection.in_transaction():
                    self._connection.commit()

    def _save_counters(self, before: dict[str, int]) -> None:
        for prefix, value in self.ids.counters.items():
            if before.get(prefix) == value:
                continue
            name = f"id:{prefix}"
            updated = self._connection.execute(
                sa.update(self._state).where(self._state.c.name == name).values(value=value)
            )
            if not updated.rowcount:
                self._connection.execute(sa.insert(self._state).values(name=name, value=value))

    def now(self) -> str:
        """The emulator time as stored in the audit fields (whole seconds, as Salesforce keeps)."""
        return format_datetime(self.clock.now().replace(microsecond=0))

    def purge(self, older_than: str) -> int:
        """Empty the recycle bin of records deleted before ``older_than`` (stored format)."""
        removed = 0
        with self.transaction() as conn:
            for obj in self.schema.objects:
                table = self.table(obj)
                removed += conn.execute(
                    sa.delete(table).where(table.c[DELETED_DATE] < older_than)
                ).rowcount
        return removed

    def system_change(self, obj: SObject, ids: list[str]) -> int:
        """Move ``SystemModstamp`` of live records without touching ``LastModifiedDate``."""
        table = self.table(obj)
        with self.transaction() as conn:
            result = conn.execute(
                sa.update(table)
                .where(table.c.Id.in_(ids), table.c.IsDeleted == 0)
                .values(SystemModstamp=self.now())
            )
            return int(result.rowcount)

    def count(self, obj: SObject, *, include_deleted: bool = False) -> int:
        table = self.table(obj)
        query = sa.select(sa.func.count()).select_from(table)
        if not include_deleted:
            query = query.where(table.c.IsDeleted == 0)
        with self.reading() as conn:
            return int(conn.execute(query).scalar_one())
