"""SQLAlchemy tables built from resource definitions.

:func:`build_metadata` is the only place that decides what a resource table looks like: the
bookkeeping columns, one column per field, a unique index per unique field, an index and a foreign
key per link. Names come from validated definitions; SQLAlchemy quotes them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import sqlalchemy as sa

from crmsync.store.errors import StoreDefinitionError
from crmsync.store.names import SOURCE_DIGEST, SYNCED_AT, constraint_name
from crmsync.store.resources import PROFILE, FieldDefinition, ResourceDefinition
from crmsync.store.types import UtcDateTime, sql_type

__all__ = ["build_metadata", "column_for", "definitions_with_profile", "server_default_for"]


def definitions_with_profile(
    resources: Iterable[ResourceDefinition],
) -> dict[str, ResourceDefinition]:
    """The built-in ``profile`` followed by ``resources``, by name (names must be unique)."""
    out: dict[str, ResourceDefinition] = {PROFILE.name: PROFILE}
    for resource in resources:
        if resource.name in out:
            raise StoreDefinitionError(f"resource '{resource.name}' is defined twice")
        out[resource.name] = resource
    return out


def server_default_for(field: FieldDefinition) -> sa.TextClause | None:
    """The DDL default of a field, rendered from a typed literal (never from raw text)."""
    value = field.default
    if value is None:
        return None
    if isinstance(value, bool):
        return _bool_default(value)
    literal = sa.literal(value)
    compiled = literal.compile(compile_kwargs={"literal_binds": True})
    return sa.text(str(compiled))


def _bool_default(value: bool) -> sa.TextClause:
    # "true"/"false" are understood by PostgreSQL and, since 3.23, by SQLite.
    return sa.text("true" if value else "false")


def column_for(
    field: FieldDefinition, *, nullable_override: bool | None = None
) -> sa.Column[object]:
    """The column of one field."""
    nullable = field.nullable if nullable_override is None else nullable_override
    return sa.Column(
        field.name,
        sql_type(field.type, field.length),
        nullable=nullable,
        server_default=server_default_for(field),
        comment=field.description or None,
    )


def build_metadata(resources: Mapping[str, ResourceDefinition]) -> sa.MetaData:
    """One table per resource, with its indexes and links, in a fresh :class:`MetaData`."""
    metadata = sa.MetaData()
    for resource in resources.values():
        _build_table(metadata, resource, resources)
    return metadata


def _build_table(
    metadata: sa.MetaData,
    resource: ResourceDefinition,
    resources: Mapping[str, ResourceDefinition],
) -> sa.Table:
    links = {link.field: link for link in resource.links}
    columns: list[sa.Column[object]] = [
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
    ]
    for field in resource.fields:
        link = links.get(field.name)
        column = column_for(
            field, nullable_override=None if link is None else link.cardinality == "0..1"
        )
        if link is not None:
            parent = resources.get(link.resource)
            if parent is None or parent.identifier is None:
                raise StoreDefinitionError(
                    f"resource '{resource.name}': link '{field.name}' names resource "
                    f"'{link.resource}', which is not defined or has no identifier"
                )
            column.append_foreign_key(
                sa.ForeignKey(
                    f"{parent.name}.{parent.identifier}",
                    name=constraint_name("fk", resource.name, field.name),
                    ondelete="CASCADE" if link.on_parent_delete == "cascade" else "SET NULL",
                )
            )
        columns.append(column)
    columns += [
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("modified_at", UtcDateTime(), nullable=False),
        sa.Column("origin", sa.String(255), nullable=True),
        sa.Column("source_version", sa.BigInteger(), nullable=True),
        sa.Column(SOURCE_DIGEST, sa.BigInteger(), nullable=True),
        sa.Column(SYNCED_AT, UtcDateTime(), nullable=True),
    ]
    table = sa.Table(resource.name, metadata, *columns, comment=resource.description or None)
    for name in resource.unique_fields():
        sa.Index(constraint_name("uq", resource.name, name), table.c[name], unique=True)
    for link in resource.links:
        if link.field not in resource.unique_fields():
            sa.Index(constraint_name("ix", resource.name, link.field), table.c[link.field])
    return table
