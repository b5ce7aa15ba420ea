"""SQLite storage of the emulated organisation: one real table per Dataverse table.

Values are stored the way they go on the wire, so the read path can hand rows to JSON with no
per-row conversion: GUIDs as lower-case text, strings as text compared without regard to case
(``COLLATE NOCASE``, as Dataverse compares them), numbers as numbers, yes/no as 0/1, dates as
``YYYY-MM-DD`` and date-times as ``YYYY-MM-DDTHH:MM:SSZ`` text (which sorts chronologically).

Each row may also keep its finished JSON text and formatted values (hidden columns, see
:mod:`.rowjson`), stored by every write through the API; a row without them (seeded into a data
file, or from a file of an earlier version) is rendered by the read statement itself.

One global, strictly increasing row version (``versionnumber``) is kept in ``emulator_state``; every
create/update takes the next one. Deletions are logged in ``emulator_deletions`` for change
tracking. All access goes through one connection guarded by a lock: the Web API handlers call the
store synchronously, which keeps every request consistent without any isolation subtleties.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from crmsync.emulators.common.clock import SupportsNow
from crmsync.emulators.common.sqlite import create_sqlite_engine
from crmsync.emulators.dataverse.formatting import annotations_sql
from crmsync.emulators.dataverse.rowjson import (
    ANNOTATIONS_COLUMN,
    JSON_COLUMN,
    lookup_type_column,
    readable_attributes,
    row_json,
)
from crmsync.emulators.dataverse.schema import (
    LOOKUP_TYPES,
    SEED_TABLES,
    TEXT_TYPES,
    AttributeType,
    Schema,
    Table,
)

__all__ = ["DataverseStore", "format_datetime", "lookup_type_column"]


_INTEGER_TYPES = {
    AttributeType.INTEGER,
    AttributeType.BIGINT,
    AttributeType.PICKLIST,
    AttributeType.STATE,
    AttributeType.STATUS,
    AttributeType.BOOLEAN,
}
_REAL_TYPES = {AttributeType.MONEY, AttributeType.DECIMAL, AttributeType.DOUBLE}


def format_datetime(when: datetime) -> str:
    """A date-time as stored and sent: UTC, whole seconds, ``Z`` suffix."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


#: The driver's placeholder for the record id in the single-record statements (SQLite's
#: ``qmark`` style).
_RECORD_ID: sa.ColumnElement[Any] = sa.literal_column("?")


@dataclass(frozen=True)
class _RecordStatements:
    """The SQL text of the statements that follow a write of one record of a table (see
    ``DataverseStore.refresh_record``); each takes the record id as its one parameter."""

    computed: str | None
    rendered: str
    referrers: tuple[str, ...]


def _computed_update(table: Table, sa_table: sa.Table) -> Any | None:
    """``UPDATE`` of the computed attributes (``fullname`` = first and last name, trimmed) of the
    record named by the bound record id; ``None`` when the table has none."""
    if not table.computed:
        return None
    values: dict[str, Any] = {}
    for name, parts in table.computed.items():
        joined: Any = sa.func.coalesce(sa_table.c[parts[0]], "")
        for part in parts[1:]:
            joined = joined + " " + sa.func.coalesce(sa_table.c[part], "")
        values[name] = sa.func.trim(joined)
    return sa.update(sa_table).where(sa_table.c[table.primary_id] == _RECORD_ID).values(values)


def _columns(table: Table) -> list[sa.Column[Any]]:
    columns: list[sa.Column[Any]] = []
    for attribute in table.attributes:
        name = attribute.logical_name
        if name == table.primary_id:
            columns.append(sa.Column(name, sa.Text, primary_key=True))
        elif attribute.type in TEXT_TYPES:
            columns.append(sa.Column(name, sa.Text(collation="NOCASE")))
        elif attribute.type in _INTEGER_TYPES:
            columns.append(sa.Column(name, sa.Integer))
        elif attribute.type in _REAL_TYPES:
            columns.append(sa.Column(name, sa.Float))
        elif attribute.type in LOOKUP_TYPES:
            columns.append(sa.Column(name, sa.Text, index=True))
            columns.append(sa.Column(lookup_type_column(name), sa.Text))
        else:  # DateTime, Uniqueidentifier: text
            columns.append(sa.Column(name, sa.Text))
    return columns


