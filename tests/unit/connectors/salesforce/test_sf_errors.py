from __future__ import annotations

import pytest

from crmsync.connectors.salesforce.errors import (
    ApiLimitExceeded,
    error_from_response,
    parse_errors,
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

URL = "https://acme.my.salesforce.com/services/data/v62.0/query/?q=SELECT+Id+FROM+Contact"


def _body(code: str, message: str = "it failed") -> bytes:
    return f'[{{"message":"{message}","errorCode":"{code}","fields":["Name"]}}]'.encode()


@pytest.mark.parametrize(
    ("status", "body", "record", "kind"),
    [
        (
            403,
            _body("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."),
            False,
            ApiLimitExceeded,
        ),
        (
            403,
            _body("REQUEST_LIMIT_EXCEEDED", "ConcurrentPerOrgLongTxn Limit exceeded"),
            False,
            RateLimitedError,
        ),
        (503, _body("SERVER_UNAVAILABLE"), False, TransientError),
        (500, b"<html>oops</html>", False, TransientError),
        (502, b"", True, TransientError),
        (400, _body("UNABLE_TO_LOCK_ROW"), True, TransientError),
        (429, b"", False, RateLimitedError),
        (401, _body("INVALID_SESSION_ID"), False, AuthenticationError),
        (403, _body("INSUFFICIENT_ACCESS"), False, AuthenticationError),
        (400, _body("INVALID_REPLICATION_DATE"), False, ChangeTrackingExpired),
        (400, _body("MALFORMED_QUERY"), False, ConfigurationError),
        (400, _body("INVALID_FIELD"), False, ConfigurationError),
        (400, _body("INVALID_FIELD"), True, RejectError),
        (404, _body("NOT_FOUND"), True, RejectError),
        (300, b'["/services/data/v62.0/sobjects/Account/001"]', True, RejectError),
        (404, _body("NOT_FOUND"), False, FatalError),
        (418, b"{not json", False, FatalError),
    ],
)
def test_status_and_code_choose_the_branch(
    status: int, body: bytes, record: bool, kind: type[CrmsyncError]
) -> None:
    error = error_from_response(
        status, {}, body, method="GET", url=URL, table="Contact", record_operation=record
    )
    assert type(error) is kind
    assert error.status == status
    assert error.table == "Contact"
    assert "q=" not in error.message  # the query string never reaches messages


def test_daily_limit_says_what_to_do() -> None:
    error = error_from_response(
        403,
        {},
        _body("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."),
        method="GET",
        url=URL,
    )
    assert isinstance(error, FatalError)
    assert error.code == "REQUEST_LIMIT_EXCEEDED"
    assert "daily API request limit" in error.message


def test_record_rejects_carry_the_error_code() -> None:
    error = error_from_response(
        400,
        {},
        _body("REQUIRED_FIELD_MISSING", "Required fields are missing: [LastName]"),
        method="POST",
        url=URL,
        record_operation=True,
        record_id="003x",
    )
    assert isinstance(error, RejectError)
    assert error.code == "REQUIRED_FIELD_MISSING"
    assert error.record_id == "003x"
    assert "Required fields are missing" in error.message


def test_retry_after_is_read_and_bounded() -> None:
    error = error_from_response(429, {"retry-after": "99999"}, b"", method="GET", url=URL)
    assert isinstance(error, RateLimitedError)
    assert error.retry_after == 3600.0


@pytest.mark.parametrize(
    ("body", "codes"),
    [
        (b"", []),
        (b"[]", []),
        (b'{"errorCode":"X","message":"m"}', ["X"]),
        (b'[{"statusCode":"Y","message":"m"}, 5, "text"]', ["Y"]),
        (b'[{"message": null}]', [None]),
        (b"Service Unavailable", [None]),
    ],
)
def test_malformed_bodies_are_read_defensively(body: bytes, codes: list[str | None]) -> None:
    assert [e.code for e in parse_errors(body)] == codes
