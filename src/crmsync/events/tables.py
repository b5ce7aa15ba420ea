"""The event store's tables in the Campaign store, one per event type.

Each row is an event and, at the same time, its outbox entry: ``sent_at`` stays empty until the
outbound workflow has settled the event (written to the CRM, skipped, or rejected) *after* the
CRM answered, in the same transaction as the counters and rejects that describe it. Pending events
are read in ``seq`` order through the ``(sent_at, seq)`` index.

- ``crmsync_event_send`` / ``_open`` / ``_click`` (``url``) / ``_bounce`` (``bounce_type``,
  ``reason``): ``event_id`` unique per type, so recording an event twice adds nothing.
- ``crmsync_event_unsubscribe``: unsubscribes, ``event_id`` unique; recording one changes the
  profile's opt-outs in the same transaction and keeps what it did in ``outcome``. They are not
  sent as events (the opt-in/out workflow carries the opt-outs to the CRM).
- ``crmsync_outbound_counters``: what the workflow did, per event type, over its whole life.
"""

from __future__ import annotations

import sqlalchemy as sa

from crmsync.config.models import EventType
from crmsync.store.types import UtcDateTime

__all__ = [
    "COUNTERS",
    "COUNTER_NAMES",
    "EVENT_TABLES",
    "METADATA",
    "UNSUBSCRIBES",
]

METADATA = sa.MetaData()
_SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

#: Outcomes written to ``outcome`` (a rejected event has the CRM's error code in ``error_code``).
WRITTEN, SKIPPED_NO_CRM_ID, REJECTED = "written", "skipped_no_crm_id", "rejected"


def _event_table(event_type: EventType, *extra: sa.Column[object]) -> sa.Table:
    name = f"crmsync_event_{event_type}"
    return sa.Table(
        name,
        METADATA,
        sa.Column("seq", _SEQ, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(64), nullable=False, unique=True),
        sa.Column("profile_id", sa.BigInteger(), nullable=False),
        sa.Column("delivery_id", sa.String(255), nullable=False),
        sa.Column("delivery_name", sa.String(255), nullable=True),
        sa.Column("occurred_at", UtcDateTime(), nullable=False),
        *extra,
        sa.Column("recorded_at", UtcDateTime(), nullable=False),
        sa.Column("sent_at", UtcDateTime(), nullable=True),
        sa.Column("outcome", sa.String(32), nullable=True),
        sa.Column("crm_id", sa.String(64), nullable=True),
        sa.Column("error_code", sa.String(255), nullable=True),
        sa.Index(f"ix_{name}_pending", "sent_at", "seq"),
        sa.Index(f"ix_{name}_profile", "profile_id"),
    )


EVENT_TABLES: dict[EventType, sa.Table] = {
    "send": _event_table("send"),
    "open": _event_table("open"),
    "click": _event_table("click", sa.Column("url", sa.String(2000), nullable=False)),
    "bounce": _event_table(
        "bounce",
        sa.Column("bounce_type", sa.String(8), nullable=False),
        sa.Column("reason", sa.String(1000), nullable=True),
    ),
}

UNSUBSCRIBES = sa.Table(
    "crmsync_event_unsubscribe",
    METADATA,
    sa.Column("seq", _SEQ, primary_key=True, autoincrement=True),
    sa.Column("event_id", sa.String(64), nullable=False, unique=True),
    sa.Column("profile_id", sa.BigInteger(), nullable=False),
    #: The opt-out attributes named, comma-separated.
    sa.Column("attributes", sa.String(255), nullable=False),
    sa.Column("delivery_id", sa.String(255), nullable=True),
    sa.Column("delivery_name", sa.String(255), nullable=True),
    sa.Column("occurred_at", UtcDateTime(), nullable=False),
    sa.Column("recorded_at", UtcDateTime(), nullable=False),
    #: ``opted_out`` (some attribute changed), ``unchanged`` (already opted out), ``superseded``
    #: (every attribute was opted in after the unsubscribe) or ``no_profile``.
    sa.Column("outcome", sa.String(32), nullable=False),
    #: The attributes this unsubscribe changed, comma-separated (empty when none).
    sa.Column("changed", sa.String(255), nullable=False, server_default=""),
)

COUNTER_NAMES = ("read", "written", "skipped_no_crm_id", "rejected", "crm_calls")

COUNTERS = sa.Table(
    "crmsync_outbound_counters",
    METADATA,
    sa.Column("event_type", sa.String(16), primary_key=True),
    *(
        sa.Column(name, sa.BigInteger(), nullable=False, server_default="0")
        for name in COUNTER_NAMES
    ),
    sa.Column("updated_at", UtcDateTime(), nullable=True),
)
