"""Fault injection for the emulators, and the control endpoint that drives it.

A test (or a person trying a sync) adds faults through ``/_emulator/faults``; the
:class:`FaultMiddleware` then applies them to the next matching requests: an HTTP error with
``Retry-After``, a slow answer, a connection dropped mid-answer, expired tokens, a ``200`` answer
whose body is malformed, an answer whose body is edited, or (read by the emulator's ``$batch``
handler) one failing operation inside a batch.

The middleware also keeps a log of the last requests it served (``/_emulator/requests``), so that
a test can count the calls a client made, and when.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from crmsync.emulators.common.clock import Clock
from crmsync.emulators.common.tokens import TokenIssuer

__all__ = [
    "ConnectionDropped",
    "Fault",
    "FaultKind",
    "FaultMiddleware",
    "FaultPlan",
    "FaultSpec",
    "LoggedRequest",
    "MalformedBody",
    "RequestLog",
    "control_routes",
]

FaultKind = Literal["status", "drop", "slow", "expire_tokens", "batch_item", "malformed", "rewrite"]
#: The bodies of a ``malformed`` fault: what proxies and broken connections answer with a 200.
MalformedBody = Literal["html", "empty", "truncated_json", "no_value"]

#: ``malformed`` body → (content type, body).
MALFORMED_BODIES: dict[str, tuple[bytes, bytes]] = {
    "html": (
        b"text/html; charset=utf-8",
        b"<html><head><title>502 Bad Gateway</title></head>"
        b"<body><h1>Bad Gateway</h1><p>The proxy got no answer.</p></body></html>",
    ),
    "empty": (b"application/json", b""),
    "truncated_json": (b"application/json", b'{"value":[{"name":"cut off'),
    "no_value": (b"application/json", b'{"note":"a page without its rows"}'),
}

#: Requests the log keeps (the oldest go first).
REQUEST_LOG_SIZE = 1000

#: Longest delay a ``slow`` fault may ask for: enough to trip any client timeout.
MAX_DELAY_SECONDS = 600.0


@dataclass(slots=True)
class Fault:
    """One fault to inject into the next ``times`` matching requests."""

    kind: FaultKind
    status: int = 503
    retry_after: float | None = None
    delay_seconds: float = 0.0
    #: Regular expression searched (``re.search``) in the request path; ``None``: any path.
    path: str | None = None
    #: HTTP method (any case); ``None``: any method.
    method: str | None = None
    times: int = 1
    #: For ``batch_item``: which operation of the batch fails, 0-based (``None``: the first).
    batch_index: int | None = None
    #: For ``malformed``: the body answered with status 200.
    body: MalformedBody | None = None
    #: For ``rewrite``: a regular expression searched in the answer's body (as UTF-8 text)...
    find: str | None = None
    #: ... and the text put, as is, in place of every match.
    replace: str | None = None


class FaultSpec(BaseModel):
    """A :class:`Fault` as posted to the control endpoint, validated."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: FaultKind
    status: int = Field(default=503, ge=400, le=599)
    retry_after: float | None = Field(default=None, ge=0, le=86_400)
    delay_seconds: float = Field(default=0.0, ge=0, le=MAX_DELAY_SECONDS)
    path: str | None = Field(default=None, max_length=500)
    method: str | None = Field(default=None, pattern=r"^[A-Za-z]{1,16}$")
    times: int = Field(default=1, ge=1, le=1_000_000)
    batch_index: int | None = Field(default=None, ge=0, le=100_000)
    body: MalformedBody | None = None
    find: str | None = Field(default=None, min_length=1, max_length=2000)
    replace: str | None = Field(default=None, max_length=100_000)

    @field_validator("path", "find")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as error:
                raise ValueError(f"not a valid regular expression: {error}") from None
        return value

    @model_validator(mode="after")
    def _consistent(self) -> FaultSpec:
        if self.kind == "slow" and self.delay_seconds <= 0:
            raise ValueError("a 'slow' fault needs delay_seconds > 0")
        if self.batch_index is not None and self.kind != "batch_item":
            raise ValueError("batch_index only applies to 'batch_item' faults")
        if (self.body is None) == (self.kind == "malformed"):
            raise ValueError("a 'malformed' fault needs a body, and only it takes one")
        rewriting = self.kind == "rewrite"
        if rewriting != (self.find is not None) or rewriting != (self.replace is not None):
            raise ValueError("a 'rewrite' fault needs find and replace, and only it takes them")
        return self

    def to_fault(self) -> Fault:
        return Fault(**self.model_dump())


@dataclass(slots=True)
class _Entry:
    fault: Fault
    left: int
    path: re.Pattern[str] | None


@dataclass(slots=True)
class LoggedRequest:
    """One request the emulator served: when it came (seconds since the epoch, the machine's
    clock, not the emulated one) and the status answered (``None`` when no answer began)."""

    method: str
    path: str
    query: str
    at: float
    status: int | None = None


