"""HTTP pieces every connector's raw client shares: the pause gate, backoff, URL hygiene.

Nothing here knows about a particular CRM: the Dataverse and Salesforce clients both build their
request loops from these parts.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

import httpx

from crmsync.errors import ConfigurationError, CrmsyncError, TransientError

__all__ = ["PauseGate", "backoff_delay", "error_from_transport", "origin", "redact_url"]


class PauseGate:
    """A connection-wide pause: while it is closed, no request may be sent.

    CRMs extend the penalty of clients that keep sending during a ``Retry-After`` pause, so every
    sender waits here before every request.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._resume_at = 0.0

    def pause(self, seconds: float) -> None:
        """Close the gate for ``seconds`` from now (never shortens a pause already running)."""
        self._resume_at = max(self._resume_at, self._clock() + seconds)

    @property
    def remaining(self) -> float:
        return max(0.0, self._resume_at - self._clock())

    async def wait(self) -> None:
        """Return once the gate is open; re-checks after sleeping as a pause may be extended."""
        while (delay := self._resume_at - self._clock()) > 0:
            await self._sleep(delay)


def backoff_delay(attempt: int, initial: float, cap: float, jitter: float) -> float:
    """Delay before retry ``attempt`` (1-based): exponential, capped, scaled into [½, 1] by
    ``jitter`` (a number in [0, 1])."""
    base = min(cap, initial * 2.0 ** min(attempt - 1, 60))
    return base * (0.5 + 0.5 * jitter)


def redact_url(url: str | httpx.URL) -> str:
    """The URL without its query string (which may carry tokens or cookies), for messages."""
    parts = urlsplit(str(url))
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def origin(url: str) -> str:
    """``scheme://host:port`` of ``url`` with the default port made explicit, for comparisons."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.scheme}://{(parts.hostname or '').lower()}:{port}"


def error_from_transport(exc: httpx.TransportError, *, method: str, url: str) -> CrmsyncError:
    """The exception for a request that got no (complete) answer."""
    kind = type(exc).__name__
    where = f"{method} {redact_url(url)}"
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.ProxyError):
        return ConfigurationError(f"cannot send {where}: {kind}: {exc}")
    if isinstance(exc, httpx.ConnectError) and "CERTIFICATE_VERIFY_FAILED" in str(exc):
        return ConfigurationError(
            f"TLS verification failed for {where}: set ca_bundle to the CA that signed the "
            "server certificate"
        )
    return TransientError(f"no answer to {where}: {kind}: {exc or 'connection failed'}")
