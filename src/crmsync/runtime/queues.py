"""The change queue the configuration names: the one place that knows how to open it, check it
and make its NATS stream.

For a NATS queue the secrets are read here, from the environment or the files the configuration
names, and handed to the queue; they are never logged. :func:`check_queue` is what
``crmsync run`` does before it creates anything (and ``validate --check-queue`` on demand): the
secrets can be read, a server answers, and the stream exists. :func:`init_queue` makes the
stream (``crmsync queue init``).
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping

import nats.errors

from crmsync.config.errors import ConfigIssue
from crmsync.config.models import Config
from crmsync.config.queue import QueueConfig
from crmsync.connectors.config import ssl_context
from crmsync.connectors.secrets import MissingSecret, missing_secrets, read_secret
from crmsync.errors import ConfigurationError
from crmsync.queue.base import ChangeQueue
from crmsync.queue.errors import QueueError
from crmsync.queue.nats import NatsQueue
from crmsync.queue.nats_connection import NatsConnection, connect
from crmsync.queue.nats_stream import StreamSettings, check_stream, create_stream
from crmsync.queue.sqlite import SQLiteQueue

__all__ = ["check_queue", "init_queue", "nats_connection", "open_queue"]


def open_queue(
    config: Config, *, ack_wait_seconds: float = 30.0, environ: Mapping[str, str] | None = None
) -> ChangeQueue:
    """The configured change queue (a NATS queue connects at its first call)."""
    queue = config.queue
    if queue.kind == "sqlite":
        return SQLiteQueue(
            queue.path, ack_wait_seconds=ack_wait_seconds, max_deliver=queue.max_deliver
        )
    return NatsQueue(
        nats_connection(queue, environ),
        queue.stream,
        ack_wait_seconds=ack_wait_seconds,
        max_deliver=queue.max_deliver,
    )


def nats_connection(queue: QueueConfig, environ: Mapping[str, str] | None = None) -> NatsConnection:
    """How to reach the NATS servers of ``queue``, its secrets read (a :class:`MissingSecret`
    when one cannot be)."""
    password = read_secret(queue, "password", environ)
    token = read_secret(queue, "token", environ)
    return NatsConnection(
        queue.url,
        tls=_tls(queue) if queue.uses_tls else None,
        user=queue.user,
        password=None if password is None else password.get_secret_value(),
        token=None if token is None else token.get_secret_value(),
        nkey_seed_file=queue.nkey_seed_file,
        creds_file=queue.creds_file,
    )


def _tls(queue: QueueConfig) -> ssl.SSLContext:
    """Verification on: the public CAs and ``tls.ca_file``; the client certificate if any."""
    tls = queue.tls
    context = ssl_context(None if tls is None else tls.ca_file)
    if tls is not None and tls.cert_file is not None and tls.key_file is not None:
        try:
            context.load_cert_chain(tls.cert_file, tls.key_file)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigurationError(
                f"queue.tls: cannot load the client certificate {tls.cert_file}: {exc}"
            ) from None
    return context


async def check_queue(
    config: Config, environ: Mapping[str, str] | None = None
) -> list[ConfigIssue]:
    """Why the configured queue cannot be used now (nothing for the SQLite queue, whose file is
    made when it is first opened): each problem at its place in the file."""
    queue = config.queue
    if queue.kind == "sqlite":
        return []
    missing = missing_secrets(queue, queue.secrets, environ)
    if missing:
        return [ConfigIssue(("queue", m.setting), m.message) for m in missing]
    try:
        connection = nats_connection(queue, environ)
        client = await connect(connection)
    except (QueueError, ConfigurationError) as exc:
        return [ConfigIssue(("queue", "url"), exc.message)]
    try:
        problem = await check_stream(client.jetstream(), StreamSettings(queue.stream))
    except nats.errors.Error as exc:
        problem = f"NATS JetStream does not answer: {exc or type(exc).__name__}"
    finally:
        await client.close()
    return [] if problem is None else [ConfigIssue(("queue", "stream"), problem)]


async def init_queue(config: Config, environ: Mapping[str, str] | None = None) -> str:
    """Make the configured queue's stream, or bring it to the configuration; says what it did.

    Idempotent. The SQLite queue needs no step (its file is made when it is first opened).
    """
    queue = config.queue
    if queue.kind == "sqlite":
        return f"the SQLite queue needs no init: {queue.path} is made when it is first opened"
    try:
        client = await connect(nats_connection(queue, environ))
    except MissingSecret as exc:
        raise ConfigurationError(f"queue.{exc.setting}: {exc.message}") from None
    try:
        settings = StreamSettings(queue.stream, replicas=queue.replicas)
        done = await create_stream(client.jetstream(), settings)
    except nats.errors.Error as exc:
        raise QueueError(f"stream '{queue.stream}' cannot be made: {exc}") from None
    finally:
        await client.close()
    subjects = ", ".join(settings.subjects)
    return f"stream '{queue.stream}' {done} (file storage, work queue, subjects {subjects})"
