"""The durable change queue between inbound readers and writers.

:class:`ChangeQueue` is the protocol the engine uses; :class:`SQLiteQueue` is the embedded
backend. Messages are chunks of changes; delivery is at least once, in no guaranteed order.
"""

from crmsync.queue.base import (
    Change,
    ChangeKind,
    ChangeMessage,
    ChangeQueue,
    DeadLetter,
    Delivery,
    decode_changes,
    encode_changes,
)
from crmsync.queue.errors import PayloadError, QueueClosedError, QueueError
from crmsync.queue.sqlite import SQLiteQueue

__all__ = [
    "Change",
    "ChangeKind",
    "ChangeMessage",
    "ChangeQueue",
    "DeadLetter",
    "Delivery",
    "PayloadError",
    "QueueClosedError",
    "QueueError",
    "SQLiteQueue",
    "decode_changes",
    "encode_changes",
]
