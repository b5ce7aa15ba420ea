"""The backlogs of ``outbound`` and ``optinout``, read from the store alone (for ``status``)."""

from __future__ import annotations

import sqlalchemy as sa

from crmsync.config.models import Config
from crmsync.events.outbound import backlog as events_backlog
from crmsync.optout.tables import OUTBOX
from crmsync.state.upgrade import ensure_store_schema

__all__ = ["store_backlogs"]


def store_backlogs(engine: sa.Engine, config: Config) -> dict[str, int]:
    """Events of the switched-on types not yet sent; Campaign opt-out changes not yet sent."""
    ensure_store_schema(engine)
    optinout = 0
    if config.optinout.direction != "disabled":
        with engine.connect() as conn:
            query = sa.select(sa.func.count()).select_from(OUTBOX)
            optinout = int(conn.execute(query.where(OUTBOX.c.sent_at.is_(None))).scalar_one())
    return {
        "outbound": events_backlog(engine, config.outbound.enabled()),
        "optinout": optinout,
    }
