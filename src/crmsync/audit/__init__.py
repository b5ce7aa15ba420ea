"""The operator audit trail: who did what through the CLI, the API or the console, and when.

Every face records through :func:`record` or :func:`recorded` and reads through :func:`query`;
the trail holds ids, names and counts, never personal data, passwords or tokens (docs/audit.md).
"""

from __future__ import annotations

from crmsync.audit.trail import (
    Action,
    Actor,
    AuditEntry,
    Face,
    Outcome,
    Where,
    query,
    record,
    recorded,
    settle,
)

__all__ = [
    "Action",
    "Actor",
    "AuditEntry",
    "Face",
    "Outcome",
    "Where",
    "query",
    "record",
    "recorded",
    "settle",
]
