"""The CRM table metadata the readers compiled their mappings against, shared with the writers.

A ``writer`` worker never calls the CRM, yet compiling a mapping (the conversion of each field)
needs the CRM table's description. Each reader saves the description of every table it reads
(``crmsync_crm_tables``, one row per connection and table, as JSON); a writer compiles its
mappings from there, waiting for a reader when one is missing.
"""

from __future__ import annotations

import functools

import sqlalchemy as sa
from pydantic import TypeAdapter

from crmsync.connectors.base import TableInfo
from crmsync.state.part import StatePart

__all__ = ["CrmTables"]


@functools.cache
def _adapter() -> TypeAdapter[TableInfo]:
    return TypeAdapter(TableInfo)


class CrmTables(StatePart):
    """Saved CRM table descriptions, by connection and CRM table."""

    def save(self, connection: str, info: TableInfo) -> None:
        t = self.tables.crm_tables
        document = _adapter().dump_json(info).decode()
        with self.engine.begin() as conn:
            stmt = self._insert(conn, t).values(
                connection=connection,
                crm_table=info.name,
                info=document,
                described_at=self._clock(),
            )
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=[t.c.connection, t.c.crm_table],
                    set_={"info": stmt.excluded.info, "described_at": stmt.excluded.described_at},
                )
            )

    def load(self, connection: str, crm_table: str) -> TableInfo | None:
        """The description saved for ``crm_table`` of ``connection`` (``None``: no reader has
        saved one yet)."""
        t = self.tables.crm_tables
        with self.engine.connect() as conn:
            document = conn.scalar(
                sa.select(t.c.info).where(t.c.connection == connection, t.c.crm_table == crm_table)
            )
        return None if document is None else _adapter().validate_json(document)
