"""The values the workflows' state hands out, and its one error."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from crmsync.errors import ConfigurationError

__all__ = [
    "PARENT_MISSING",
    "Counts",
    "ParkedChange",
    "Reject",
    "ReplayRefused",
    "ReplayRequest",
    "SnapshotInfo",
    "WorkflowState",
    "WorkflowStatus",
]

#: The reject code of a parked child whose parent did not arrive in time.
PARENT_MISSING = "PARENT_MISSING"


class WorkflowStatus(StrEnum):
    """The status of a technical workflow (SPEC §2)."""

    STOPPED = "STOPPED"
    STARTING = "STARTING"
    RUNNING = "RUNNING"
    FAILED = "FAILED"


@dataclass(frozen=True, slots=True)
class WorkflowState:
    workflow: str
    status: WorkflowStatus
    reason: str | None
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Counts:
    """The counters of one mapping (SPEC §3 "Engine calls": writes are counted per side)."""

    read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    filtered: int = 0
    rejected: int = 0
    parked: int = 0
    crm_calls: int = 0
    campaign_writes: int = 0
    #: Records not written because a privacy delete suppressed them (or their parent).
    suppressed: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)

    def since(self, earlier: Counts) -> Counts:
        """What was counted after ``earlier``, an earlier reading of the same counters."""
        return Counts(
            **{name: value - getattr(earlier, name) for name, value in asdict(self).items()}
        )


@dataclass(frozen=True, slots=True)
class SnapshotInfo:
    """A full-read generation of one mapping and how far its messages have been applied."""

    id: str
    mapping: str
    started_at: datetime
    finished_at: datetime | None
    total_messages: int | None
    applied_messages: int
    closed_at: datetime | None

    @property
    def ready(self) -> bool:
        """Finished, and every message of it applied: its key set is complete."""
        return (
            self.closed_at is None
            and self.total_messages is not None
            and self.applied_messages >= self.total_messages
        )


@dataclass(frozen=True, slots=True)
class Reject:
    id: int
    at: datetime
    workflow: str
    mapping: str | None
    record_id: str | None
    code: str
    message: str
    record: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class ParkedChange:
    """A child change waiting for its parent (SPEC §3 "Links and ordering")."""

    id: int
    mapping: str
    record_id: str
    version: str | None
    parent_resource: str
    parent_key: str
    payload: Mapping[str, Any]
    parked_at: datetime


@dataclass(frozen=True, slots=True)
class ReplayRequest:
    mapping: str
    status: str  # "pending" until the inbound workflow takes it, then "taken"
    requested_at: datetime
    backlog: int
    table_rows: int
    taken_at: datetime | None


class ReplayRefused(ConfigurationError):
    """A replay request was refused; ``code`` says why (``REPLAY_BACKLOG_LIMIT``,
    ``REPLAY_TABLE_LIMIT``, ``REPLAY_PENDING``), ``value`` and ``limit`` give the numbers."""

    def __init__(
        self, message: str, *, code: str, mapping: str, value: int | None, limit: int | None
    ) -> None:
        super().__init__(message, code=code, table=mapping)
        self.value = value
        self.limit = limit