class RequestLog:
    """The last :data:`REQUEST_LOG_SIZE` requests served (control requests aside); thread-safe."""

    def __init__(self, size: int = REQUEST_LOG_SIZE) -> None:
        self._entries: deque[LoggedRequest] = deque(maxlen=size)
        self._lock = threading.Lock()

    def add(self, method: str, path: str, query: str) -> LoggedRequest:
        """Log a request as it arrives; its ``status`` is set when its answer begins."""
        entry = LoggedRequest(method, path, query, time.time())
        with self._lock:
            self._entries.append(entry)
        return entry

    def entries(self) -> list[LoggedRequest]:
        """Copies of the logged requests, oldest first."""
        with self._lock:
            return [dataclasses.replace(e) for e in self._entries]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


class FaultPlan:
    """The faults waiting to be applied, in the order they were added, and the log of the
    requests served; thread-safe."""

    def __init__(self) -> None:
        self._entries: list[_Entry] = []
        self._lock = threading.Lock()
        self.requests = RequestLog()

    def add(self, fault: Fault) -> None:
        """Queue ``fault`` (raises ``ValueError`` for an invalid path regex or count)."""
        if fault.times < 1:
            raise ValueError("a fault must apply at least once (times >= 1)")
        try:
            pattern = re.compile(fault.path) if fault.path is not None else None
        except re.error as error:
            raise ValueError(f"fault path {fault.path!r} is not a valid regex: {error}") from None
        with self._lock:
            self._entries.append(_Entry(dataclasses.replace(fault), fault.times, pattern))

    def clear(self) -> None:
        """Remove every pending fault."""
        with self._lock:
            self._entries.clear()

    def pending(self) -> list[Fault]:
        """Copies of the pending faults, ``times`` being the uses left."""
        with self._lock:
            return [dataclasses.replace(e.fault, times=e.left) for e in self._entries]

    def take(self, method: str, path: str) -> Fault | None:
        """Use once the first non-batch fault matching this request, if any."""
        with self._lock:
            for entry in self._entries:
                fault = entry.fault
                if fault.kind == "batch_item":
                    continue
                if fault.method is not None and fault.method.upper() != method.upper():
                    continue
                if entry.path is not None and entry.path.search(path) is None:
                    continue
                return self._use(entry)
        return None

    def take_batch_item(self) -> Fault | None:
        """Use once the first ``batch_item`` fault, if any (called once per ``$batch``)."""
        with self._lock:
            for entry in self._entries:
                if entry.fault.kind == "batch_item":
                    return self._use(entry)
        return None

    def _use(self, entry: _Entry) -> Fault:
        entry.left -= 1
        if entry.left <= 0:
            self._entries.remove(entry)
        return dataclasses.replace(entry.fault, times=1)


class ConnectionDropped(Exception):
    """Raised inside the server to abort a connection mid-answer (a ``drop`` fault)."""


class _HideDroppedConnections(logging.Filter):
    """Keeps uvicorn from logging a traceback for connections dropped on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, ConnectionDropped)


def _install_log_filter() -> None:
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _HideDroppedConnections) for f in logger.filters):
        logger.addFilter(_HideDroppedConnections())


ErrorBody = Callable[[int], tuple[bytes, str]]


class FaultMiddleware:
    """Pure ASGI middleware applying the :class:`FaultPlan` to each HTTP request, and logging it
    in the plan's :class:`RequestLog`.

    Requests under ``skip_prefix`` (the control endpoint) are never faulted nor logged.
    ``error_body`` gives the body and content type of an injected error status in the emulated
    service's format; ``expire_tokens`` is called by an ``expire_tokens`` fault.
    """

    def __init__(
        self,
        app: ASGIApp,
        plan: FaultPlan,
        *,
        error_body: ErrorBody,
        skip_prefix: str = "/_emulator",
        expire_tokens: Callable[[], None] | None = None,
    ) -> None:
        self.app = app
        self.plan = plan
        self.error_body = error_body
        self.skip_prefix = skip_prefix
        self.expire_tokens = expire_tokens
        _install_log_filter()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or path.startswith(self.skip_prefix):
            await self.app(scope, receive, send)
            return
        query = scope.get("query_string", b"").decode("latin-1")
        logged = self.plan.requests.add(scope["method"], path, query)

        async def send_logged(message: Message) -> None:
            if message["type"] == "http.response.start":
                logged.status = message["status"]
            await send(message)

        await self._serve(scope, receive, send_logged)

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        fault = self.plan.take(scope["method"], scope["path"])
        if fault is None:
            await self.app(scope, receive, send)
        elif fault.kind == "status":
            await self._send_status(fault, send)
        elif fault.kind == "slow":
            await asyncio.sleep(fault.delay_seconds)
            await self.app(scope, receive, send)
        elif fault.kind == "drop":
            await self._drop(send)
        elif fault.kind == "malformed":
            content_type, body = MALFORMED_BODIES[fault.body or "empty"]
            await _send_whole(send, 200, [(b"content-type", content_type)], body)
        elif fault.kind == "rewrite":
            await self.app(scope, receive, _rewriting(fault, send))
        else:  # expire_tokens
            if self.expire_tokens is not None:
                self.expire_tokens()
            await self.app(scope, receive, send)

    async def _send_status(self, fault: Fault, send: Send) -> None:
        body, content_type = self.error_body(fault.status)
        headers = [(b"content-type", content_type.encode("latin-1"))]
        if fault.retry_after is not None:
            headers.append((b"retry-after", str(math.ceil(fault.retry_after)).encode()))
        await _send_whole(send, fault.status, headers, body)

    async def _drop(self, send: Send) -> None:
        # Promise a body, send a piece of it, then abort: the server closes the connection and
        # the client sees it die mid-answer.
        start: Message = {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", b"4096")],
        }
        await send(start)
        await send({"type": "http.response.body", "body": b'{"value":[', "more_body": True})
        raise ConnectionDropped("connection dropped by an injected fault")


async def _send_whole(
    send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes
) -> None:
    """Send a whole answer: ``headers`` plus the body's length, then the body."""
    length = (b"content-length", str(len(body)).encode())
    await send({"type": "http.response.start", "status": status, "headers": [*headers, length]})
    await send({"type": "http.response.body", "body": body})


