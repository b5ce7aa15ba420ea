"""The privacy service's errors, named by what the caller should do."""

from __future__ import annotations

from crmsync.errors import CrmsyncError

__all__ = ["NothingToLift", "PrivacyRefused", "ProfileNotFound"]


class ProfileNotFound(CrmsyncError):
    """No profile matches, and no earlier privacy delete of one does: check the id or address."""


class PrivacyRefused(CrmsyncError):
    """The request cannot be done as asked (several profiles share the email, a CRM delete of a
    profile without a CRM id…): nothing was changed; the message says what to ask instead."""


class NothingToLift(CrmsyncError):
    """The id or email to unsuppress is not on the suppression list."""
