"""Rejected records, with their code and message, of every workflow."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa

from crmsync.state.models import Reject
from crmsync.state.part import StatePart, to_json
from crmsync.store.key_lists import one_of

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

    def take(
        self, conn: sa.Connection, workflow: str, mapping: str, record_ids: Sequence[str] | None
    ) -> list[tuple[str, datetime]]:
        """In the caller's transaction: remove the rejects of ``workflow`` and ``mapping`` (of
        these records only, when given); returns each record's id and its latest reject's
        time."""
        t = self.tables.rejects
        where = [t.c.workflow == workflow, t.c.mapping == mapping, t.c.record_id.is_not(None)]
        if record_ids is not None:
            where.append(one_of(t.c.record_id, list(record_ids), conn.dialect))
        found = conn.execute(
            sa.select(t.c.record_id, sa.func.max(t.c.at)).where(*where).group_by(t.c.record_id)
        ).all()
        conn.execute(sa.delete(t).where(*where))
        return [(record_id, at) for record_id, at in found]

    def count(self, mapping: str | None = None) -> int:
        return self._count(self.tables.rejects, mapping)