def _rewriting(fault: Fault, send: Send) -> Send:
    """A ``send`` that holds the answer back until its body is whole, then sends it with every
    match of the fault's ``find`` replaced by its ``replace`` (and the length fixed)."""
    pattern, replacement = re.compile(fault.find or "$^"), fault.replace or ""
    start: Message = {}
    chunks: list[bytes] = []

    async def send_rewritten(message: Message) -> None:
        if message["type"] == "http.response.start":
            start.update(message)
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                text = b"".join(chunks).decode("utf-8", "surrogateescape")
                body = pattern.sub(lambda _: replacement, text).encode("utf-8", "surrogateescape")
                headers = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
                await _send_whole(send, start["status"], headers, body)
        else:
            await send(message)

    return send_rewritten


# ------------------------------------------------------------------------------ control routes


def _problem(status: int, message: str, details: Any = None) -> JSONResponse:
    content: dict[str, Any] = {"error": message}
    if details is not None:
        content["details"] = details
    return JSONResponse(content, status_code=status)


async def _json_body(request: Request) -> Any:
    try:
        return await request.json()
    except ValueError:
        raise _BadRequest("the request body is not valid JSON") from None


class _BadRequest(Exception):
    def __init__(self, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


def _validation_details(error: ValidationError) -> list[dict[str, str]]:
    return [
        {"loc": ".".join(str(part) for part in e["loc"]) or "(body)", "msg": e["msg"]}
        for e in error.errors()
    ]


class ClockChange(BaseModel):
    """Body of ``POST /_emulator/clock``: exactly one of the two fields."""

    model_config = ConfigDict(extra="forbid")

    advance_seconds: float | None = Field(default=None, ge=-10 * 365 * 86_400, le=10 * 365 * 86_400)
    set: datetime | None = None

    @model_validator(mode="after")
    def _one(self) -> ClockChange:
        if (self.advance_seconds is None) == (self.set is None):
            raise ValueError("give exactly one of 'advance_seconds' or 'set'")
        if self.set is not None and self.set.tzinfo is None:
            raise ValueError("'set' needs a time zone, e.g. 2024-01-01T00:00:00Z")
        return self


def control_routes(
    plan: FaultPlan, clock: Clock, tokens: TokenIssuer, extra: Sequence[BaseRoute] = ()
) -> list[BaseRoute]:
    """Routes of the control endpoint, relative to where they are mounted (``/_emulator``)."""

    def faults_json() -> JSONResponse:
        return JSONResponse([dataclasses.asdict(f) for f in plan.pending()])

    def clock_json() -> JSONResponse:
        return JSONResponse({"now": clock.now().isoformat().replace("+00:00", "Z")})

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def faults(request: Request) -> Response:
        if request.method == "DELETE":
            plan.clear()
        elif request.method == "POST":
            try:
                spec = FaultSpec.model_validate(await _json_body(request))
            except _BadRequest as error:
                return _problem(422, error.message)
            except ValidationError as error:
                return _problem(422, "invalid fault", _validation_details(error))
            plan.add(spec.to_fault())
        return faults_json()

    async def clock_route(request: Request) -> Response:
        if request.method == "POST":
            try:
                change = ClockChange.model_validate(await _json_body(request))
            except _BadRequest as error:
                return _problem(422, error.message)
            except ValidationError as error:
                return _problem(422, "invalid clock change", _validation_details(error))
            if change.set is not None:
                clock.set(change.set)
            elif change.advance_seconds is not None:
                clock.advance(change.advance_seconds)
        return clock_json()

    async def expire_tokens(request: Request) -> Response:
        tokens.expire_all()
        return JSONResponse({"status": "ok"})

    async def requests(request: Request) -> Response:
        if request.method == "DELETE":
            plan.requests.clear()
        return JSONResponse([dataclasses.asdict(e) for e in plan.requests.entries()])

    return [
        Route("/health", health, methods=["GET"]),
        Route("/faults", faults, methods=["GET", "POST", "DELETE"]),
        Route("/clock", clock_route, methods=["GET", "POST"]),
        Route("/tokens/expire", expire_tokens, methods=["POST"]),
        Route("/requests", requests, methods=["GET", "DELETE"]),
        *extra,
    ]
