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

from crmsync.queue.errors import QueueError, QueueUnavailableError

__all__ = ["NatsConnection", "connect"]

logger = logging.getLogger(__name__)
_REFUSED = "authorization violation"


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
    one within ``connect_timeout_seconds`` (with the last reason), a :class:`QueueError` at once
    when a server refuses the sign-in."""
    where = ", ".join(connection.servers)
    failures = _Failures(where)

    async def on_error(exc: Exception) -> None:
        failures.add(exc)

    async def on_disconnected() -> None:
        if client.is_closed:
            return
        logger.warning("NATS (%s): disconnected; reconnecting", where)

    async def on_reconnected() -> None:
        logger.warning("NATS (%s): reconnected", where)

    client = Client()
    connecting = asyncio.ensure_future(
        client.connect(
            **connection.options(),
            error_cb=on_error,
            disconnected_cb=on_disconnected,
            reconnected_cb=on_reconnected,
        )
    )
    refusal = asyncio.ensure_future(failures.refused.wait())
    await asyncio.wait(
        (connecting, refusal),
        timeout=connection.connect_timeout_seconds,
        return_when=asyncio.FIRST_COMPLETED,
    )
    refusal.cancel()
    failure = _failure(connecting)
    if failure is not None or failures.refused.is_set():
        connecting.cancel()
        with contextlib.suppress(BaseException):
            await connecting
        with contextlib.suppress(Exception):
            await client.close()
        reason = failures.reason or failure or "no answer"
        if failures.refused.is_set():
            raise QueueError(f"NATS at {where}: {reason}")
        raise QueueUnavailableError(
            f"cannot connect to NATS at {where} within "
            f"{connection.connect_timeout_seconds:g} s: {reason}"
        )
    # The client upgrades to TLS only when the server requires it: check that it did.
    if connection.tls is not None and not client._server_info.get("tls_required"):
        await client.close()
        raise QueueError(f"NATS at {where} does not use TLS, which the configuration requires")
    return client


class _Failures:
    """The errors of the first connection: each logged once; the reason kept is the refused
    sign-in, else a TLS failure (it says more than the lost connection that follows it), else
    the last one."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.reason: str | None = None
        self.refused = asyncio.Event()
        self._seen: set[str] = set()
        self._tls_failed = False

    def add(self, exc: Exception) -> None:
        reason = str(exc) or type(exc).__name__
        if reason not in self._seen:
            self._seen.add(reason)
            logger.warning("NATS (%s): %s", self.where, reason)
        if self.refused.is_set():
            return
        if isinstance(exc, nats.errors.AuthorizationError) or _REFUSED in reason.lower():
            self.reason = "the server refused the sign-in (authorization violation)"
            self.refused.set()
        elif isinstance(exc, ssl.SSLError):
            self.reason, self._tls_failed = reason, True
        elif not self._tls_failed:
            self.reason = reason


def _failure(connecting: asyncio.Future[None]) -> str | None:
    """Why the connection was not made (``None`` when it was)."""
    if not connecting.done():
        return "no server answered"
    if connecting.cancelled():
        return "cancelled"
    exc = connecting.exception()
    return None if exc is None else str(exc) or type(exc).__name__
