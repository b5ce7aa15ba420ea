"""Reading a CRM's successful answers: JSON decoded defensively, malformed answers told apart.

A ``2xx`` answer is not always what the protocol says: a proxy answers an HTML error page with
``200``, a connection cut short leaves an empty or truncated body, a page comes without its rows.
Such an answer raises :class:`~crmsync.errors.MalformedAnswerError`, transient (the client sends
the request again, with back-off), whose message quotes the start of what came back and its
content type.

JSON may carry text no store can hold: a lone UTF-16 surrogate (``"\\ud800"``), which the fast
decoder refuses. Such a body is decoded again by the standard library, the bad text escaped
(``\\ud800`` as six characters) and each row holding some noted under
:data:`~crmsync.connectors.base.INVALID_TEXT`: the rest of the page is kept, and that row becomes
a reject of the writer instead of stopping the read.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import orjson

from crmsync.connectors.base import INVALID_TEXT
from crmsync.connectors.http import redact_url
from crmsync.errors import MalformedAnswerError

__all__ = ["read_json"]

#: Characters of a malformed body quoted in its error message.
_SHOWN = 120


def read_json(response: httpx.Response, *, rows: str | None = None) -> dict[str, Any]:
    """The JSON object of a successful answer; with ``rows``, one holding a list of objects (the
    page's rows) under that key. Raises :class:`MalformedAnswerError` for anything else."""
    content = response.content
    try:
        data = orjson.loads(content)
    except orjson.JSONDecodeError:
        data = _decode_leniently(content)
        if data is None:
            what = "an empty body" if not content.strip() else "a body that is not JSON"
            raise _malformed(response, what) from None
    if not isinstance(data, dict):
        raise _malformed(response, f"a JSON {type(data).__name__}, not an object")
    if rows is not None:
        found = data.get(rows)
        if not isinstance(found, list) or not all(isinstance(row, dict) for row in found):
            raise _malformed(response, f"a JSON object without its '{rows}' list of rows")
    return data


def _shown_body(content: bytes) -> str:
    """The start of a body, printable and short, for messages."""
    text = content[:_SHOWN].decode("utf-8", "replace")
    shown = repr(text)
    return shown if len(content) <= _SHOWN else f"{shown}..."


def _malformed(response: httpx.Response, what: str) -> MalformedAnswerError:
    request = response.request
    kind = response.headers.get("content-type") or "no content type"
    text = (
        f"{request.method} {redact_url(request.url)} answered {response.status_code} with {what} "
        f"({kind}, {len(response.content)} bytes)"
    )
    if response.content.strip():
        text += f": {_shown_body(response.content)}"
    return MalformedAnswerError(text, status=response.status_code)


def _decode_leniently(content: bytes) -> Any:
    """``content`` decoded by the standard library (which keeps lone surrogates) with its bad
    text escaped and noted, or ``None`` when it is not JSON either."""
    try:
        data = json.loads(content.decode("utf-8", "surrogatepass"))
    except ValueError:  # UnicodeDecodeError is one
        return None
    if _mark_invalid_text(data):
        return None  # bad text outside the rows: the answer itself is unusable
    return data


def _mark_invalid_text(value: Any) -> list[str]:
    """Escape the lone surrogates in the strings of ``value`` (in place). The problems of a row
    (an object in a list) are noted in the row under :data:`INVALID_TEXT`; those outside any
    row are returned."""
    problems: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, str):
                problems += _escape_in(value, key, f"'{key}'")
            else:
                problems += (f"'{key}': {problem}" for problem in _mark_invalid_text(item))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            if isinstance(item, dict):
                found = _mark_invalid_text(item)
                if found:
                    item[INVALID_TEXT] = "; ".join(found)
            elif isinstance(item, str):
                problems += _escape_in(value, index, f"item {index}")
            else:
                problems += _mark_invalid_text(item)
    return problems


def _escape_in(container: Any, place: Any, label: str) -> list[str]:
    """Escape the lone surrogates of the string ``container[place]`` (in place); the problem,
    named ``label``, when it had any."""
    escaped = _escaped(container[place])
    if escaped is None:
        return []
    container[place] = escaped
    return [f"{label} holds a lone UTF-16 surrogate: {escaped[:60]!r}"]


def _escaped(text: str) -> str | None:
    """``text`` with its lone surrogates written as ``\\udXXX`` escapes; ``None`` if it has
    none."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return None
