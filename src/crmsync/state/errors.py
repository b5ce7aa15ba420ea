"""The errors of crmsync's own tables."""

from __future__ import annotations

from crmsync.errors import FatalError, TransientError

__all__ = ["LeaseLostError", "StoreTooNewError"]


class StoreTooNewError(FatalError):
    """The store's tables were upgraded by a newer crmsync than this one: nothing was changed.

    ``version`` is the store's schema version, ``release`` the crmsync release that upgraded it
    (``None`` when the store does not say).
    """

    def __init__(self, message: str, *, version: str, release: str | None) -> None:
        super().__init__(message, code="STORE_TOO_NEW")
        self.version = version
        self.release = release


class LeaseLostError(TransientError):
    """This process no longer holds the lease of a duty (``lease``): it expired while the process
    was paused or cut off, and another holder may have taken it. What the duty was saving was
    rolled back; the duty stops here and is taken up again only with the lease."""

    def __init__(self, lease: str, holder: str) -> None:
        super().__init__(
            f"the lease '{lease}' is no longer held by worker {holder}: its work stops here",
            code="LEASE_LOST",
        )
        self.lease = lease
        self.holder = holder
