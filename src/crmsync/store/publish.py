"""Publishing resource definitions: compare them with the database, then apply the difference.

:func:`plan_publish` compares the definitions (with the built-in ``profile``) with the database
(SQLAlchemy inspector) and with the definitions published last (:mod:`crmsync.store.registry`),
and lists the changes. Additive changes (new tables, new nullable columns, new indexes, relaxed
nullability) are always applied; destructive ones (dropped tables or columns, type changes,
tightened nullability, changed links) only with ``force``. :func:`publish` does both; publishing
the same definitions twice changes nothing the second time.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum

import sqlalchemy as sa

from crmsync.store.engine import missing_sqlite_file
from crmsync.store.errors import DestructiveChangeError
from crmsync.store.registry import published_definitions
from crmsync.store.resources import FieldDefinition, ResourceDefinition
from crmsync.store.tables import build_metadata, definitions_with_profile

__all__ = ["PublishPlan", "SchemaChange", "SchemaChangeKind", "plan_publish", "publish"]


class SchemaChangeKind(StrEnum):
    CREATE_TABLE = "create_table"
    ADD_COLUMN = "add_column"
    ADD_INDEX = "add_index"
    DROP_INDEX = "drop_index"
    DROP_NOT_NULL = "drop_not_null"
    DROP_TABLE = "drop_table"
    DROP_COLUMN = "drop_column"
    ALTER_TYPE = "alter_type"
    SET_NOT_NULL = "set_not_null"
    ALTER_LINK = "alter_link"
    ADD_REQUIRED_COLUMN = "add_required_column"


_DESTRUCTIVE = frozenset(
    {
        SchemaChangeKind.DROP_TABLE,
        SchemaChangeKind.DROP_COLUMN,
        SchemaChangeKind.ALTER_TYPE,
        SchemaChangeKind.SET_NOT_NULL,
        SchemaChangeKind.ALTER_LINK,
        SchemaChangeKind.ADD_REQUIRED_COLUMN,
    }
)

#: Changes SQLite can only make by rebuilding the table.
REBUILD_ON_SQLITE = frozenset(
    {
        SchemaChangeKind.DROP_COLUMN,
        SchemaChangeKind.ALTER_TYPE,
        SchemaChangeKind.SET_NOT_NULL,
        SchemaChangeKind.DROP_NOT_NULL,
        SchemaChangeKind.ALTER_LINK,
        SchemaChangeKind.ADD_REQUIRED_COLUMN,
    }
)


@dataclass(frozen=True, slots=True)
class SchemaChange:
    """One difference between the definitions and the database."""

    kind: SchemaChangeKind
    table: str
    name: str | None = None  # the column or index concerned
    detail: str = ""

    @property
    def destructive(self) -> bool:
        return self.kind in _DESTRUCTIVE

    def describe(self) -> str:
        """One line for people, e.g. ``drop column subscription.level (its data is lost)``."""
        what = self.kind.value.replace("_", " ")
        target = self.table if self.name is None else f"{self.table}.{self.name}"
        return f"{what} {target}" + (f" ({self.detail})" if self.detail else "")


@dataclass(frozen=True, slots=True)
class PublishPlan:
    """The changes publishing makes, in the order they are applied."""

    changes: tuple[SchemaChange, ...]

    @property
    def destructive(self) -> tuple[SchemaChange, ...]:
        return tuple(c for c in self.changes if c.destructive)

    @property
    def is_empty(self) -> bool:
        return not self.changes

    def describe(self) -> list[str]:
        return [c.describe() for c in self.changes]


def plan_publish(conn: sa.Connection, resources: Iterable[ResourceDefinition]) -> PublishPlan:
    """The changes that bring the database in line with ``resources`` (plus ``profile``)."""
    wanted = definitions_with_profile(resources)
    metadata = build_metadata(wanted)
    inspector = sa.inspect(conn)
    existing = set(inspector.get_table_names())
    previous = published_definitions(conn)
    changes: list[SchemaChange] = []
    for table in metadata.sorted_tables:
        resource = wanted[table.name]
        if table.name not in existing:
            changes.append(SchemaChange(SchemaChangeKind.CREATE_TABLE, table.name))
            continue
        changes += _column_changes(inspector, table, resource, previous.get(table.name))
        changes += _index_changes(inspector, table)
    for name in reversed(_drop_order(previous, wanted)):
        if name in existing:
            changes.append(
                SchemaChange(SchemaChangeKind.DROP_TABLE, name, detail="its data is lost")
            )
    return PublishPlan(tuple(changes))


def _drop_order(
    previous: Mapping[str, ResourceDefinition], wanted: Mapping[str, object]
) -> list[str]:
    """Published resources no longer defined, parents before children."""
    gone = [name for name in previous if name not in wanted]
    if not gone:
        return []
    metadata = build_metadata({name: previous[name] for name in previous})
    return [t.name for t in metadata.sorted_tables if t.name in gone]


def _column_changes(
    inspector: sa.Inspector,
    table: sa.Table,
    resource: ResourceDefinition,
    before: ResourceDefinition | None,
) -> list[SchemaChange]:
    name = table.name
    present = {column["name"]: column for column in inspector.get_columns(name)}
    changes: list[SchemaChange] = []
    for column in table.columns:
        reflected = present.get(column.name)
        field = resource.field(column.name)
        if reflected is None:
            if column.nullable or column.server_default is not None:
                changes.append(SchemaChange(SchemaChangeKind.ADD_COLUMN, name, column.name))
            else:
                changes.append(
                    SchemaChange(
                        SchemaChangeKind.ADD_REQUIRED_COLUMN,
                        name,
                        column.name,
                        "not null without a default: fails if the table has rows",
                    )
                )
            continue
        if field is None:
            continue  # bookkeeping columns are the store's own
        old = before.field(column.name) if before is not None else None
        if old is not None and (old.type, old.length) != (field.type, field.length):
            changes.append(
                SchemaChange(
                    SchemaChangeKind.ALTER_TYPE,
                    name,
                    column.name,
                    f"{_type_text(old)} → {_type_text(field)}; values are converted",
                )
            )
        if reflected["nullable"] and not column.nullable:
            changes.append(
                SchemaChange(
                    SchemaChangeKind.SET_NOT_NULL, name, column.name, "fails if a row has no value"
                )
            )
        elif not reflected["nullable"] and column.nullable:
            changes.append(SchemaChange(SchemaChangeKind.DROP_NOT_NULL, name, column.name))
        if before is not None:
            old_link = next((k for k in before.links if k.field == column.name), None)
            new_link = next((k for k in resource.links if k.field == column.name), None)
            if old_link != new_link and (old_link is not None or new_link is not None):
                changes.append(
                    SchemaChange(SchemaChangeKind.ALTER_LINK, name, column.name, "link changed")
                )
    for column_name in present:
        if column_name not in table.columns:
            changes.append(
                SchemaChange(SchemaChangeKind.DROP_COLUMN, name, column_name, "its data is lost")
            )
    return changes


def _type_text(field: FieldDefinition) -> str:
    return field.type.value + (f"({field.length})" if field.length is not None else "")


def _index_changes(inspector: sa.Inspector, table: sa.Table) -> list[SchemaChange]:
    present = {index["name"]: index for index in inspector.get_indexes(table.name)}
    wanted = {str(index.name): index for index in table.indexes}
    changes: list[SchemaChange] = []
    for index_name, index in wanted.items():
        found = present.get(index_name)
        if found is not None and bool(found["unique"]) == bool(index.unique):
            continue
        if found is not None:
            changes.append(SchemaChange(SchemaChangeKind.DROP_INDEX, table.name, index_name))
        detail = "unique: fails if values repeat" if index.unique else ""
        changes.append(SchemaChange(SchemaChangeKind.ADD_INDEX, table.name, index_name, detail))
    for reflected_name in present:
        index_name = str(reflected_name)
        if index_name not in wanted and index_name.startswith(("uq_", "ix_")):
            changes.append(SchemaChange(SchemaChangeKind.DROP_INDEX, table.name, index_name))
    return changes


@contextmanager
def _read_only(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A connection that only reads (its transaction is rolled back): the store's, or an empty
    database in memory for a SQLite file not made yet, which connecting would create."""
    if missing_sqlite_file(engine.url) is None:
        with engine.connect() as conn:
            yield conn
        return
    empty = sa.create_engine("sqlite://")
    try:
        with empty.connect() as conn:
            yield conn
    finally:
        empty.dispose()