def _build_metadata(
    schema: Schema,
) -> tuple[sa.MetaData, dict[str, sa.Table], sa.Table, sa.Table, sa.Table]:
    metadata = sa.MetaData()
    tables: dict[str, sa.Table] = {}
    for table in schema.tables:
        sa_table = sa.Table(
            table.logical_name,
            metadata,
            *_columns(table),
            sa.Column(JSON_COLUMN, sa.Text),
            sa.Column(ANNOTATIONS_COLUMN, sa.Text),
            sqlite_with_rowid=False,
        )
        sa.Index(f"ix_{table.logical_name}_version", sa_table.c.versionnumber, unique=True)
        for key in table.alternate_keys:
            sa.Index(
                f"ux_{table.logical_name}_{key.logical_name}",
                *(sa_table.c[name] for name in key.attributes),
                unique=True,
            )
        tables[table.logical_name] = sa_table
    state = sa.Table(
        "emulator_state",
        metadata,
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("value", sa.Integer, nullable=False),
    )
    deletions = sa.Table(
        "emulator_deletions",
        metadata,
        sa.Column("tablename", sa.Text, nullable=False),
        sa.Column("id", sa.Text, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("deletedon", sa.Text, nullable=False),
        sa.Index("ix_emulator_deletions_table_version", "tablename", "version"),
    )
    secrets_ = sa.Table(
        "emulator_secrets",
        metadata,
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("value", sa.LargeBinary, nullable=False),
    )
    return metadata, tables, state, deletions, secrets_


def _add_missing_columns(engine: Engine, tables: Iterable[sa.Table]) -> None:
    """Bring a data file written by an earlier version up to the schema: add the columns and
    indexes it lacks. Rows of a table that gained a column lose their stored JSON text and
    annotations: reads render them until a write stores them again."""
    with engine.begin() as conn:
        inspector = sa.inspect(conn)
        for sa_table in tables:
            present = {column["name"] for column in inspector.get_columns(sa_table.name)}
            missing = [column for column in sa_table.columns if column.name not in present]
            for column in missing:
                # Names and types come from this module's schema, not from input.
                definition = sa.schema.CreateColumn(column).compile(dialect=engine.dialect)
                conn.exec_driver_sql(f'ALTER TABLE "{sa_table.name}" ADD COLUMN {definition}')
            if missing:
                conn.execute(
                    sa.update(sa_table).values({JSON_COLUMN: None, ANNOTATIONS_COLUMN: None})
                )
            for index in sa_table.indexes:
                index.create(conn, checkfirst=True)


class DataverseStore:
    """The emulator's records, versions and deletion log."""

    def __init__(self, engine: Engine, clock: SupportsNow, schema: Schema) -> None:
        self.engine = engine
        self.clock = clock
        self.schema = schema
        metadata, self._tables, self._state, self.deletions, self._secrets = _build_metadata(schema)
        metadata.create_all(engine)
        _add_missing_columns(engine, self._tables.values())
        self._lock = threading.RLock()
        self._connection = engine.connect()
        self._depth = 0
        self._version = 0
        #: Bumped by every committed write: a result computed at another generation is stale.
        self.generation = 0
        self._annotation_sql: dict[str, Any] = {}
        self._record_statements: dict[str, _RecordStatements] = {}
        #: By logical name: the (table, lookup attribute) pairs that may point at that table.
        self._referrers: dict[str, list[tuple[Table, str]]] = {
            t.logical_name: [] for t in schema.tables
        }
        for table in schema.tables:
            for attribute in table.attributes:
                for target in attribute.targets if attribute.type in LOOKUP_TYPES else ():
                    self._referrers[target].append((table, attribute.logical_name))
        #: Change tracking switched on/off at run time (control endpoint), by logical name.
        self._tracking = {table.logical_name: table.change_tracking for table in schema.tables}
        with self.transaction() as conn:
            row = conn.execute(
                sa.select(self._state.c.value).where(self._state.c.name == "version")
            ).first()
            if row is None:
                conn.execute(sa.insert(self._state).values(name="version", value=1000))
                self._version = 1000
            else:
                self._version = int(row[0])

    @classmethod
    def open(
        cls,
        path: Path | None,
        clock: SupportsNow,
        schema: Schema | None = None,
        *,
        bulk: bool = False,
    ) -> DataverseStore:
        """Open (creating what is missing) a store in ``path``, or in memory when ``None``;
        ``bulk``: a new file being seeded (see :func:`.create_sqlite_engine`)."""
        # Rows carry their JSON text and annotations (~2 KB for a contact): 16 KB pages keep them
        # out of overflow chains.
        engine = create_sqlite_engine(path, page_size=16384, bulk=bulk)
        return cls(engine, clock, schema or Schema(SEED_TABLES))

    def close(self) -> None:
        with self._lock:
            self._connection.close()
            self.engine.dispose()

    # --- access -------------------------------------------------------------------------------

    def sa_table(self, table: Table) -> sa.Table:
        """The SQLAlchemy table that stores ``table``."""
        return self._tables[table.logical_name]

    def refresh_json(self, conn: Connection, table: Table, where: Any) -> None:
        """Re-render the stored JSON text and annotations of the rows of ``table`` matching
        ``where``, and the annotations of the rows that look them up (they show their names)."""
        sa_table = self.sa_table(table)
        rendered = {JSON_COLUMN: row_json(table, sa_table, readable_attributes(table))}
        rendered[ANNOTATIONS_COLUMN] = self._annotations(table)
        conn.execute(sa.update(sa_table).where(where).values(rendered))
        ids = sa.select(sa_table.c[table.primary_id]).where(where).correlate(None)
        self._refresh_referrers(conn, table, ids)

    def _annotations(self, table: Table) -> Any:
        """SQL rendering ``_annotations``: the formatted values of every readable field."""
        found = self._annotation_sql.get(table.logical_name)
        if found is None:
            expression = annotations_sql(
                self.schema, self._tables, table, readable_attributes(table), "formatted"
            )
            found = sa.literal("") if expression is None else expression
            self._annotation_sql[table.logical_name] = found
        return found

    def _refresh_referrers(self, conn: Connection, target: Table, ids: Any) -> None:
        """Re-render the annotations of the rows whose lookups point at ``ids`` of ``target``."""
        for table, attribute in self._referrers[target.logical_name]:
            sa_table = self.sa_table(table)
            conn.execute(
                sa.update(sa_table)
                .where(
                    sa_table.c[attribute].in_(ids),
                    sa_table.c[lookup_type_column(attribute)] == target.logical_name,
                )
                .values({ANNOTATIONS_COLUMN: self._annotations(table)})
            )

    def refresh_record(
        self, conn: Connection, table: Table, record_id: str, *, referrers: bool = True
    ) -> None:
        """After a write of one record: recompute its computed attributes (``fullname``),
        re-render its JSON text and annotations and, when ``referrers``, the annotations of the
        rows that look it up (they show its primary name: only needed when that may have
        changed)."""
        statements = self._statements(table)
        parameters = (record_id,)
        if statements.computed is not None:
            conn.exec_driver_sql(statements.computed, parameters)
        conn.exec_driver_sql(statements.rendered, parameters)
        if referrers:
            for statement in statements.referrers:
                conn.exec_driver_sql(statement, parameters)

    def _statements(self, table: Table) -> _RecordStatements:
        """The single-record statements of ``table``, compiled once to SQL text.

        They are large (every readable column, the formatted values' sub-queries, ~190 literal
        values): even with SQLAlchemy's compiled cache, building them and processing their
        literal parameters on every execution cost milliseconds per write. Compiled with the
        literals inline (they come from the schema; the record id stays a bound parameter), they
        go to the driver as they are.
        """
        found = self._record_statements.get(table.logical_name)
        if found is None:
            computed = _computed_update(table, self.sa_table(table))
            found = _RecordStatements(
                computed=None if computed is None else self._sql_text(computed),
                rendered=self._sql_text(self._rendered_update(table)),
                referrers=tuple(
                    self._sql_text(self._referrer_update(referrer, attribute, table))
                    for referrer, attribute in self._referrers[table.logical_name]
                ),
            )
            self._record_statements[table.logical_name] = found
        return found

    def _sql_text(self, statement: Any) -> str:
        compiled = statement.compile(
            dialect=self.engine.dialect, compile_kwargs={"literal_binds": True}
        )
        return str(compiled)

    def _rendered_update(self, table: Table) -> Any:
        sa_table = self.sa_table(table)
        return (
            sa.update(sa_table)
            .where(sa_table.c[table.primary_id] == _RECORD_ID)
            .values(
                {
                    JSON_COLUMN: row_json(table, sa_table, readable_attributes(table)),
                    ANNOTATIONS_COLUMN: self._annotations(table),
                }
            )
        )

    def _referrer_update(self, table: Table, attribute: str, target: Table) -> Any:
        sa_table = self.sa_table(table)
        return (
            sa.update(sa_table)
            .where(
                sa_table.c[attribute] == _RECORD_ID,
                sa_table.c[lookup_type_column(attribute)] == target.logical_name,
            )
            .values({ANNOTATIONS_COLUMN: self._annotations(table)})
        )

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """The connection, inside a transaction; nested calls join the outer transaction."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield self._connection
                finally:
                    self._depth -= 1
                return
            version = self._version
            self._depth = 1
            try:
                with self._connection.begin():
                    yield self._connection
                    self._connection.execute(
                        sa.update(self._state)
                        .where(self._state.c.name == "version")
                        .values(value=self._version)
                    )
                self.generation += 1
            except BaseException:
                self._version = version
                raise
            finally:
                self._depth = 0

    @contextmanager
    def savepoint(self) -> Iterator[Connection]:
        """A nested transaction (SAVEPOINT) inside :meth:`transaction`: rolled back on error."""
        with self.transaction() as conn:
            version = self._version
            try:
                with conn.begin_nested():
                    yield conn
            except BaseException:
                self._version = version
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

    def secret(self, name: str) -> bytes:
        """A random 32-byte secret kept with the data: the same after a restart on the same file
        (what signs paging tokens, so that a client's next link outlives a restart)."""
        with self.transaction() as conn:
            column = self._secrets.c.value
            found = conn.execute(sa.select(column).where(self._secrets.c.name == name)).scalar()
            if found is None:
                found = secrets.token_bytes(32)
                conn.execute(sa.insert(self._secrets).values(name=name, value=found))
            return bytes(found)

    # --- versions, time, deletions -------------------------------------------------------------

    @property
    def current_version(self) -> int:
        """The last version handed out."""
        return self._version

    def next_version(self) -> int:
        """The next row version; call inside :meth:`transaction`."""
        self._version += 1
        return self._version

    def reserve_versions(self, count: int) -> int:
        """Reserve ``count`` versions at once (bulk loads); returns the first one."""
        first = self._version + 1
        self._version += count
        return first

    def now(self) -> str:
        """The emulator time as stored in ``createdon``/``modifiedon``."""
        return format_datetime(self.clock.now())

    def record_deletion(self, conn: Connection, table: Table, record_id: str) -> None:
        """Log the deletion of a record (its row is already gone); records that looked it up
        lose its name from their formatted values."""
        for statement in self._statements(table).referrers:
            conn.exec_driver_sql(statement, (record_id,))
        conn.execute(
            sa.insert(self.deletions).values(
                tablename=table.logical_name,
                id=record_id,
                version=self.next_version(),
                deletedon=self.now(),
            )
        )

    def tracking_enabled(self, table: Table) -> bool:
        return self._tracking[table.logical_name]

    def set_tracking(self, table: Table, enabled: bool) -> None:
        with self._lock:
            self._tracking[table.logical_name] = enabled
            self.generation += 1

    def system_change(self, table: Table, record_id: str) -> bool:
        """Touch a record (new version and ``modifiedon``) without changing its data."""
        sa_table = self.sa_table(table)
        with self.transaction() as conn:
            result = conn.execute(
                sa.update(sa_table)
                .where(sa_table.c[table.primary_id] == record_id)
                .values(versionnumber=self.next_version(), modifiedon=self.now())
            )
            self.refresh_record(conn, table, record_id, referrers=False)
            return bool(result.rowcount)

    def count(self, table: Table) -> int:
        with self.reading() as conn:
            return int(
                conn.execute(
                    sa.select(sa.func.count()).select_from(self.sa_table(table))
                ).scalar_one()
            )
