"""Applying a :class:`~crmsync.store.publish.PublishPlan` to SQLite or PostgreSQL.

SQLAlchemy Core has no "alter column" constructs (that is Alembic's business, and Alembic's
autogenerate would be a second, different definition of what the schema should be), so the few
``ALTER TABLE`` statements are written here from validated identifiers, quoted by the dialect, and
types compiled by the dialect. No user text reaches SQL any other way.

SQLite cannot change a column's type, nullability or foreign key: those tables are rebuilt by copy
(new table, copy rows, drop, rename, re-create indexes) inside the publishing transaction, with
foreign keys checked at the end, as SQLite's documentation prescribes (the schema transaction
of :mod:`crmsync.store.schema` switches them off).
"""

from __future__ import annotations

from collections.abc import Mapping

import sqlalchemy as sa
from sqlalchemy.schema import CreateColumn

from crmsync.store.errors import StoreDefinitionError
from crmsync.store.publish import REBUILD_ON_SQLITE, PublishPlan, SchemaChange, SchemaChangeKind
from crmsync.store.registry import save_definitions
from crmsync.store.resources import ResourceDefinition
from crmsync.store.tables import build_metadata
from crmsync.store.types import CampaignType

__all__ = ["apply_plan"]

_REBUILD_PREFIX = "crmsync_rebuild_"


def apply_plan(
    conn: sa.Connection, plan: PublishPlan, resources: Mapping[str, ResourceDefinition]
) -> None:
    """Apply ``plan`` (computed for ``resources``) and record ``resources`` as published, in the
    transaction of ``conn`` (a :func:`~crmsync.store.schema.schema_transaction`)."""
    metadata = build_metadata(resources)
    if conn.dialect.name == "sqlite":
        _apply_sqlite(conn, plan, metadata, resources)
    else:
        for change in plan.changes:
            _apply_postgresql(conn, change, metadata)
    save_definitions(conn, resources)


def _q(conn: sa.Connection, name: str) -> str:
    return conn.dialect.identifier_preparer.quote(name)


def _add_column(conn: sa.Connection, column: sa.Column[object]) -> None:
    spec = str(CreateColumn(column).compile(dialect=conn.dialect))
    for fk in column.foreign_keys:
        target = fk.column
        spec += (
            f" REFERENCES {_q(conn, target.table.name)} ({_q(conn, target.name)})"
            f" ON DELETE {'CASCADE' if fk.ondelete == 'CASCADE' else 'SET NULL'}"
        )
    table = column.table
    conn.exec_driver_sql(f"ALTER TABLE {_q(conn, table.name)} ADD COLUMN {spec}")


def _apply_common(conn: sa.Connection, change: SchemaChange, metadata: sa.MetaData) -> bool:
    """Apply a change both databases make the same way; ``False`` if it is not one of those."""
    match change.kind:
        case SchemaChangeKind.CREATE_TABLE:
            metadata.tables[change.table].create(conn)
        case SchemaChangeKind.ADD_COLUMN | SchemaChangeKind.ADD_REQUIRED_COLUMN:
            assert change.name is not None
            _add_column(conn, metadata.tables[change.table].c[change.name])
        case SchemaChangeKind.ADD_INDEX:
            index = next(i for i in metadata.tables[change.table].indexes if i.name == change.name)
            index.create(conn)
        case SchemaChangeKind.DROP_INDEX:
            assert change.name is not None
            conn.exec_driver_sql(f"DROP INDEX {_q(conn, change.name)}")
        case SchemaChangeKind.DROP_TABLE:
            conn.exec_driver_sql(f"DROP TABLE {_q(conn, change.table)}")
        case _:
            return False
    return True


def _apply_postgresql(conn: sa.Connection, change: SchemaChange, metadata: sa.MetaData) -> None:
    if _apply_common(conn, change, metadata):
        return
    assert change.name is not None
    table, column = _q(conn, change.table), _q(conn, change.name)
    match change.kind:
        case SchemaChangeKind.DROP_COLUMN:
            conn.exec_driver_sql(f"ALTER TABLE {table} DROP COLUMN {column}")
        case SchemaChangeKind.ALTER_TYPE:
            new_type = metadata.tables[change.table].c[change.name].type.compile(conn.dialect)
            conn.exec_driver_sql(
                f"ALTER TABLE {table} ALTER COLUMN {column} TYPE {new_type} "
                f"USING CAST({column} AS {new_type})"
            )
        case SchemaChangeKind.SET_NOT_NULL:
            conn.exec_driver_sql(f"ALTER TABLE {table} ALTER COLUMN {column} SET NOT NULL")
        case SchemaChangeKind.DROP_NOT_NULL:
            conn.exec_driver_sql(f"ALTER TABLE {table} ALTER COLUMN {column} DROP NOT NULL")
        case SchemaChangeKind.ALTER_LINK:
            for fk in sa.inspect(conn).get_foreign_keys(change.table):
                if fk["constrained_columns"] == [change.name] and fk["name"]:
                    conn.exec_driver_sql(
                        f"ALTER TABLE {table} DROP CONSTRAINT {_q(conn, fk['name'])}"
                    )
            for constraint in metadata.tables[change.table].c[change.name].foreign_keys:
                conn.execute(sa.schema.AddConstraint(constraint.constraint))  # type: ignore[arg-type]
        case _:  # pragma: no cover - every kind is handled above
            raise AssertionError(change.kind)


def _apply_sqlite(
    conn: sa.Connection,
    plan: PublishPlan,
    metadata: sa.MetaData,
    resources: Mapping[str, ResourceDefinition],
) -> None:
    rebuild = {c.table for c in plan.changes if c.kind in REBUILD_ON_SQLITE}
    retyped = {(c.table, c.name) for c in plan.changes if c.kind is SchemaChangeKind.ALTER_TYPE}
    for change in plan.changes:
        if change.table in rebuild and change.kind is not SchemaChangeKind.DROP_TABLE:
            continue
        _apply_common(conn, change, metadata)
    for table in metadata.sorted_tables:
        if table.name in rebuild:
            _rebuild_sqlite(conn, table, resources[table.name], retyped)
    # Foreign keys are off in schema work (SQLite's rebuild procedure): checked here instead.
    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").all()
    if broken:
        raise StoreDefinitionError(
            f"publishing would leave {len(broken)} rows linked to missing parents "
            f"(first in table '{broken[0][0]}'); nothing was changed"
        )


def _rebuild_sqlite(
    conn: sa.Connection,
    table: sa.Table,
    resource: ResourceDefinition,
    retyped: set[tuple[str, str | None]],
) -> None:
    old = sa.Table(table.name, sa.MetaData(), autoload_with=conn)
    temp = table.to_metadata(table.metadata, name=_REBUILD_PREFIX + table.name)
    temp.indexes.clear()  # the real table's indexes are created after the rename
    temp.create(conn)
    common = [c.name for c in table.columns if c.name in old.c]
    selected: list[sa.ColumnElement[object]] = []
    for name in common:
        field = resource.field(name)
        if (
            (table.name, name) in retyped
            and field is not None
            and field.type not in (CampaignType.DATE, CampaignType.DATETIME)
        ):
            selected.append(sa.cast(old.c[name], table.c[name].type))
        else:
            selected.append(old.c[name])
    conn.execute(sa.insert(temp).from_select(common, sa.select(*selected)))
    conn.exec_driver_sql(f"DROP TABLE {_q(conn, table.name)}")
    conn.exec_driver_sql(f"ALTER TABLE {_q(conn, temp.name)} RENAME TO {_q(conn, table.name)}")
    for index in table.indexes:
        index.create(conn)
    table.metadata.remove(temp)
