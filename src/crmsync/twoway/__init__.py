"""Two-way field-level merge (SPEC §7), its parts: the change log that captures every edit of a
Campaign resource table, whoever makes it (:mod:`crmsync.twoway.capture`, in crmsync's own table
:mod:`crmsync.twoway.tables`); the merge rule of one record (:mod:`crmsync.twoway.rule`); and each
mapping setting's reverse direction, Campaign → CRM (:mod:`crmsync.twoway.reverse`)."""

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
