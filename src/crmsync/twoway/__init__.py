"""Two-way field-level merge (SPEC §7), its parts: the change log that captures every edit of a
Campaign resource table, whoever makes it (:mod:`crmsync.twoway.capture`, in crmsync's own table
:mod:`crmsync.twoway.tables`); the merge rule of one record (:mod:`crmsync.twoway.rule`); and each
mapping setting's reverse direction, Campaign → CRM (:mod:`crmsync.twoway.reverse`); and the base
each record is merged against, its last synced values (:mod:`crmsync.twoway.base`)."""

from __future__ import annotations

from crmsync.twoway.base import Base, forget_bases, forget_mapping, load_bases, save_bases
from crmsync.twoway.capture import (
    CampaignChange,
    crmsync_writes,
    forget_changes,
    install_capture,
    read_changes,
    remove_capture,
)

__all__ = [
    "Base",
    "CampaignChange",
    "crmsync_writes",
    "forget_bases",
    "forget_changes",
    "forget_mapping",
    "install_capture",
    "load_bases",
    "read_changes",
    "remove_capture",
    "save_bases",
]
