"""The backlogs of ``outbound`` and ``optinout``, read from the store alone (for ``status``)."""

from __future__ import annotations

import sqlalchemy as sa

from crmsync.config.models import Config
from crmsync.events.outbound import backlog as events_backlog
from crmsync.optout.tables import OUTBOX

__all__ = ["store_backlogs"]


def store_backlogs(engine: sa.Engine, config: Config) -> dict[str, int]:
    """Events of the switched-on types not yet sent; Campaign opt-out changes not yet sent.

    Tables that do not exist yet (a workflow that never ran) count as empty.
    """
    optinout = 0
    if config.optinout.direction != "disabled" and sa.inspect(engine).has_table(OUTBOX.name):
        with engine.connect() as conn:
            query = sa.select(sa.func.count()).select_from(OUTBOX)
            optinout = int(conn.execute(query.where(OUTBOX.c.sent_at.is_(None))).scalar_one())
    return {
        "outbound": events_backlog(engine, config.outbound.enabled()),
        "optinout": optinout,
    }
