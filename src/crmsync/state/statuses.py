"""The status of each workflow (SPEC §2), as every face shows it."""

from __future__ import annotations

import sqlalchemy as sa

from crmsync.state.models import WorkflowState, WorkflowStatus
from crmsync.state.part import StatePart

__all__ = ["WorkflowStatuses"]


class WorkflowStatuses(StatePart):
    """The workflows' last recorded statuses (``crmsync_workflows``)."""

    def set(self, workflow: str, status: WorkflowStatus | str, reason: str | None = None) -> None:
        """Record a workflow's status (``reason``: why it FAILED, or any note)."""
        status = WorkflowStatus(status)
        t = self.tables.workflows
        with self.engine.begin() as conn:
            stmt = self._insert(conn, t).values(
                workflow=workflow, status=status.value, reason=reason, updated_at=self._clock()
            )
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=[t.c.workflow],
                    set_={
                        "status": stmt.excluded.status,
                        "reason": stmt.excluded.reason,
                        "updated_at": stmt.excluded.updated_at,
                    },
                )
            )

    def all(self) -> dict[str, WorkflowState]:
        """Every workflow's last recorded status, by workflow."""
        t = self.tables.workflows
        with self.engine.connect() as conn:
            return {
                row.workflow: WorkflowState(
                    row.workflow, WorkflowStatus(row.status), row.reason, row.updated_at
                )
                for row in conn.execute(sa.select(t).order_by(t.c.workflow))
            }
