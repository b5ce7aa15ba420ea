"""The durable change queue between the inbound readers and writers.

A reader publishes :class:`ChangeMessage` chunks (hundreds to thousands of changes each: one row
per record could not keep up with initial loads of millions of records); writers fetch them, apply
them to the Campaign store and acknowledge them. Delivery is **at least once** and **in no
particular order**: a message whose consumer does not acknowledge it within the queue's ack wait
comes back with ``attempt + 1``, and a consumer must never assume that messages arrive in the
order they were published. Writes are version-guarded, which is what makes both harmless.

The payload format (:func:`encode_changes` / :func:`decode_changes`) is shared by every backend.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol, runtime_checkable

import orjson

from crmsync.queue.errors import PayloadError, QueueError

__all__ = [
    "Change",
    "ChangeKind",
    "ChangeMessage",
    "ChangeQueue",
    "DeadLetter",
    "Delivery",
    "decode_changes",
    "encode_changes",
]

ChangeKind = Literal["upsert", "delete"]
_KINDS: frozenset[str] = frozenset(("upsert", "delete"))
#: Digests are signed 64-bit integers.
_DIGESTS = range(-(2**63), 2**63)
#: ``datetime`` and dataclasses would be turned into text or objects silently; refuse them so
#: that a payload always decodes to exactly what was published.
_DUMP_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


@dataclass(slots=True)
class Change:
    """One CRM change: a record to upsert (with its values) or a record id to delete.

    Not frozen, though nothing changes one once made: see :class:`Record`.
    """

    kind: ChangeKind
    id: str
    version: int | str | None = None
    values: Mapping[str, Any] = field(default_factory=dict)
    formatted: Mapping[str, str] = field(default_factory=dict)
    #: The fingerprint digest of ``values`` and ``formatted``, when the reader computed it
    #: (:meth:`crmsync.sync.fingerprints.Fingerprints.digest`): the writer need not again.
    digest: int | None = None


@dataclass(frozen=True, slots=True)
class ChangeMessage:
    """A chunk of changes of one table mapping (the queue's subject)."""

    mapping: str
    changes: Sequence[Change]
    #: The id of the full-read generation (snapshot) these changes belong to, if any.
    snapshot: str | None = None
    #: Set by the queue on publish; unique.
    message_id: str = ""

    @property
    def change_count(self) -> int:
        return len(self.changes)


@dataclass(frozen=True, slots=True)
class Delivery:
    """A fetched message: invisible to other consumers until acked, nacked or its ack wait ends."""

    message: ChangeMessage
    #: 1 on the first delivery, then one more each time the message comes back.
    attempt: int
    #: Opaque; identifies this delivery (not the message) for ack and nack.
    token: str


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message set aside after ``max_deliver`` deliveries without an ack (or undecodable)."""

    message: ChangeMessage
    attempts: int
    reason: str
    failed_at: datetime


@runtime_checkable
class ChangeQueue(Protocol):
    """What the inbound engine needs from a durable queue (SQLite embedded, NATS JetStream)."""

    async def publish(self, messages: Sequence[ChangeMessage]) -> list[str]:
        """Store ``messages``; they are durable when this returns. Returns their message ids."""
        ...

    async def fetch(
        self, mapping: str | None = None, *, max_messages: int = 10, wait_seconds: float = 0.0
    ) -> list[Delivery]:
        """Up to ``max_messages`` visible messages (of ``mapping``, or any), waiting up to
        ``wait_seconds`` for at least one. Order is not guaranteed."""
        ...

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        """Done with these deliveries: remove their messages. Unknown or expired tokens are
        ignored (the message may have been redelivered to someone else)."""
        ...

    async def nack(
        self,
        deliveries: Sequence[Delivery],
        *,
        delay_seconds: float = 0.0,
        reason: str | None = None,
    ) -> None:
        """Give these deliveries back for redelivery after ``delay_seconds``; ``reason`` is kept
        and shown if the message ends as a dead letter."""
        ...

    async def backlog(self, mapping: str | None = None) -> int:
        """Number of CHANGES (not messages) waiting or in flight; dead letters excluded."""
        ...

    async def purge(self, mapping: str) -> int:
        """Drop every waiting or in-flight message of ``mapping``; returns how many messages."""
        ...

    async def dead_letters(
        self, mapping: str | None = None, *, limit: int = 100
    ) -> list[DeadLetter]:
        """Dead letters (of ``mapping``, or all), oldest first."""
        ...

    async def dead_letter_count(self, mapping: str | None = None) -> int:
        """Number of dead-lettered messages (of ``mapping``, or all)."""
        ...

    async def aclose(self) -> None:
        """Release the queue's resources; later calls raise ``QueueClosedError``."""
        ...


def encode_changes(mapping: str, changes: Sequence[Change]) -> bytes:
    """The payload of a message: a JSON array of ``[kind, id, version, values, formatted,
    digest]``.

    Positional arrays instead of objects keep payloads about a third smaller and faster to parse.
    """
    rows = [
        (
            change.kind,
            change.id,
            change.version,
            change.values if type(change.values) is dict else dict(change.values),
            change.formatted if type(change.formatted) is dict else dict(change.formatted),
            change.digest,
        )
        for change in changes
    ]
    try:
        return orjson.dumps(rows, option=_DUMP_OPTIONS)
    except TypeError as exc:
        culprit = _first_unencodable(changes)
        raise PayloadError(
            f"mapping '{mapping}': change {culprit!r} cannot be queued: {exc}"
            " (values must be JSON-native: str, int, float, bool, None, lists, dicts)",
            table=mapping,
            record_id=culprit,
        ) from None


def _first_unencodable(changes: Sequence[Change]) -> str | None:
    for change in changes:
        try:
            orjson.dumps(
                (change.id, change.version, dict(change.values), dict(change.formatted)),
                option=_DUMP_OPTIONS,
            )
        except TypeError:
            return change.id
    return None


def decode_changes(payload: bytes) -> list[Change]:
    """The changes of a payload written by :func:`encode_changes`.

    Payloads queued by earlier versions (five elements, no digest) decode too. Raises
    :class:`QueueError` when the payload is not one (the message is then dead-lettered by the
    backend rather than crashing every consumer that fetches it).
    """
    try:
        rows = orjson.loads(payload)
        out = []
        for row in rows:
            kind, change_id, version, values, formatted, *rest = row
            digest = rest[0] if len(rest) == 1 else None
            if kind not in _KINDS or not isinstance(change_id, str) or len(rest) > 1:
                raise ValueError(f"bad change header {kind!r}, {change_id!r}")
            if not isinstance(values, dict) or not isinstance(formatted, dict):
                raise ValueError(f"change {change_id!r}: values are not objects")
            if digest is not None and (type(digest) is not int or digest not in _DIGESTS):
                raise ValueError(f"change {change_id!r}: the digest is not a 64-bit integer")
            out.append(Change(kind, change_id, version, values, formatted, digest))
    except (orjson.JSONDecodeError, TypeError, ValueError) as exc:
        raise QueueError(f"undecodable change payload: {exc}") from None
    return out
