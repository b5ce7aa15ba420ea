"""Two-way sync's Campaign side: the change log that captures every edit of a Campaign resource
table, whoever makes it (:mod:`crmsync.twoway.capture`), in crmsync's own table
(:mod:`crmsync.twoway.tables`). The merge that consumes the log is built on it."""

from __future__ import annotations

from crmsync.twoway.capture import (
    CampaignChange,
    crmsync_writes,
    forget_changes,
    install_capture,
    read_changes,
    remove_capture,
)

__all__ = [
    "CampaignChange",
    "crmsync_writes",
    "forget_changes",
    "install_capture",
    "read_changes",
    "remove_capture",
]
