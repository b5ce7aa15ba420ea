"""The crmsync error tree.

Every error crmsync raises derives from :class:`CrmsyncError`. The branches are named by what the
caller should do about it::

    CrmsyncError
    ├── ConfigurationError        fix the configuration, then start again
    │   └── AuthenticationError   credentials refused: fix them
    ├── TransientError            retry later; the same call may succeed
    │   ├── RateLimitedError      the remote asked us to pause (``retry_after`` seconds)
    │   └── MalformedAnswerError  a successful answer whose body is not what was asked for
    ├── RejectError               skip this record, report it, go on with the others
    └── FatalError                stop: something we cannot recover from automatically
        ├── ProtocolError         the remote answered something malformed or unexpected
        └── ChangeTrackingExpired the change-tracking token is no longer valid: resync in full

Errors carry their context as attributes (CRM code, table, record id, HTTP status) so that callers
never have to parse messages.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AuthenticationError",
    "ChangeTrackingExpired",
    "ConfigurationError",
    "CrmsyncError",
    "FatalError",
    "MalformedAnswerError",
    "ProtocolError",
    "RateLimitedError",
    "RejectError",
    "TransientError",
]


class CrmsyncError(Exception):
    """Root of every error crmsync raises."""

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        table: str | None = None,
        record_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.table = table
        self.record_id = record_id

    def context(self) -> dict[str, Any]:
        """The error's attributes, without the message, for logs and reject records."""
        return {
            key: value
            for key, value in (
                ("code", self.code),
                ("status", self.status),
                ("table", self.table),
                ("record_id", self.record_id),
            )
            if value is not None
        }


class ConfigurationError(CrmsyncError):
    """The configuration is wrong; the message says what to fix."""


class AuthenticationError(ConfigurationError):
    """The CRM refused the credentials (or the token endpoint could not be used)."""


class TransientError(CrmsyncError):
    """A temporary failure (throttling, server error, dropped connection): retry later."""


class RateLimitedError(TransientError):
    """The remote asked every sender to pause for ``retry_after`` seconds."""

    def __init__(self, message: str, *, retry_after: float, **context: Any) -> None:
        super().__init__(message, **context)
        self.retry_after = retry_after


class MalformedAnswerError(TransientError):
    """A successful (2xx) answer whose body is not what the request asks for: an HTML page from
    a proxy, an empty or cut-off body, a page without its rows. Transient until proven
    otherwise (a proxy or a broken connection may be to blame): the request is sent again."""


class RejectError(CrmsyncError):
    """One record was refused by the remote; the others may go on."""


class FatalError(CrmsyncError):
    """Stop: the situation cannot be repaired by retrying."""


class ProtocolError(FatalError):
    """The remote answered something malformed or outside its documented protocol."""


class ChangeTrackingExpired(FatalError):
    """A change-tracking (delta) token has expired: a full resync is needed."""
