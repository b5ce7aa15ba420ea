"""crmsync's own tables as they were before schema versions

Revision ID: 0001_baseline
Revises:

Written out here, not taken from the models, so that changing a model never changes this step.
A store made before schema versions holds some or all of these tables: only the missing ones are
created (each table as that release created it on open: ``create_all`` with ``checkfirst``),
which stamps it at this version.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_baseline"
down_revision = None
branch_labels = None
depends_on = None

_NAME = sa.String(255)
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_AT = sa.DateTime(timezone=True)
_INBOUND_COUNTERS = (
    "read",
    "inserted",
    "updated",
    "unchanged",
    "deleted",
    "filtered",
    "rejected",
    "parked",
    "crm_calls",
    "campaign_writes",
)
_OUTBOUND_COUNTERS = ("read", "written", "skipped_no_crm_id", "rejected", "crm_calls")


def _sync_state(m: sa.MetaData) -> None:
    sa.Table(
        "crmsync_cursors",
        m,
        sa.Column("mapping", _NAME, primary_key=True),
        sa.Column("cursor", sa.Text(), nullable=False),
        sa.Column("updated_at", _AT, nullable=False),
    )
    sa.Table(
        "crmsync_watermarks",
        m,
        sa.Column("mapping", _NAME, primary_key=True),
        sa.Column("version", sa.BigInteger(), nullable=False),
    )
    sa.Table(
        "crmsync_tombstones",
        m,
        sa.Column("mapping", _NAME, primary_key=True),
        sa.Column("key", _NAME, primary_key=True),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("deleted_at", _AT, nullable=False),
    )
    sa.Table(
        "crmsync_snapshots",
        m,
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("mapping", _NAME, nullable=False, index=True),
        sa.Column("started_at", _AT, nullable=False),
        sa.Column("finished_at", _AT),
        sa.Column("total_messages", sa.Integer()),
        sa.Column("closed_at", _AT),
    )
    sa.Table(
        "crmsync_snapshot_messages",
        m,
        sa.Column("snapshot_id", sa.String(32), primary_key=True),
        sa.Column("message_id", _NAME, primary_key=True),
        sa.Column("applied", sa.Boolean(), nullable=False),
    )
    sa.Table(
        "crmsync_snapshot_key_sets",
        m,
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("snapshot_id", sa.String(32), nullable=False, index=True),
        sa.Column("key_list", sa.Text(), nullable=False),
    )
    sa.Table(
        "crmsync_snapshot_keys",
        m,
        sa.Column("snapshot_id", sa.String(32), primary_key=True),
        sa.Column("key", _NAME, primary_key=True),
    )
    sa.Table(
        "crmsync_counters",
        m,
        sa.Column("mapping", _NAME, primary_key=True),
        *(
            sa.Column(name, sa.BigInteger(), nullable=False, server_default="0")
            for name in _INBOUND_COUNTERS
        ),
        sa.Column("updated_at", _AT, nullable=False),
    )
    sa.Table(
        "crmsync_rejects",
        m,
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("at", _AT, nullable=False, index=True),
        sa.Column("workflow", _NAME, nullable=False),
        sa.Column("mapping", _NAME, index=True),
        sa.Column("record_id", _NAME),
        sa.Column("code", _NAME, nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("record", sa.Text(), nullable=False),
    )
    sa.Table(
        "crmsync_parked",
        m,
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("mapping", _NAME, nullable=False),
        sa.Column("record_id", _NAME, nullable=False),
        sa.Column("version", _NAME, nullable=False),
        sa.Column("parent_resource", _NAME, nullable=False),
        sa.Column("parent_key", _NAME, nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("parked_at", _AT, nullable=False, index=True),
        sa.UniqueConstraint("mapping", "record_id", "version", name="crmsync_parked_change"),
        sa.Index("crmsync_parked_parent", "parent_resource", "parent_key"),
    )
    sa.Table(
        "crmsync_replays",
        m,
        sa.Column("mapping", _NAME, primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("requested_at", _AT, nullable=False),
        sa.Column("backlog", sa.BigInteger(), nullable=False),
        sa.Column("table_rows", sa.BigInteger(), nullable=False),
        sa.Column("taken_at", _AT),
    )
    sa.Table(
        "crmsync_workflows",
        m,
        sa.Column("workflow", _NAME, primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text()),
        sa.Column("updated_at", _AT, nullable=False),
    )


def _revisions_and_users(m: sa.MetaData) -> None:
    sa.Table(
        "crmsync_config_revisions",
        m,
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("workflow", sa.String(64), nullable=False, index=True),
        sa.Column("yaml", sa.Text(), nullable=False),
        sa.Column("author", sa.String(255), nullable=False),
        sa.Column("created_at", _AT, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("note", sa.Text(), nullable=False, server_default=""),
    )
    sa.Table(
        "crmsync_users",
        m,
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("created_at", _AT, nullable=False),
    )
    sa.Table(
        "crmsync_api_tokens",
        m,
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("user", sa.String(255), nullable=False, index=True),
        sa.Column("created_at", _AT, nullable=False),
    )


def _jobs(m: sa.MetaData) -> None:
    sa.Table(
        "crmsync_job_runs",
        m,
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("job", _NAME, nullable=False, index=True),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("job_text", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_at", _AT, nullable=False),
        sa.Column("finished_at", _AT),
        sa.Column("error", sa.Text()),
    )
    sa.Table(
        "crmsync_job_steps",
        m,
        sa.Column("run_id", sa.String(32), primary_key=True),
        sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("step", _NAME, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("input", sa.Text(), nullable=False),
        sa.Column("counts", sa.Text()),
        sa.Column("started_at", _AT),
        sa.Column("finished_at", _AT),
        sa.Column("error", sa.Text()),
    )
    sa.Table(
        "crmsync_job_variables",
        m,
        sa.Column("run_id", sa.String(32), primary_key=True),
        sa.Column("name", _NAME, primary_key=True),
        sa.Column("value", sa.Text(), nullable=False),
    )
    sa.Table(
        "crmsync_job_rejects",
        m,
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(32), nullable=False, index=True),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("step", _NAME, nullable=False),
        sa.Column("record", sa.Text(), nullable=False),
        sa.Column("code", _NAME, nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("created_at", _AT, nullable=False),
    )
    sa.Table(
        "crmsync_job_log",
        m,
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(32), nullable=False, index=True),
        sa.Column("step", _NAME, nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("at", _AT, nullable=False),
    )
    sa.Table(
        "crmsync_options",
        m,
        sa.Column("name", _NAME, primary_key=True),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", _AT, nullable=False),
    )
    sa.Table(
        "crmsync_job_journal",
        m,
        sa.Column("run_id", sa.String(32), primary_key=True),
        sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("idx", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("op", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("crm_id", _NAME),
        sa.Column("code", _NAME),
        sa.Column("message", sa.Text()),
    )
    sa.Table(
        "crmsync_job_sends",
        m,
        sa.Column("run_id", sa.String(32), primary_key=True),
        sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("sent_at", _AT, nullable=False),
    )
    sa.Table(
        "crmsync_job_deletions",
        m,
        sa.Column("tracker", _NAME, primary_key=True),
        sa.Column("record_id", _NAME, primary_key=True),
        sa.Column("deleted_at", _AT, nullable=False),
    )
    sa.Table(
        "crmsync_job_index_seen",
        m,
        sa.Column("option", _NAME, primary_key=True),
        sa.Column("record_id", _NAME, primary_key=True),
        sa.Column("window_end", sa.String(32), nullable=False),
        sa.Column("stamp", sa.Text(), nullable=False),
        sa.Column("digest", sa.String(32), nullable=False),
    )


def _event_table(m: sa.MetaData, event_type: str, *extra: sa.Column[object]) -> None:
    name = f"crmsync_event_{event_type}"
    sa.Table(
        name,
        m,
        sa.Column("seq", _ID, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(64), nullable=False, unique=True),
        sa.Column("profile_id", sa.BigInteger(), nullable=False),
        sa.Column("delivery_id", sa.String(255), nullable=False),
        sa.Column("delivery_name", sa.String(255), nullable=True),
        sa.Column("occurred_at", _AT, nullable=False),
        *extra,
        sa.Column("recorded_at", _AT, nullable=False),
        sa.Column("sent_at", _AT, nullable=True),
        sa.Column("outcome", sa.String(32), nullable=True),
        sa.Column("crm_id", sa.String(64), nullable=True),
        sa.Column("error_code", sa.String(255), nullable=True),
        sa.Index(f"ix_{name}_pending", "sent_at", "seq"),
        sa.Index(f"ix_{name}_profile", "profile_id"),
    )


def _events(m: sa.MetaData) -> None:
    _event_table(m, "send")
    _event_table(m, "open")
    _event_table(m, "click", sa.Column("url", sa.String(2000), nullable=False))
    _event_table(
        m,
        "bounce",
        sa.Column("bounce_type", sa.String(8), nullable=False),
        sa.Column("reason", sa.String(1000), nullable=True),
    )
    sa.Table(
        "crmsync_event_unsubscribe",
        m,
        sa.Column("seq", _ID, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(64), nullable=False, unique=True),
        sa.Column("profile_id", sa.BigInteger(), nullable=False),
        sa.Column("attributes", sa.String(255), nullable=False),
        sa.Column("delivery_id", sa.String(255), nullable=True),
        sa.Column("delivery_name", sa.String(255), nullable=True),
        sa.Column("occurred_at", _AT, nullable=False),
        sa.Column("recorded_at", _AT, nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("changed", sa.String(255), nullable=False, server_default=""),
    )
    sa.Table(
        "crmsync_outbound_counters",
        m,
        sa.Column("event_type", sa.String(16), primary_key=True),
        *(
            sa.Column(name, sa.BigInteger(), nullable=False, server_default="0")
            for name in _OUTBOUND_COUNTERS
        ),
        sa.Column("updated_at", _AT, nullable=True),
    )


def _optout(m: sa.MetaData) -> None:
    sa.Table(
        "crmsync_optout_outbox",
        m,
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("external_id", sa.String(255), nullable=False),
        sa.Column("attribute", sa.String(64), nullable=False),
        sa.Column("opted_out", sa.Boolean(), nullable=False),
        sa.Column("changed_at", _AT, nullable=False),
        sa.Column("origin", sa.String(255), nullable=True),
        sa.Column("sent_at", _AT, nullable=True),
        sa.Column("outcome", sa.String(255), nullable=True),
        sa.Index("ix_crmsync_optout_outbox_pending", "sent_at", "id"),
    )
    sa.Table(
        "crmsync_optout_log",
        m,
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("decided_at", _AT, nullable=False),
        sa.Column("external_id", sa.String(255), nullable=False),
        sa.Column("attribute", sa.String(64), nullable=False),
        sa.Column("crm_field", sa.String(255), nullable=False),
        sa.Column("direction", sa.String(32), nullable=False),
        sa.Column("trigger", sa.String(32), nullable=False),
        sa.Column("crm_value", sa.Boolean(), nullable=True),
        sa.Column("crm_time", _AT, nullable=True),
        sa.Column("campaign_value", sa.Boolean(), nullable=True),
        sa.Column("campaign_time", _AT, nullable=True),
        sa.Column("result", sa.Boolean(), nullable=True),
        sa.Column("winner", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(64), nullable=False),
        sa.Column("wrote", sa.String(16), nullable=False),
        sa.Index("ix_crmsync_optout_log_person", "external_id", "id"),
    )
    sa.Table(
        "crmsync_optout_cursor",
        m,
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("cursor", sa.Text(), nullable=False),
        sa.Column("updated_at", _AT, nullable=False),
    )


def upgrade() -> None:
    metadata = sa.MetaData()
    for tables in (_sync_state, _revisions_and_users, _jobs, _events, _optout):
        tables(metadata)
    metadata.create_all(op.get_bind(), checkfirst=True)
