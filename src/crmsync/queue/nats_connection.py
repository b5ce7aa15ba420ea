"""How the NATS change queue connects: servers, TLS, credentials, reconnection.

:class:`NatsConnection` holds what ``nats.connect`` needs, secrets already read (by the runtime,
from the environment or files the configuration names); it never shows them in its ``repr``.
:func:`connect` makes one connection that reconnects on its own, forever, after it first
succeeded; the first connection is bounded by ``connect_timeout_seconds`` and a failure is a
:class:`QueueUnavailableError` that names the servers (never a credential).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nats
from nats.aio.client import Client

from crmsync.queue.errors import QueueUnavailableError

__all__ = ["NatsConnection", "connect"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class NatsConnection:
    """Where the NATS servers are and how to sign in to them (at most one way)."""

    #: ``nats://host:port`` or ``tls://host:port``, one or several servers of one cluster.
    servers: tuple[str, ...]
    #: TLS settings (verification on); ``None``: plain TCP unless a server asks for TLS.
    tls: ssl.SSLContext | None = field(default=None, repr=False)
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    #: A file holding an NKey seed (``SU…``).
    nkey_seed_file: Path | None = None
    #: A ``.creds`` file (user JWT and NKey seed), as ``nsc`` writes them.
    creds_file: Path | None = None
    connect_timeout_seconds: float = 5.0
    #: The pause between two tries to reconnect to a server that went away.
    reconnect_wait_seconds: float = 1.0

    def __post_init__(self) -> None:
        if not self.servers:
            raise ValueError("at least one NATS server URL is needed")
        ways = [self.password or self.user, self.token, self.nkey_seed_file, self.creds_file]
        if sum(way is not None for way in ways) > 1:
            raise ValueError("give one way to sign in to NATS, not several")
        if (self.user is None) != (self.password is None):
            raise ValueError("a NATS user needs its password, and a password its user")

    def options(self) -> dict[str, Any]:
        """Keyword arguments of ``nats.connect`` (a fresh dict: it holds secrets)."""
        options: dict[str, Any] = {
            "servers": list(self.servers),
            "name": "crmsync",
            "connect_timeout": self.connect_timeout_seconds,
            "reconnect_time_wait": self.reconnect_wait_seconds,
            "max_reconnect_attempts": -1,
        }
        if self.tls is not None:
            options["tls"] = self.tls
        if self.user is not None:
            options["user"] = self.user
            options["password"] = self.password
        if self.token is not None:
            options["token"] = self.token
        if self.nkey_seed_file is not None:
            options["nkeys_seed"] = str(self.nkey_seed_file)
        if self.creds_file is not None:
            options["user_credentials"] = str(self.creds_file)
        return options


async def connect(connection: NatsConnection) -> Client:
    """A connection to one of the servers; a :class:`QueueUnavailableError` when none accepts
    one within ``connect_timeout_seconds`` (with the last reason)."""
    last: list[str] = []
    where = ", ".join(connection.servers)

    async def on_error(exc: Exception) -> None:
        reason = str(exc) or type(exc).__name__
        if not last or last[-1] != reason:
            logger.warning("NATS (%s): %s", where, reason)
        last[:] = [reason]

    async def on_disconnected() -> None:
        if client.is_closed:
            return
        logger.warning("NATS (%s): disconnected; reconnecting", where)

    async def on_reconnected() -> None:
        logger.warning("NATS (%s): reconnected", where)

    client = Client()
    try:
        await asyncio.wait_for(
            client.connect(
                **connection.options(),
                error_cb=on_error,
                disconnected_cb=on_disconnected,
                reconnected_cb=on_reconnected,
            ),
            timeout=connection.connect_timeout_seconds,
        )
    except (TimeoutError, OSError, nats.errors.Error) as exc:
        with contextlib.suppress(Exception):
            await client.close()
        reason = last[-1] if last else str(exc) or type(exc).__name__
        raise QueueUnavailableError(
            f"cannot connect to NATS at {where} within "
            f"{connection.connect_timeout_seconds:g} s: {reason}"
        ) from None
    return client
