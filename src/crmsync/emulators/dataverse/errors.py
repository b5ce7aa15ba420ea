"""Dataverse Web API errors as the real service reports them.

Every failure answers ``{"error":{"code":"0x…","message":"…"}}`` with
``Content-Type: application/json; odata.metadata=minimal``. Handlers raise :class:`WebApiError`
(or one of the constructors below); the Web API turns it into that answer, inside or outside a
``$batch``.
"""

from __future__ import annotations

import orjson

__all__ = [
    "JSON_CONTENT_TYPE",
    "WebApiError",
    "bad_request",
    "error_body",
    "not_found_record",
    "odata_error",
]

JSON_CONTENT_TYPE = "application/json; odata.metadata=minimal"

#: Codes seen in real Dataverse answers.
CODE_ODATA = "0x80060888"  # URI/OData parsing failures, unknown segments
CODE_NOT_FOUND = "0x80040217"  # record does not exist
CODE_DUPLICATE = "0x80040237"  # duplicate key / matching key values already exist
CODE_VERSION_MISMATCH = "0x80060882"  # If-Match row version differs
CODE_PAYLOAD = "0x80048d19"  # body refers to unknown properties or has wrong types
CODE_LENGTH = "0x80044331"  # string longer than the attribute's maximum length
CODE_OPTION = "0x8004431a"  # picklist value outside the option set
CODE_INVALID_ARGUMENT = "0x80040203"  # invalid argument (bad values, required attribute)
CODE_TRACKING = "0x80072491"  # change tracking not enabled / invalid delta token (unverified)
CODE_BATCH = "0x80048d0b"  # malformed or oversized $batch (unverified)

_GENERIC = {
    400: "The request is invalid.",
    401: "",
    403: "Principal user is missing privileges.",
    404: "Resource not found.",
    405: "The requested resource does not support the HTTP method.",
    412: "The precondition given in the request evaluated to false.",
    413: "The request is larger than the service accepts.",
    429: "Number of requests exceeded the limit of 6000 over time window of 300 seconds.",
    500: "An unexpected error occurred.",
    501: "The requested operation is not implemented.",
    503: "The service is temporarily unavailable. Try again later.",
}
_GENERIC_CODES = {429: "0x80072322", 500: "0x80040216", 503: "0x80040216"}


def error_body(status: int, code: str = "", message: str = "") -> tuple[bytes, str]:
    """The Dataverse JSON error body for ``status`` and its content type."""
    if not code:
        code = _GENERIC_CODES.get(status, "0x0")
    if not message:
        message = _GENERIC.get(status, "The request failed.")
    return orjson.dumps({"error": {"code": code, "message": message}}), JSON_CONTENT_TYPE


class WebApiError(Exception):
    """A failure to answer as ``status`` with a Dataverse error body."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}

    def body(self) -> bytes:
        return error_body(self.status, self.code, self.message)[0]


def bad_request(message: str, code: str = CODE_INVALID_ARGUMENT) -> WebApiError:
    return WebApiError(400, code, message)


def odata_error(message: str, status: int = 400) -> WebApiError:
    """An OData URI/query error (unknown property, syntax error)."""
    return WebApiError(status, CODE_ODATA, message)


def not_found_record(logical_name: str, record_id: str) -> WebApiError:
    return WebApiError(404, CODE_NOT_FOUND, f"{logical_name} With Id = {record_id} Does Not Exist")
