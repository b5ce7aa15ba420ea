"""Rejected records, with their code and message, of every workflow."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
import sqlalchemy as sa

from crmsync.state.models import Reject
from crmsync.state.part import StatePart, to_json

__all__ = ["Rejects"]


class Rejects(StatePart):
    """The rejects (``crmsync_rejects``)."""

    def add(
        self,
        conn: sa.Connection,
        workflow: str,
        mapping: str | None,
        record_id: str | None,
        code: str,
        message: str,
        record: Mapping[str, Any],
    ) -> None:
        """In the writer's transaction: keep a rejected record with its code and message."""
        conn.execute(
            sa.insert(self.tables.rejects).values(
                at=self._clock(),
                workflow=workflow,
                mapping=mapping,
                record_id=record_id,
                code=code,
                message=message,
                record=to_json(record),
            )
        )

    def newest(
        self,
        workflow: str | None = None,
        mapping: str | None = None,
        code: str | None = None,
        limit: int = 100,
    ) -> list[Reject]:
        """The newest rejects first, filtered by what is given."""
        t = self.tables.rejects
        query = sa.select(t)
        for column, value in ((t.c.workflow, workflow), (t.c.mapping, mapping), (t.c.code, code)):
            if value is not None:
                query = query.where(column == value)
        query = query.order_by(t.c.id.desc()).limit(limit)
        with self.engine.connect() as conn:
            return [
                Reject(
                    row.id,
                    row.at,
                    row.workflow,
                    row.mapping,
                    row.record_id,
                    row.code,
                    row.message,
                    orjson.loads(row.record),
                )
                for row in conn.execute(query)
            ]

    def count(self, mapping: str | None = None) -> int:
        return self._count(self.tables.rejects, mapping)
