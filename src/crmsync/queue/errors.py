"""Errors of the change queue, as branches of the crmsync error tree."""

from __future__ import annotations

from crmsync.errors import FatalError, RejectError

__all__ = ["PayloadError", "QueueClosedError", "QueueError", "QueueUnavailableError"]


class QueueError(FatalError):
    """The queue cannot be used (its storage is unreadable, or of an unknown format)."""


class QueueClosedError(QueueError):
    """A queue was used after :meth:`~crmsync.queue.base.ChangeQueue.aclose`."""


class PayloadError(RejectError):
    """A change cannot be queued: a value is not JSON-native (str, int, float, bool, None, lists,
    dicts with string keys). ``table`` holds the mapping, ``record_id`` the change's id."""


class QueueUnavailableError(QueueError):
    """The queue's server cannot be reached (or did not answer) for longer than the queue waits
    for it; the message names the servers and the last reason."""
