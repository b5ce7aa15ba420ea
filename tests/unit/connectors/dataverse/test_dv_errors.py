from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from crmsync.connectors.dataverse.errors import (
    DEFAULT_RETRY_AFTER,
    error_from_response,
    parse_error_body,
    parse_retry_after,
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

URL = "https://org.example.com/api/data/v9.2/contacts?$deltatoken=SECRETISH"


def _body(code: str, message: str) -> bytes:
    return orjson.dumps({"error": {"code": code, "message": message}})


def _map(status: int, body: bytes = b"", record: bool = False, **headers: str) -> CrmsyncError:
    return error_from_response(
        status,
        {k.lower().replace("_", "-"): v for k, v in headers.items()},
        body,
        method="PATCH",
        url=URL,
        table="contact",
        record_id="abc",
        record_operation=record,
    )


@pytest.mark.parametrize(
    ("status", "record", "expected"),
    [
        (400, True, RejectError),
        (404, True, RejectError),
        (412, True, RejectError),
        (413, True, RejectError),
        (400, False, FatalError),
        (404, False, FatalError),
        (405, True, FatalError),
        (501, False, TransientError),
        (500, False, TransientError),
        (502, True, TransientError),
        (503, False, TransientError),
        (408, False, TransientError),
        (401, False, AuthenticationError),
        (403, True, AuthenticationError),
        (429, True, RateLimitedError),
    ],
)
def test_status_decides_the_branch(status: int, record: bool, expected: type) -> None:
    error = _map(status, _body("0x80040217", "contact With Id = abc Does Not Exist"), record)
    assert type(error) is expected
    assert error.status == status
    assert error.table == "contact"
    assert error.record_id == "abc"
    assert error.code == "0x80040217"
    assert "Does Not Exist" in error.message


def test_rate_limit_reads_retry_after() -> None:
    error = _map(429, _body("0x80072322", "Number of requests exceeded"), retry_after="17")
    assert isinstance(error, RateLimitedError)
    assert error.retry_after == 17.0


def test_message_names_the_url_without_its_query() -> None:
    error = _map(400, _body("0x0", "bad"))
    assert "PATCH https://org.example.com/api/data/v9.2/contacts" in error.message
    assert "SECRETISH" not in error.message


@pytest.mark.parametrize(
    "body",
    [b"", b"<html>Bad gateway</html>", b"[1,2]", b'{"error": "text"}', b'{"error": {}}', b"\xff"],
)
def test_malformed_error_bodies_still_give_status(body: bytes) -> None:
    error = _map(400, body, record=True)
    assert isinstance(error, RejectError)
    assert "400" in error.message
    assert error.code is None


def test_non_json_body_is_quoted_in_the_message() -> None:
    code, message = parse_error_body(b"<html>Bad gateway</html>")
    assert code is None
    assert message is not None
    assert "Bad gateway" in message


def test_empty_code_is_none() -> None:
    assert parse_error_body(_body("", "contact With Id = x Does Not Exist")) == (
        None,
        "contact With Id = x Does Not Exist",
    )


@pytest.mark.parametrize(
    "message",
    [
        "Version stamp associated with the client has expired. Please perform a full sync.",
        "The delta token has expired.",
        "The $deltatoken is no longer valid",
    ],
)
def test_expired_delta_token_is_recognised(message: str) -> None:
    assert isinstance(_map(400, _body("0x80072491", message)), ChangeTrackingExpired)


def test_expired_code_alone_is_enough() -> None:
    assert isinstance(_map(400, _body("0x80044352", "whatever")), ChangeTrackingExpired)


def test_tracking_disabled_is_a_configuration_error() -> None:
    error = _map(400, _body("0x80072491", "Entity contact is not enabled for change tracking."))
    assert isinstance(error, ConfigurationError)
    assert "enable change tracking" in error.message


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, DEFAULT_RETRY_AFTER),
        ("", DEFAULT_RETRY_AFTER),
        ("3", 3.0),
        ("0.5", 0.5),
        ("-4", 0.0),
        ("nan", DEFAULT_RETRY_AFTER),
        ("999999", 3600.0),
        ("soon", DEFAULT_RETRY_AFTER),
        ("Wed, 21 Oct 2015 07:28:10 GMT", 10.0),
    ],
)
def test_retry_after_parsing(value: str | None, expected: float) -> None:
    now = datetime(2015, 10, 21, 7, 28, 0, tzinfo=UTC)
    assert parse_retry_after(value, now=now) == pytest.approx(expected)


def test_redact_url() -> None:
    assert redact_url(URL) == "https://org.example.com/api/data/v9.2/contacts"
