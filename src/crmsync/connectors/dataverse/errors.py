"""Dataverse answers → the crmsync error tree, in one place.

Dataverse reports errors as ``{"error": {"code": "0x…", "message": "…"}}``; the code may be empty
and proxies in front of it may answer HTML or nothing at all, so the body is parsed defensively and
the HTTP status always decides the branch:

========================  =====================================================================
status                    error
========================  =====================================================================
429                       :class:`RateLimitedError` (``retry_after`` from ``Retry-After``)
408, 5xx, transport       :class:`TransientError`
401, 403                  :class:`AuthenticationError` (after one token refresh for 401)
400/404/409/412/413/422   :class:`RejectError` on a record operation, else :class:`FatalError`
400/410 expired token     :class:`ChangeTrackingExpired`
tracking not enabled      :class:`ConfigurationError`
anything else             :class:`FatalError`
========================  =====================================================================
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from crmsync.connectors.http import (
    decode_error_body,
    error_from_transport,
    failure_message,
    redact_url,
)
from crmsync.errors import (
    AuthenticationError,
    ChangeTrackingExpired,
    ConfigurationError,
    CrmsyncError,
    FatalError,
    RateLimitedError,
    RejectError,
    TransientError,
)

__all__ = [
    "DEFAULT_RETRY_AFTER",
    "error_from_response",
    "error_from_transport",
    "parse_error_body",
    "parse_retry_after",
    "redact_url",
]

#: Pause used when a 429 carries no usable ``Retry-After``.
DEFAULT_RETRY_AFTER = 5.0
_MAX_RETRY_AFTER = 3600.0
_MAX_MESSAGE = 500

_RECORD_REJECT_STATUSES = frozenset({400, 404, 409, 412, 413, 422})
_TRANSIENT_STATUSES = frozenset({408, 500, 502, 503, 504})

# An expired or purged delta token. Dataverse's own code for an expired version stamp is
# 0x80044352; the message patterns cover answers that carry another or no code.
_EXPIRED_CODES = frozenset({"0x80044352"})
_EXPIRED_MESSAGE = re.compile(
    r"(delta ?token|version ?stamp|change[- ]tracking token|\$deltatoken).{0,80}"
    r"(expired|no longer valid|is not valid|invalid)|full sync",
    re.IGNORECASE,
)
_TRACKING_DISABLED_MESSAGE = re.compile(
    r"(not enabled for change tracking|change tracking is not enabled|"
    r"isn't enabled for change tracking|changetrackingenabled)",
    re.IGNORECASE,
)


def parse_error_body(content: bytes) -> tuple[str | None, str | None]:
    """``(code, message)`` from a Dataverse error body; ``(None, None)`` when it has neither."""
    data, text = decode_error_body(content, _MAX_MESSAGE)
    if text is not None:
        return None, text
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict):
        return None, None
    code, message = error.get("code"), error.get("message")
    return (
        str(code) if code not in (None, "") else None,
        str(message)[: _MAX_MESSAGE * 4] if message not in (None, "") else None,
    )


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float:
    """Seconds to wait from a ``Retry-After`` header (seconds or HTTP date), bounded."""
    if value is None or not value.strip():
        return DEFAULT_RETRY_AFTER
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return DEFAULT_RETRY_AFTER
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if seconds != seconds:  # NaN
        return DEFAULT_RETRY_AFTER
    return min(max(seconds, 0.0), _MAX_RETRY_AFTER)


def error_from_response(
    status: int,
    headers: Mapping[str, str],
    content: bytes,
    *,
    method: str,
    url: str | httpx.URL,
    table: str | None = None,
    record_id: str | None = None,
    record_operation: bool = False,
) -> CrmsyncError:
    """The exception for one failed answer (a whole response or one ``$batch`` part).

    ``headers`` must be case-insensitive or lower-case keyed. ``record_operation`` says the
    request wrote one record, so that a 4xx refusal becomes a :class:`RejectError` the caller
    can report while going on with the other records.
    """
    code, detail = parse_error_body(content)
    text = failure_message("Dataverse", status, method=method, url=url, code=code, detail=detail)
    context: dict[str, Any] = {
        "code": code,
        "status": status,
        "table": table,
        "record_id": record_id,
    }
    if status == 429:
        retry_after = parse_retry_after(_header(headers, "retry-after"))
        return RateLimitedError(text, retry_after=retry_after, **context)
    if status in _TRANSIENT_STATUSES or status >= 500:
        return TransientError(text, **context)
    if status in (401, 403):
        hint = (
            "the access token was refused: check the application user exists in the "
            "organisation and the client's tenant"
            if status == 401
            else "the application user lacks privileges for this operation: check its roles"
        )
        return AuthenticationError(f"{text} ({hint})", **context)
    if status in (400, 410) and _is_expired_token(code, detail):
        return ChangeTrackingExpired(f"{text} (the delta token expired: resync)", **context)
    if status == 400 and detail and _TRACKING_DISABLED_MESSAGE.search(detail):
        return ConfigurationError(
            f"{text} (enable change tracking on table {table or 'this table'})", **context
        )
    if record_operation and status in _RECORD_REJECT_STATUSES:
        return RejectError(text, **context)
    return FatalError(text, **context)


def _is_expired_token(code: str | None, detail: str | None) -> bool:
    if code is not None and code.lower() in _EXPIRED_CODES:
        return True
    return bool(detail and _EXPIRED_MESSAGE.search(detail))


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        value = headers.get(name.title())
    return value
