"""Errors of the Campaign store, as branches of the crmsync error tree."""

from __future__ import annotations

from collections.abc import Sequence

from crmsync.errors import ConfigurationError, RejectError

__all__ = [
    "DestructiveChangeError",
    "InvalidIdentifierError",
    "StoreDefinitionError",
    "StoreWriteError",
]


class StoreDefinitionError(ConfigurationError):
    """A resource definition cannot be turned into a table (fix the definition)."""


class InvalidIdentifierError(StoreDefinitionError):
    """A resource or field name is not a safe SQL identifier."""


class DestructiveChangeError(ConfigurationError):
    """Publishing would drop or rewrite data; it is only applied with ``force``.

    ``changes`` lists the refused changes, one human-readable line each.
    """

    def __init__(self, message: str, *, changes: Sequence[str]) -> None:
        super().__init__(message, code="destructive_change")
        self.changes = tuple(changes)


class StoreWriteError(RejectError):
    """A batch handed to the store is malformed (missing key, missing version, unknown field)."""
