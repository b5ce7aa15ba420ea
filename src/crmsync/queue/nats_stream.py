"""The JetStream stream of the NATS change queue: its subjects, its settings and its creation.

One stream holds everything, named by the configuration (``queue.stream``, e.g. ``CRMSYNC``):

- ``<stream>.changes.<mapping>.<count>``: a message of ``<count>`` changes of ``<mapping>``. The
  count in the subject is what lets the server add up the backlog in changes (see
  :func:`changes_filter` and :meth:`NatsQueue.backlog`) without reading a single message.
- ``<stream>.dead.<mapping>``: the dead letters of ``<mapping>``.

The stream is a **work queue** (a message is removed once acknowledged) kept on **file storage**;
each mapping has one durable pull consumer (``crmsync_<mapping>``) filtered on its own changes, so
that every process shares its work. The stream is created by an explicit step
(``crmsync queue init``, :func:`create_stream`); a queue opened on a missing stream is refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from nats.js import JetStreamContext, api
from nats.js.errors import NotFoundError

from crmsync.queue.errors import QueueError

__all__ = [
    "StreamSettings",
    "changes_filter",
    "changes_subject",
    "check_stream",
    "check_token",
    "consumer_name",
    "create_stream",
    "dead_filter",
    "dead_subject",
]

#: Stream names and mapping names are single subject tokens.
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,200}$")
#: A duplicate publish (same ``Nats-Msg-Id``) within this window is stored once.
DUPLICATE_WINDOW_SECONDS = 120.0


def check_token(value: str, what: str) -> str:
    """``value`` when it can be one NATS subject token; a :class:`QueueError` otherwise."""
    if not _TOKEN.match(value):
        raise QueueError(
            f"{what} {value!r} cannot be used with NATS: letters, digits, '_' and '-' only"
        )
    return value


def changes_subject(stream: str, mapping: str, count: int) -> str:
    return f"{stream}.changes.{mapping}.{count}"


def changes_filter(stream: str, mapping: str | None) -> str:
    """The subjects of the waiting and in-flight messages of ``mapping`` (or of all)."""
    return f"{stream}.changes.{'*' if mapping is None else mapping}.*"


def dead_subject(stream: str, mapping: str) -> str:
    return f"{stream}.dead.{mapping}"


def dead_filter(stream: str, mapping: str | None) -> str:
    return dead_subject(stream, "*" if mapping is None else mapping)


def consumer_name(mapping: str) -> str:
    """The durable pull consumer every process shares for ``mapping``."""
    return f"crmsync_{mapping}"


@dataclass(frozen=True, slots=True)
class StreamSettings:
    """What :func:`create_stream` makes: the stream's name and its replicas in a cluster."""

    name: str
    replicas: int = 1

    def __post_init__(self) -> None:
        check_token(self.name, "stream name")
        if not 1 <= self.replicas <= 5:
            raise ValueError("replicas must be between 1 and 5")

    @property
    def subjects(self) -> list[str]:
        return [changes_filter(self.name, None), dead_filter(self.name, None)]

    def config(self) -> api.StreamConfig:
        return api.StreamConfig(
            name=self.name,
            description="crmsync change queue",
            subjects=self.subjects,
            retention=api.RetentionPolicy.WORK_QUEUE,
            storage=api.StorageType.FILE,
            num_replicas=self.replicas,
            duplicate_window=DUPLICATE_WINDOW_SECONDS,
        )


async def create_stream(
    js: JetStreamContext, settings: StreamSettings
) -> Literal["created", "updated", "unchanged"]:
    """Create the stream, or bring an existing one's subjects and replicas to ``settings``.

    Idempotent. A stream of that name that is not a file-stored work queue is refused (its
    retention and storage cannot be changed in place): a :class:`QueueError` naming it.
    """
    try:
        info = await js.stream_info(settings.name)
    except NotFoundError:
        await js.add_stream(settings.config())
        return "created"
    found = info.config
    problem = _kind_problem(found)
    if problem is not None:
        raise QueueError(f"stream '{settings.name}' {problem}: use another stream name")
    wanted = settings.config()
    same = (
        sorted(found.subjects or []) == sorted(wanted.subjects or [])
        and found.num_replicas == wanted.num_replicas
        and found.duplicate_window == wanted.duplicate_window
    )
    if same:
        return "unchanged"
    await js.update_stream(wanted)
    return "updated"


async def check_stream(js: JetStreamContext, settings: StreamSettings) -> str | None:
    """Why the stream cannot be used by the queue, or ``None`` when it can."""
    try:
        info = await js.stream_info(settings.name)
    except NotFoundError:
        return (
            f"stream '{settings.name}' does not exist: create it with "
            "'crmsync queue init --config FILE'"
        )
    problem = _kind_problem(info.config)
    if problem is None and sorted(info.config.subjects or []) != sorted(settings.subjects):
        problem = (
            f"listens on {', '.join(info.config.subjects or [])} instead of "
            f"{', '.join(settings.subjects)}: run 'crmsync queue init --config FILE'"
        )
    return None if problem is None else f"stream '{settings.name}' {problem}"


def _kind_problem(config: api.StreamConfig) -> str | None:
    if config.retention != api.RetentionPolicy.WORK_QUEUE:
        return f"exists with retention '{config.retention}', not a work queue"
    if config.storage != api.StorageType.FILE:
        return f"exists with storage '{config.storage}', not file storage"
    return None
