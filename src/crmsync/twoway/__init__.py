"""Two-way field-level merge (SPEC §7), its parts: the change log that captures every edit of a
Campaign resource table, whoever makes it (:mod:`crmsync.twoway.capture`, in crmsync's own table
:mod:`crmsync.twoway.tables`); the merge rule of one record (:mod:`crmsync.twoway.rule`); each
mapping setting's reverse direction, Campaign → CRM (:mod:`crmsync.twoway.reverse`); the base
each record is merged against, its last synced values (:mod:`crmsync.twoway.base`); and the log of
the conflicts the merge decided (:mod:`crmsync.twoway.conflicts`)."""

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
from crmsync.twoway.conflicts import (
    ConflictEntry,
    FoundBy,
    TwoWayFigures,
    count_conflicts,
    list_conflicts,
    record_conflicts,
    two_way_figures,
    waiting_edits,
)

__all__ = [
    "Base",
    "CampaignChange",
    "ConflictEntry",
    "FoundBy",
    "TwoWayFigures",
    "count_conflicts",
    "crmsync_writes",
    "forget_bases",
    "forget_changes",
    "forget_mapping",
    "install_capture",
    "list_conflicts",
    "load_bases",
    "read_changes",
    "record_conflicts",
    "remove_capture",
    "save_bases",
    "two_way_figures",
    "waiting_edits",
]
