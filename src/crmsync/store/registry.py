"""The store's own record of published resource definitions (table ``crmsync_resources``).

Publishing compares the new definitions with the ones published last: that is how it knows a
table or column was dropped from the configuration (and not merely created by someone else) and
whether a field's type changed, exactly, on every database.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime

import sqlalchemy as sa

from crmsync.store.resources import ResourceDefinition
from crmsync.store.types import UtcDateTime

__all__ = ["REGISTRY_TABLE", "published_definitions", "registry_table", "save_definitions"]

REGISTRY_TABLE = "crmsync_resources"


def registry_table(metadata: sa.MetaData | None = None) -> sa.Table:
    """The registry table (in ``metadata``, or a fresh one)."""
    return sa.Table(
        REGISTRY_TABLE,
        metadata if metadata is not None else sa.MetaData(),
        sa.Column("name", sa.String(63), primary_key=True),
        sa.Column("definition", sa.Text(), nullable=False),
        sa.Column("published_at", UtcDateTime(), nullable=False),
    )


def published_definitions(conn: sa.Connection) -> dict[str, ResourceDefinition]:
    """The definitions published last, by name (empty when nothing was published)."""
    if not sa.inspect(conn).has_table(REGISTRY_TABLE):
        return {}
    table = registry_table()
    out: dict[str, ResourceDefinition] = {}
    for name, text in conn.execute(sa.select(table.c.name, table.c.definition)):
        out[name] = ResourceDefinition.model_validate(json.loads(text))
    return out


def save_definitions(conn: sa.Connection, resources: Mapping[str, ResourceDefinition]) -> None:
    """Record ``resources`` as the published definitions (replacing the previous set)."""
    table = registry_table()
    table.create(conn, checkfirst=True)
    conn.execute(sa.delete(table))
    now = datetime.now(UTC)
    rows = [
        {
            "name": name,
            "definition": json.dumps(definition.model_dump(mode="json")),
            "published_at": now,
        }
        for name, definition in resources.items()
    ]
    if rows:
        conn.execute(sa.insert(table), rows)
