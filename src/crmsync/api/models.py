"""The API's response and request bodies (configuration parts reuse the configuration models)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from crmsync.api.users import Role
from crmsync.state.models import WorkflowStatus
from crmsync.twoway.conflicts import FoundBy
from crmsync.twoway.rule import Reason, Winner
from crmsync.workflows.revisions import RevisionState

__all__ = [
    "ConflictOut",
    "Issue",
    "LoginIn",
    "LoginOut",
    "MergePlanOut",
    "Problem",
    "RejectOut",
    "ReplayOut",
    "RevisionChanges",
    "RevisionOut",
    "StopOut",
    "WorkerOut",
    "WorkflowOut",
    "problem",
]


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class Issue(_Out):
    loc: str = Field(description="Where: 'body.fields.0.campaign', 'inbound.mappings[1].name'.")
    message: str


class Problem(_Out):
    """Every error answer: what went wrong; ``code`` and ``issues`` when there are some."""

    detail: str
    code: str | None = None
    issues: tuple[Issue, ...] | None = None


def problem(description: str) -> dict[str, Any]:
    """An error answer of a route, for its ``responses``: documented with the Problem body."""
    return {"model": Problem, "description": description}


class WorkflowOut(_Out):
    name: str
    status: WorkflowStatus
    reason: str | None
    since: datetime | None
    backlog: int | None = Field(description="Changes waiting; null when it could not be measured.")
    last_error: str | None
    counters: dict[str, int]
    active_revision: int | None
    pending_revision: int | None


class WorkerOut(_Out):
    """One ``crmsync run`` or ``serve`` process (or writer process), as it registered."""

    id: str
    role: str = Field(description="all, reader, writer or serve.")
    host: str
    pid: int
    started_at: datetime
    heartbeat_at: datetime = Field(description="Its last heartbeat.")
    stopped_at: datetime | None = Field(description="When it stopped cleanly.")
    holds: list[str] = Field(
        description="The leases it holds: inbound:<mapping>, inbound-push, "
        "inbound-housekeeping, outbound, optinout."
    )
    gone: bool = Field(description="Stopped, or no heartbeat for longer than the timeout.")


class StopOut(_Out):
    workflow: str
    status: WorkflowStatus
    warning: str | None = Field(description="Set when pending edits wait for the next start.")


class RevisionOut(_Out):
    id: int
    workflow: str
    author: str
    created_at: datetime
    state: RevisionState
    note: str


class RevisionChanges(_Out):
    revision: RevisionOut
    diff: str = Field(description="Unified diff of the YAML against the revision before it.")


class RevisionSaved(_Out):
    """An edit saved as a pending revision."""

    revision: RevisionOut
    message: str


class RejectOut(_Out):
    id: int
    at: datetime
    workflow: str
    mapping: str | None
    record_id: str | None
    code: str
    message: str
    record: dict[str, Any]


class RetryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: Only this mapping's rejects (every two-way mapping's when absent).
    mapping: str | None = Field(default=None, max_length=255)
    #: Only these records' rejects.
    record_ids: list[Annotated[str, Field(max_length=255)]] | None = Field(
        default=None, max_length=10_000
    )


class RetryOut(_Out):
    #: Records queued for sending again, per mapping.
    queued: dict[str, int]


class ReplayOut(_Out):
    mapping: str
    status: str
    requested_at: datetime
    backlog: int
    table_rows: int


class ConflictOut(_Out):
    """A field of a two-way mapping's record changed on both sides: who won and why."""

    id: int
    mapping: str
    record_key: str = Field(description="The CRM record's id.")
    field: str = Field(description="The Campaign field.")
    campaign_value: Any = Field(
        description="Dates and times as ISO 8601 text (UTC), decimals and nan/inf as text."
    )
    crm_value: Any = Field(description="In Campaign terms, encoded as campaign_value.")
    campaign_changed_at: datetime | None
    crm_changed_at: datetime | None
    winner: Winner
    reason: Reason
    found_by: FoundBy = Field(
        description="crm: found when a CRM change was merged; campaign: when a Campaign edit was."
    )
    decided_at: datetime


class LoginIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=255, pattern=r"^[^\x00-\x1f\x7f]+$")
    password: str = Field(min_length=1, max_length=1024)


class LoginOut(_Out):
    name: str
    role: Role
    csrf_token: str = Field(description="Send it as X-CSRF-Token on state-changing requests.")


# -- the plan of a two-way mapping's next merge (crmsync.twoway.plan) ------------------------


class PlanFieldOut(_Out):
    """One field a merge writes; the values in Campaign terms."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    before: Any = Field(alias="from", description="The value now on the side written.")
    to: Any = Field(description="The value written.")
    crm_field: str
    crm_value: Any = Field(
        default=None, description="The value sent to the CRM (campaign_to_crm only)."
    )


class PlanConflictOut(_Out):
    field: str
    campaign_value: Any
    crm_value: Any
    campaign_changed_at: datetime | None
    crm_changed_at: datetime | None
    winner: str = Field(description="campaign or crm.")
    reason: str


class PlanRecordOut(_Out):
    key: str = Field(description="The CRM record's id.")
    found_by: str = Field(description="campaign: a pending Campaign edit; crm: a CRM change.")
    fields: dict[str, PlanFieldOut] = Field(description="Campaign field → what is written.")
    conflicts: list[PlanConflictOut] = Field(description="Conflicts won by the value written.")


class PlanDirectionCounts(_Out):
    records: int
    fields: int
    conflicts: int


class PlanDirectionOut(_Out):
    counts: PlanDirectionCounts
    truncated: bool = Field(description="More records than the limit: only the first listed.")
    records: list[PlanRecordOut]


class PlanRejectOut(_Out):
    key: str
    direction: str
    code: str
    message: str


class PlanCounts(_Out):
    pending_edits: int
    crm_changes: int
    unchanged: int
    new_records: int
    deleted: int
    skipped: int
    rejected: int


class MergePlanOut(_Out):
    """What the next merge of a two-way mapping would write to each side; nothing is written."""

    mapping: str
    resource: str
    crm_table: str
    crm_read: str = Field(description="changes: since the saved cursor; full: the whole table.")
    note: str | None
    counts: PlanCounts
    campaign_to_crm: PlanDirectionOut
    crm_to_campaign: PlanDirectionOut
    rejects: list[PlanRejectOut]
