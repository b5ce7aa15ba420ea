"""Salesforce answers → the crmsync error tree, in one place.

Salesforce reports errors as a JSON list ``[{"message", "errorCode", "fields"}]``; proxies in front
of it may answer HTML or nothing, so the body is parsed defensively. The status and the error code
decide the branch together:

===========================================  ===================================================
answer                                       error
===========================================  ===================================================
403 ``REQUEST_LIMIT_EXCEEDED`` (daily)       :class:`ApiLimitExceeded` (stop: clears in hours)
403 ``REQUEST_LIMIT_EXCEEDED`` (concurrent)  :class:`~crmsync.errors.RateLimitedError`
429                                          :class:`~crmsync.errors.RateLimitedError`
408, 5xx, ``SERVER_UNAVAILABLE``, transport  :class:`~crmsync.errors.TransientError`
401, other 403                               :class:`~crmsync.errors.AuthenticationError`
400 ``INVALID_REPLICATION_DATE``             :class:`~crmsync.errors.ChangeTrackingExpired`
400 ``MALFORMED_QUERY``/``INVALID_FIELD``…   :class:`~crmsync.errors.ConfigurationError`
300/400/404/409/412 on a record operation    :class:`~crmsync.errors.RejectError`
anything else                                :class:`~crmsync.errors.FatalError`
===========================================  ===================================================
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from crmsync.connectors.http import decode_error_body, failure_message
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
    "ApiBudgetExceeded",
    "ApiLimitExceeded",
    "SalesforceError",
    "error_from_response",
    "errors_from_json",
    "parse_errors",
]

_MAX_MESSAGE = 2000
_TRANSIENT_STATUSES = frozenset({408, 500, 502, 503, 504})
_RECORD_REJECT_STATUSES = frozenset({300, 400, 404, 409, 412, 413, 415})
_TRANSIENT_CODES = frozenset({"SERVER_UNAVAILABLE", "UNABLE_TO_LOCK_ROW", "QUERY_TIMEOUT"})
_QUERY_CODES = frozenset(
    {"MALFORMED_QUERY", "INVALID_FIELD", "INVALID_TYPE", "INVALID_QUERY_FILTER_OPERATOR"}
)
_CONCURRENT = re.compile(r"concurren", re.IGNORECASE)
#: Pause after a concurrent-request refusal: long requests of the org take seconds to finish.
CONCURRENT_RETRY_AFTER = 5.0


class ApiLimitExceeded(FatalError):
    """Salesforce refuses requests: the org's daily API request limit is used up."""


class ApiBudgetExceeded(FatalError):
    """crmsync stopped itself before using more than its share of the daily API requests."""


@dataclass(frozen=True, slots=True)
class SalesforceError:
    """One entry of a Salesforce error list."""

    code: str | None
    message: str | None
    fields: tuple[str, ...] = ()


def parse_errors(content: bytes) -> list[SalesforceError]:
    """The entries of an error body (a list, or a single object); ``[]`` when it has none.

    Top-level errors name the code ``errorCode``, collection results ``statusCode``: both are
    read. A body that is not JSON becomes one entry whose message is its (shortened) text.
    """
    data, text = decode_error_body(content, _MAX_MESSAGE)
    if text is not None:
        return [SalesforceError(None, text)]
    return errors_from_json(data)


def errors_from_json(data: Any) -> list[SalesforceError]:
    """The entries of an already decoded error list (or single error object)."""
    entries = data if isinstance(data, list) else [data]
    errors = []
    for entry in entries:
        if not isinstance(entry, Mapping):
            continue
        code = entry.get("errorCode") or entry.get("statusCode") or entry.get("error")
        message = entry.get("message") or entry.get("error_description")
        fields = entry.get("fields")
        errors.append(
            SalesforceError(
                str(code) if code else None,
                str(message)[:_MAX_MESSAGE] if message else None,
                tuple(str(f) for f in fields) if isinstance(fields, list) else (),
            )
        )
    return errors


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
    """The exception for one failed answer.

    ``record_operation`` says the request wrote one record (or a collection), so that a 4xx
    refusal becomes a :class:`RejectError` the caller can report while going on with the others.
    """
    errors = parse_errors(content)
    first = errors[0] if errors else SalesforceError(None, None)
    code = first.code
    text = failure_message(
        "Salesforce", status, method=method, url=url, code=code, detail=first.message
    )
    context: dict[str, Any] = {
        "code": code,
        "status": status,
        "table": table,
        "record_id": record_id,
    }
    if code == "REQUEST_LIMIT_EXCEEDED":
        if first.message and _CONCURRENT.search(first.message):
            return RateLimitedError(text, retry_after=CONCURRENT_RETRY_AFTER, **context)
        return ApiLimitExceeded(
            f"{text} (the org's daily API request limit is used up: crmsync stops until it "
            "resets; lower the sync frequency or ask Salesforce for a higher limit)",
            **context,
        )
    if status == 429:
        retry_after = _seconds(headers.get("retry-after") or headers.get("Retry-After"))
        return RateLimitedError(text, retry_after=retry_after, **context)
    if status in _TRANSIENT_STATUSES or status >= 500 or code in _TRANSIENT_CODES:
        return TransientError(text, **context)
    if status == 401:
        return AuthenticationError(
            f"{text} (the session was refused even after signing in again: check the connected "
            "app's session policies and the user's access)",
            **context,
        )
    if status == 403:
        return AuthenticationError(
            f"{text} (the user lacks permission for this: check its profile and permission "
            "sets, and that API access is enabled)",
            **context,
        )
    if code == "INVALID_REPLICATION_DATE":
        return ChangeTrackingExpired(
            f"{text} (the requested period is outside what Salesforce still keeps)", **context
        )
    if status == 400 and code in _QUERY_CODES and not record_operation:
        return ConfigurationError(f"{text} (fix the field list or the filter)", **context)
    if record_operation and status in _RECORD_REJECT_STATUSES:
        return RejectError(text, **context)
    return FatalError(text, **context)


def _seconds(value: str | None) -> float:
    try:
        seconds = float(value) if value is not None else 5.0
    except ValueError:
        return 5.0
    return min(max(seconds, 0.0), 3600.0) if seconds == seconds else 5.0
