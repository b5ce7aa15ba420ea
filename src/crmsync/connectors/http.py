"""HTTP pieces every connector's raw client shares: the pause gate, retries, URL hygiene.

Nothing here knows about a particular CRM: the Dataverse and Salesforce clients both build their
request loops from these parts.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, Protocol, Self, TypeVar
from urllib.parse import urlsplit

import httpx
import orjson

from crmsync.connectors.config import ssl_context
from crmsync.errors import (
    ConfigurationError,
    CrmsyncError,
    MalformedAnswerError,
    ProtocolError,
    RateLimitedError,
    TransientError,
)

__all__ = [
    "ClientSettings",
    "PauseGate",
    "Retrier",
    "RetryCounters",
    "RetryingClient",
    "backoff_delay",
    "decode_error_body",
    "error_from_transport",
    "failure_message",
    "json_body",
    "origin",
    "redact_url",
]

_T = TypeVar("_T")


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


class RetryCounters(Protocol):
    """The counts a :class:`Retrier` keeps up to date (the clients' call counters)."""

    retries: int
    throttled: int


class Retrier:
    """When a client sends a failed request again, and how long it waits first.

    Only transient errors are retried, at most ``max_retries`` times. A throttled answer
    (:class:`RateLimitedError`) closes the connection-wide ``gate`` for its ``retry_after``; any
    other transient failure waits an exponential backoff with jitter.
    """

    def __init__(
        self,
        counters: RetryCounters,
        gate: PauseGate,
        *,
        max_retries: int,
        backoff_initial: float,
        backoff_max: float,
        sleep: Callable[[float], Awaitable[None]],
        jitter: Callable[[], float],
        logger: logging.Logger,
    ) -> None:
        self._counters = counters
        self._gate = gate
        self._max_retries = max_retries
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._sleep = sleep
        self._jitter = jitter
        self._logger = logger

    async def retry_or_raise(self, error: CrmsyncError, attempt: int) -> int:
        """Raise ``error`` unless it may be retried; else wait, and return the next attempt."""
        if not isinstance(error, TransientError) or attempt >= self._max_retries:
            raise error
        attempt += 1
        self._logger.warning("%s; retry %d/%d", error, attempt, self._max_retries)
        await self.wait(attempt, error.retry_after if isinstance(error, RateLimitedError) else None)
        return attempt

    async def wait(self, attempt: int, retry_after: float | None = None) -> None:
        """Count a retry and wait for it: a connection-wide pause when throttled, else backoff."""
        self._counters.retries += 1
        if retry_after is not None:
            self._counters.throttled += 1
            self._gate.pause(retry_after)
            self._logger.warning("throttled: pausing every request for %.1f s", retry_after)
        else:
            await self._sleep(self.backoff(attempt))

    def backoff(self, attempt: int) -> float:
        """Delay before retry ``attempt`` (1-based): exponential, capped, with jitter in [½, 1]."""
        return backoff_delay(attempt, self._backoff_initial, self._backoff_max, self._jitter())


class ClientSettings(Protocol):
    """The connection settings a :class:`RetryingClient` reads (both CRMs' configs have them)."""

    @property
    def ca_bundle(self) -> Path | None: ...
    @property
    def timeout_seconds(self) -> float: ...
    @property
    def max_retries(self) -> int: ...
    @property
    def backoff_initial_seconds(self) -> float: ...
    @property
    def backoff_max_seconds(self) -> float: ...


#: Builds one attempt's request: ``(url, headers)``, given whether the credential must be renewed.
Prepare = Callable[[bool], Awaitable[tuple[str, Mapping[str, str]]]]
#: The exception for a failed answer, given the answer and the URL it was sent to.
ErrorFor = Callable[[httpx.Response, str], CrmsyncError]


#: Transport failures of a request that never reached the server.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


class RetryingClient:
    """The part of a CRM's raw client that does not depend on the CRM: the connection pool, the
    pause gate, closing, and the request loop with its retries and single credential renewal.

    A subclass says how one attempt is addressed and signed (``prepare``), how a failed answer
    maps to the error tree (``error_for``), and may check something before each attempt
    (:meth:`_before_attempt`) or look at every answer (:meth:`_observe`).
    """

    def __init__(
        self,
        settings: ClientSettings,
        counters: RetryCounters,
        *,
        headers: Mapping[str, str],
        transport: httpx.AsyncBaseTransport | None,
        sleep: Callable[[float], Awaitable[None]],
        clock: Callable[[], float],
        jitter: Callable[[], float],
        logger: logging.Logger,
        base_url: str = "",
        limits: httpx.Limits | None = None,
    ) -> None:
        self._logger = logger
        self.gate = PauseGate(clock=clock, sleep=sleep)
        self._retrier = Retrier(
            counters,
            self.gate,
            max_retries=settings.max_retries,
            backoff_initial=settings.backoff_initial_seconds,
            backoff_max=settings.backoff_max_seconds,
            sleep=sleep,
            jitter=jitter,
            logger=logger,
        )
        pool: dict[str, Any] = {} if limits is None else {"limits": limits}
        self._http = httpx.AsyncClient(
            base_url=base_url,
            headers=headers,
            verify=ssl_context(settings.ca_bundle) if transport is None else True,
            transport=transport,
            timeout=httpx.Timeout(
                settings.timeout_seconds, connect=min(30.0, settings.timeout_seconds)
            ),
            follow_redirects=False,
            **pool,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def wait_before_retry(self, attempt: int, retry_after: float | None = None) -> None:
        """Count a retry and wait for it: a connection-wide pause when throttled, else backoff."""
        await self._retrier.wait(attempt, retry_after)

    async def _send(
        self,
        method: str,
        content: bytes | None,
        *,
        prepare: Prepare,
        error_for: ErrorFor,
        refused: str,
        retry_unanswered: bool = True,
    ) -> httpx.Response:
        """Send until a 2xx answer (returned) or an error that may not be retried (raised).

        A 401 renews the credential once (``refused`` is logged); transient errors are retried
        by the :class:`Retrier`. Without ``retry_unanswered``, a request that may have reached
        the server but got no answer is not sent again: its error is raised for the caller to
        check what happened (a request that could not connect is still retried).
        """
        attempt = 0
        refreshed = force_refresh = False
        while True:
            self._before_attempt()
            await self.gate.wait()
            url, headers = await prepare(force_refresh)
            force_refresh = False
            error: CrmsyncError
            try:
                response = await self._http.request(method, url, headers=headers, content=content)
            except httpx.TransportError as exc:
                error = error_from_transport(exc, method=method, url=url)
                if not retry_unanswered and not isinstance(exc, _NOT_SENT):
                    raise error from None
            else:
                self._observe(response)
                if response.status_code < 300:
                    return response
                if response.status_code == 401 and not refreshed:
                    refreshed = force_refresh = True
                    self._logger.info("%s", refused)
                    continue
                error = error_for(response, url)
            attempt = await self._retrier.retry_or_raise(error, attempt)

    async def _read(
        self, send: Callable[[], Awaitable[httpx.Response]], read: Callable[[httpx.Response], _T]
    ) -> _T:
        """``read`` of the answer to ``send()``, which is sent again (with back-off, as other
        transient failures) while ``read`` finds its successful answer malformed
        (:class:`MalformedAnswerError`); for requests that may be repeated, as reads."""
        attempt = 0
        while True:
            response = await send()
            try:
                return read(response)
            except MalformedAnswerError as error:
                try:
                    attempt = await self._retrier.retry_or_raise(error, attempt)
                except MalformedAnswerError:
                    raise MalformedAnswerError(
                        f"{error.message} (the same after {attempt} retries)", **error.context()
                    ) from None

    def _before_attempt(self) -> None:
        """Called before every attempt, before the pause gate; may raise to stop."""

    def _observe(self, response: httpx.Response) -> None:
        """Called with every answer, successful or not."""


def redact_url(url: str | httpx.URL) -> str:
    """The URL without its query string (which may carry tokens or cookies), for messages."""
    parts = urlsplit(str(url))
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def origin(url: str) -> str:
    """``scheme://host:port`` of ``url`` with the default port made explicit, for comparisons."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.scheme}://{(parts.hostname or '').lower()}:{port}"


def decode_error_body(content: bytes, max_text: int) -> tuple[Any, str | None]:
    """An error answer's body, decoded defensively (proxies answer HTML, or nothing).

    ``(decoded JSON, None)`` for JSON; ``(None, "non-JSON error body: …")`` with the first
    ``max_text`` bytes for anything else; ``(None, None)`` for an empty or blank body.
    """
    if not content:
        return None, None
    try:
        return orjson.loads(content), None
    except orjson.JSONDecodeError:
        text = content[:max_text].decode("utf-8", "replace").strip()
        return None, (f"non-JSON error body: {text}" if text else None)


def failure_message(
    crm: str,
    status: int,
    *,
    method: str,
    url: str | httpx.URL,
    code: str | None,
    detail: str | None,
) -> str:
    """``<crm> answered <status> to <method> <url>: <detail> (<code>)``, without the query."""
    text = f"{crm} answered {status} to {method} {redact_url(url)}"
    if code or detail:
        text += f": {detail or ''}" + (f" ({code})" if code else "")
    return text


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


def json_body(response: httpx.Response) -> Any:
    """The answer's decoded JSON, or a :class:`ProtocolError` naming the URL and the problem."""
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError as exc:
        kind = response.headers.get("content-type", "no content type")
        raise ProtocolError(
            f"{response.request.method} {redact_url(response.request.url)} answered "
            f"{response.status_code} with a body that is not JSON ({kind}): {exc}",
            status=response.status_code,
        ) from None
