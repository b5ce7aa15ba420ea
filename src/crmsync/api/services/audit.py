"""The operator audit trail, read by admins through the API and the console (both the same way)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field

from crmsync.audit import Face, Outcome, query

__all__ = ["MAX_PAGE", "AuditOut", "AuditService"]

#: The most entries one request returns.
MAX_PAGE = 1000


class AuditOut(BaseModel):
    """One operator action: ids, names and counts only, never personal data or secrets."""

    model_config = ConfigDict(frozen=True)

    id: int
    at: datetime = Field(description="When it began (UTC).")
    actor: str = Field(description="A user's name, 'token:<user>' or 'cli:<OS user>'.")
    face: Face
    action: str = Field(description="What was done, e.g. 'workflow.start', 'mapping.update'.")
    target: str = Field(description="The workflow, mapping, user, job or run acted on.")
    outcome: Outcome = Field(
        description="ok; refused (role too low); failed (details.error: the error's code); "
        "started (no end recorded: the process stopped during the action)."
    )
    details: dict[str, Any] = Field(description="Ids, names and counts, e.g. the revision.")


class AuditService:
    """The trail of ``engine``'s store."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    async def entries(
        self,
        *,
        user: str | None = None,
        action: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[AuditOut]:
        """Newest first; the filters of :func:`crmsync.audit.query`."""
        found = await asyncio.to_thread(
            query,
            self.engine,
            actor=user,
            action=action,
            since=since,
            until=until,
            limit=limit,
            offset=offset,
        )
        return [
            AuditOut(
                id=e.id,
                at=e.at,
                actor=e.actor,
                face=e.face,
                action=e.action,
                target=e.target,
                outcome=e.outcome,
                details=dict(e.details),
            )
            for e in found
        ]
