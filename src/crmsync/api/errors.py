"""Errors the services raise for the API to answer with a status (see
:mod:`crmsync.api.error_answers`).

- :class:`NotFound` → 404: no such connection, table, resource, job, run or user.
- :class:`Conflict` → 409: the request is valid but the current state refuses it.
- :class:`CrmFailed` → 502: the CRM did not answer as it should; the message is the connector's.
"""

from __future__ import annotations

from crmsync.errors import CrmsyncError

__all__ = ["Conflict", "CrmFailed", "NotFound"]


class NotFound(CrmsyncError):
    """What the request names does not exist."""


class Conflict(CrmsyncError):
    """The request cannot be done in the current state (e.g. the job is already running)."""


class CrmFailed(CrmsyncError):
    """The CRM failed or refused the call; ``message`` is the connector's."""