def publish(
    engine: sa.Engine,
    resources: Iterable[ResourceDefinition],
    *,
    force: bool = False,
    dry_run: bool = False,
) -> PublishPlan:
    """Bring the database in line with ``resources``; return the plan that was (or would be) run.

    Destructive changes raise :class:`DestructiveChangeError` (listing each) unless ``force``.
    With ``dry_run`` nothing is changed nor created (not even a SQLite file). The whole
    publication, comparison included, runs in one schema transaction
    (:func:`~crmsync.store.schema.schema_transaction`).
    """
    from crmsync.store.migrate import apply_plan
    from crmsync.store.schema import schema_transaction

    resources = list(resources)
    if dry_run:
        with _read_only(engine) as conn:
            return plan_publish(conn, resources)
    # Planned and applied in one schema transaction: a publication running beside (another
    # workflow starting) waits for this one and then finds nothing left to do.
    with schema_transaction(engine) as conn:
        plan = plan_publish(conn, resources)
        if plan.destructive and not force:
            lines = [c.describe() for c in plan.destructive]
            raise DestructiveChangeError(
                "publishing would make destructive changes:\n  - "
                + "\n  - ".join(lines)
                + "\nrun again with --force to apply them",
                changes=lines,
            )
        apply_plan(conn, plan, definitions_with_profile(resources))
    return plan
