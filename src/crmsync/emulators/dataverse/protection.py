"""Bearer-token check and service protection in front of the Dataverse Web API.

Dataverse answers a request without a valid token with ``401``, an empty body and a
``WWW-Authenticate: Bearer …`` challenge. It then applies its per-user service protection limits
(requests, combined execution time, concurrent requests over a sliding window), refusing with
``429``, ``Retry-After`` and an error code per limit; every answer reports what is left in
``x-ms-ratelimit-*`` headers.
"""

from __future__ import annotations

import math
import time
from typing import Final

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from crmsync.emulators.common.ratelimit import Decision, LimitReason, SlidingWindowLimiter
from crmsync.emulators.common.tokens import TokenIssuer

__all__ = ["USER_STATE_KEY", "ProtectionMiddleware", "limit_error"]

#: Where the authenticated subject is put for the inner app: ``scope["state"][USER_STATE_KEY]``.
USER_STATE_KEY: Final = "crmsync.user"

_CODES: Final[dict[LimitReason, str]] = {
    "requests": "0x80072322",
    "time": "0x80072321",
    "concurrency": "0x80072326",
}
_JSON: Final = b"application/json; odata.metadata=minimal"


def limit_error(reason: LimitReason, limiter: SlidingWindowLimiter) -> tuple[str, str]:
    """The Dataverse error code and message for a refusal, with the limiter's numbers."""
    window = f"{limiter.window_seconds:g}"
    if reason == "requests":
        message = (
            f"Number of requests exceeded the limit of {limiter.requests} over time window of "
            f"{window} seconds."
        )
    elif reason == "time":
        message = (
            f"Combined execution time of incoming requests exceeded limit of "
            f"{limiter.execution_ms:,} milliseconds over time window of {window} seconds. "
            "Decrease number of concurrent requests or reduce the duration of requests and try "
            "again later."
        )
    else:
        message = f"Number of concurrent requests exceeded the limit of {limiter.concurrent}."
    return _CODES[reason], message


def _ratelimit_headers(requests_left: int, time_left_ms: int) -> list[tuple[bytes, bytes]]:
    # Dataverse reports the time budget in seconds, e.g. "1,199.85".
    return [
        (b"x-ms-ratelimit-burst-remaining-xrm-requests", str(requests_left).encode()),
        (b"x-ms-ratelimit-time-remaining-xrm-requests", f"{time_left_ms / 1000:,.2f}".encode()),
    ]


class ProtectionMiddleware:
    """Pure ASGI middleware: authenticate, then throttle, then call the Web API app."""

    def __init__(self, app: ASGIApp, tokens: TokenIssuer, limiter: SlidingWindowLimiter) -> None:
        self.app = app
        self.tokens = tokens
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        subject, problem = self._authenticate(scope)
        if subject is None:
            await self._unauthorized(scope, send, problem)
            return
        decision = self.limiter.enter(subject)
        if not decision.allowed:
            await self._throttled(send, decision)
            return
        inner_scope = dict(scope)
        inner_scope["state"] = {**scope.get("state", {}), USER_STATE_KEY: subject}
        started = time.perf_counter()

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                left = self.limiter.remaining(subject)
                message = {
                    **message,
                    "headers": [*message.get("headers", ()), *_ratelimit_headers(*left)],
                }
            await send(message)

        try:
            await self.app(inner_scope, receive, send_with_headers)
        finally:
            self.limiter.leave(subject, (time.perf_counter() - started) * 1000)

    def _authenticate(self, scope: Scope) -> tuple[str | None, str]:
        values = [v for k, v in scope.get("headers", ()) if k == b"authorization"]
        if not values:
            return None, "The access token is missing."
        scheme, _, token = values[0].decode("latin-1").strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None, "The authorization header must be 'Bearer <access token>'."
        subject = self.tokens.verify(token.strip())
        if subject is None:
            return None, "The access token is invalid or has expired."
        return subject, ""

    async def _unauthorized(self, scope: Scope, send: Send, description: str) -> None:
        host = next((v for k, v in scope.get("headers", ()) if k == b"host"), b"localhost")
        base = f"{scope.get('scheme', 'http')}://{host.decode('latin-1')}"
        challenge = (
            f'Bearer error="invalid_token", error_description="{description}", '
            f'authorization_uri="{base}/common/oauth2/authorize", resource_id="{base}/"'
        )
        headers = [
            (b"www-authenticate", challenge.encode("latin-1")),
            (b"content-length", b"0"),
        ]
        await send({"type": "http.response.start", "status": 401, "headers": headers})
        await send({"type": "http.response.body", "body": b""})

    async def _throttled(self, send: Send, decision: Decision) -> None:
        assert decision.reason is not None
        code, message = limit_error(decision.reason, self.limiter)
        body = orjson.dumps({"error": {"code": code, "message": message}})
        headers = [
            (b"content-type", _JSON),
            (b"content-length", str(len(body)).encode()),
            (b"odata-version", b"4.0"),
            (b"retry-after", str(max(1, math.ceil(decision.retry_after))).encode()),
            *_ratelimit_headers(decision.remaining_requests, decision.remaining_time_ms),
        ]
        await send({"type": "http.response.start", "status": 429, "headers": headers})
        await send({"type": "http.response.body", "body": body})
