"""Salesforce REST API errors as the real service reports them.

Top-level failures answer a JSON list ``[{"message":…,"errorCode":…,"fields":[…]}]``; per-record
failures inside sObject Collections use ``statusCode`` instead of ``errorCode``
(:class:`RecordError`). Handlers raise :class:`ApiError`; the app turns it into that answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

__all__ = ["ApiError", "RecordError", "error_body", "not_found"]

_GENERIC = {
    400: ("MALFORMED_REQUEST", "The request is malformed."),
    401: ("INVALID_SESSION_ID", "Session expired or invalid"),
    403: ("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."),
    404: ("NOT_FOUND", "The requested resource does not exist"),
    405: ("METHOD_NOT_ALLOWED", "HTTP Method not allowed"),
    429: ("REQUEST_LIMIT_EXCEEDED", "ConcurrentPerOrgLongTxn Limit exceeded."),
    500: ("UNKNOWN_EXCEPTION", "An unexpected error occurred. Please include this ErrorId."),
    502: ("SERVER_UNAVAILABLE", "Bad gateway."),
    503: ("SERVER_UNAVAILABLE", "Server is temporarily unavailable. Please try again later."),
}


def error_body(status: int, code: str = "", message: str = "") -> tuple[bytes, str]:
    """The Salesforce error body for ``status`` (a one-element JSON list) and its content type."""
    default_code, default_message = _GENERIC.get(status, ("UNKNOWN_EXCEPTION", "Request failed."))
    body = [{"message": message or default_message, "errorCode": code or default_code}]
    return orjson.dumps(body), "application/json;charset=UTF-8"


class ApiError(Exception):
    """A failure to answer as ``status`` with a Salesforce error list."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        fields: Sequence[str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = list(fields) if fields is not None else None
        self.headers = headers or {}

    def body(self) -> bytes:
        item: dict[str, Any] = {"message": self.message, "errorCode": self.code}
        if self.fields is not None:
            item["fields"] = self.fields
        return orjson.dumps([item])


class RecordError(Exception):
    """A write of one record failed: becomes ``{"statusCode","message","fields"}``."""

    def __init__(self, code: str, message: str, fields: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.fields = list(fields)

    def as_json(self) -> dict[str, Any]:
        return {"statusCode": self.code, "message": self.message, "fields": self.fields}

    def to_api_error(self, status: int = 400) -> ApiError:
        """The same failure answered at the top level (single-record endpoints)."""
        return ApiError(status, self.code, self.message, self.fields)


def not_found(message: str = "The requested resource does not exist") -> ApiError:
    return ApiError(404, "NOT_FOUND", message)
