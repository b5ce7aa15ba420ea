"""The SQL expression that renders a stored row as the Web API's JSON object.

SQLite's ``json_object`` builds each record's JSON text inside the database, so the read path
does no per-row Python work. The store keeps the full record's text in a hidden ``_json`` column
(refreshed by every write), which makes reads of whole records a plain column scan. A second hidden
column, ``_annotations``, keeps the record's formatted values (see :mod:`.formatting`) the same
way. Both are a cache: where they are empty (rows seeded into a data file, which stay compact)
the read statement renders the text instead, with the same result.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from crmsync.emulators.dataverse.schema import Attribute, AttributeType, Table

__all__ = [
    "ANNOTATIONS_COLUMN",
    "JSON_COLUMN",
    "lookup_type_column",
    "readable_attributes",
    "row_json",
]

#: The hidden column holding each record's full JSON text.
JSON_COLUMN = "_json"
#: The hidden column holding the formatted values of each record's readable attributes, as the
#: JSON members to splice before the closing brace.
ANNOTATIONS_COLUMN = "_annotations"


def lookup_type_column(name: str) -> str:
    """The hidden column holding a lookup's target table (lookups may point at several)."""
    return f"{name}__target"


def readable_attributes(table: Table) -> tuple[Attribute, ...]:
    """The attributes a read without ``$select`` returns, in order."""
    return tuple(attribute for attribute in table.attributes if attribute.valid_for_read)


def _value(attribute: Attribute, column: Any) -> Any:
    if attribute.type == AttributeType.BOOLEAN:
        return sa.case(
            (column.is_(None), sa.null()),
            (column != 0, sa.func.json("true")),
            else_=sa.func.json("false"),
        )
    return column


def row_json(table: Table, sa_table: sa.Table, attributes: Sequence[Attribute]) -> Any:
    """``json_object(...)`` of ``attributes`` plus ``@odata.etag`` and the primary key.

    Property names come from the schema (checked identifiers), never from requests.
    """
    args: list[Any] = [
        sa.literal_column("'@odata.etag'"),
        sa.literal_column("'W/\"'") + sa.cast(sa_table.c.versionnumber, sa.Text) + '"',
    ]
    for attribute in attributes:
        if attribute.logical_name == table.primary_id:
            continue
        args.append(sa.literal_column(f"'{attribute.wire_name}'"))
        args.append(_value(attribute, sa_table.c[attribute.logical_name]))
    args.append(sa.literal_column(f"'{table.primary_id}'"))
    args.append(sa_table.c[table.primary_id])
    return sa.func.json_object(*args)
