"""Successful answers read defensively: malformed ones told apart, bad text noted on its row."""

from __future__ import annotations

import httpx
import pytest

from crmsync.connectors.answers import read_json
from crmsync.connectors.base import INVALID_TEXT
from crmsync.errors import MalformedAnswerError, TransientError

URL = "https://org.example.com/api/data/v9.2/contacts?$skiptoken=secret"


def answer(content: bytes, content_type: str | None = "application/json") -> httpx.Response:
    headers = {"Content-Type": content_type} if content_type else {}
    return httpx.Response(200, content=content, headers=headers, request=httpx.Request("GET", URL))


def test_a_page_is_read_as_is() -> None:
    assert read_json(answer(b'{"value":[{"a":1}]}'), rows="value") == {"value": [{"a": 1}]}


@pytest.mark.parametrize(
    ("content", "rows", "said"),
    [
        (
            b"<html>" + b"x" * 300,
            None,
            "a body that is not JSON (text/html, 306 bytes): '<html>xxx",
        ),
        (b"", None, "an empty body (text/html, 0 bytes)"),
        (b"  \n", None, "an empty body (text/html, 3 bytes)"),
        (b'{"value":[{"a', "value", "a body that is not JSON"),
        (b'"text"', None, "a JSON str, not an object"),
        (b'{"records":[]}', "value", "a JSON object without its 'value' list of rows"),
        (b'{"value":[[1]]}', "value", "a JSON object without its 'value' list of rows"),
    ],
)
def test_a_malformed_answer_says_what_came_back(
    content: bytes, rows: str | None, said: str
) -> None:
    with pytest.raises(MalformedAnswerError) as caught:
        read_json(answer(content, "text/html"), rows=rows)
    assert isinstance(caught.value, TransientError)
    message = caught.value.message
    assert message.startswith(
        "GET https://org.example.com/api/data/v9.2/contacts answered 200 with "
    )
    assert said in message
    assert "secret" not in message
    assert len(message) < 300  # a short prefix of the body, never all of it


def test_lone_surrogates_escaped_or_raw_are_noted_on_their_rows() -> None:
    escaped = b'{"value":[{"id":"1","name":"a\\ud800"},{"id":"2","name":"ok"}]}'
    raw = '{"value":[{"id":"1","name":"a\ud800"},{"id":"2","name":"ok"}]}'.encode(
        "utf-8", "surrogatepass"
    )
    for content in (escaped, raw):
        bad, good = read_json(answer(content), rows="value")["value"]
        assert bad == {
            "id": "1",
            "name": "a\\ud800",
            INVALID_TEXT: "'name' holds a lone UTF-16 surrogate: 'a\\\\ud800'",
        }
        assert good == {"id": "2", "name": "ok"}


def test_other_invalid_utf8_is_not_json() -> None:
    with pytest.raises(MalformedAnswerError, match="not JSON"):
        read_json(answer(b'{"value":[{"name":"\xff"}]}'), rows="value")
