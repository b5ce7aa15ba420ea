"""The durable change queue between inbound readers and writers.

:class:`ChangeQueue` is the protocol the engine uses; :class:`SQLiteQueue` is the embedded
backend, :class:`NatsQueue` the NATS JetStream one (several processes, several machines).
Messages are chunks of changes; delivery is at least once, in no guaranteed order.
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
from crmsync.queue.errors import (
    PayloadError,
    QueueClosedError,
    QueueError,
    QueueUnavailableError,
)
from crmsync.queue.nats import NatsQueue
from crmsync.queue.nats_connection import NatsConnection
from crmsync.queue.sqlite import SQLiteQueue

__all__ = [
    "Change",
    "ChangeKind",
    "ChangeMessage",
    "ChangeQueue",
    "DeadLetter",
    "Delivery",
    "NatsConnection",
    "NatsQueue",
    "PayloadError",
    "QueueClosedError",
    "QueueError",
    "QueueUnavailableError",
    "SQLiteQueue",
    "decode_changes",
    "encode_changes",
]
