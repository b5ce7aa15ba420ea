"""The errors of crmsync's own tables."""

from __future__ import annotations

from crmsync.errors import FatalError

__all__ = ["StoreTooNewError"]


class StoreTooNewError(FatalError):
    """The store's tables were upgraded by a newer crmsync than this one: nothing was changed.

    ``version`` is the store's schema version, ``release`` the crmsync release that upgraded it
    (``None`` when the store does not say).
    """

    def __init__(self, message: str, *, version: str, release: str | None) -> None:
        super().__init__(message, code="STORE_TOO_NEW")
        self.version = version
        self.release = release
