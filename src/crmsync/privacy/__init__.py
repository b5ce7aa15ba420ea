"""Privacy deletes with suppression (SPEC §8): a profile removed everywhere crmsync put it, kept
from coming back from the CRM, and optionally deleted in the CRM, each action recorded without
personal data. Every face calls :class:`PrivacyService`."""

from __future__ import annotations

from crmsync.privacy.errors import NothingToLift, PrivacyRefused, ProfileNotFound
from crmsync.privacy.records import CrmDelete, PrivacyAction, PrivacyRecord
from crmsync.privacy.service import DeleteResult, PrivacyService, ProfileSummary, Target

__all__ = [
    "CrmDelete",
    "DeleteResult",
    "NothingToLift",
    "PrivacyAction",
    "PrivacyRecord",
    "PrivacyRefused",
    "PrivacyService",
    "ProfileNotFound",
    "ProfileSummary",
    "Target",
]
