"""OData v4 ``$batch`` codec: the ``multipart/mixed`` framing of batch requests and responses.

A batch body is a list of parts. Each part is either one HTTP request (``Content-Type:
application/http``) or a *change set*: a nested ``multipart/mixed`` part whose requests succeed or
fail together. The answer mirrors that shape with full HTTP responses. Both directions are here,
because the emulator decodes requests and encodes responses while the connector does the opposite.

Headers are returned as plain ``dict[str, str]`` with **lower-case keys** on decode (HTTP header
names are case-insensitive); on encode they are written exactly as given. Lines end with CRLF on
output; a bare LF is accepted on input.

The framing is written by hand: the stdlib ``email`` parser decodes bodies as text and rewrites
line endings (which corrupts binary bodies and the CRLF the protocol requires), and
``python-multipart`` parses ``multipart/form-data`` fields, not nested ``application/http`` parts.

This module checks the *format* only. Protocol rules that need an answer in the service's own
words (at most 1,000 requests, no ``GET`` inside a change set, ``$n`` references) are left to the
caller.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from http import HTTPStatus

__all__ = [
    "BatchFormatError",
    "BatchItem",
    "BatchRequest",
    "BatchResponse",
    "BatchResponseItem",
    "ChangeSet",
    "ChangeSetResponse",
    "decode_requests",
    "decode_responses",
    "encode_requests",
    "encode_responses",
]

#: Default ceiling on parts (requests plus change-set members) accepted by the decoders; a guard
#: against absurd inputs, far above the 1,000 operations a real batch may carry.
DEFAULT_MAX_PARTS = 10_000
#: Header lines allowed in one part (MIME headers or inner HTTP headers).
_MAX_HEADER_LINES = 200
#: RFC 2046: a boundary is 1 to 70 characters from this set (space allowed except at the end).
_BOUNDARY_RE = re.compile(r"[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]")
_TOKEN_RE = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_CRLF = b"\r\n"
_BLANK_LINE_RE = re.compile(rb"\r?\n\r?\n")


class BatchFormatError(ValueError):
    """A batch body (or a value to encode) does not follow the multipart batch format."""


@dataclass(slots=True)
class BatchRequest:
    """One HTTP request inside a batch. ``url`` is as written (absolute, relative or ``$n``)."""

    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    content_id: str | None = None


@dataclass(slots=True)
class ChangeSet:
    """Requests that the service applies atomically, in order."""

    requests: list[BatchRequest]


BatchItem = BatchRequest | ChangeSet


@dataclass(slots=True)
class BatchResponse:
    """One HTTP response inside a batch answer; ``content_id`` echoes the request's."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    content_id: str | None = None


@dataclass(slots=True)
class ChangeSetResponse:
    """The responses of one change set, in request order."""

    responses: list[BatchResponse]


BatchResponseItem = BatchResponse | ChangeSetResponse


# --------------------------------------------------------------------------------------- encode


def encode_requests(items: Sequence[BatchItem], boundary: str | None = None) -> tuple[bytes, str]:
    """Encode a batch request body; returns ``(body, value of the Content-Type header)``."""
    boundary = _checked_boundary(boundary or f"batch_{uuid.uuid4()}")
    parts: list[bytes] = []
    for item in items:
        if isinstance(item, ChangeSet):
            inner = _checked_boundary(f"changeset_{uuid.uuid4()}")
            members = [_request_part(request) for request in item.requests]
            parts.append(_nested_part(inner, members))
        else:
            parts.append(_request_part(item))
    return _frame(boundary, parts), f'multipart/mixed; boundary="{boundary}"'


def encode_responses(
    items: Sequence[BatchResponseItem], boundary: str | None = None
) -> tuple[bytes, str]:
    """Encode a batch response body; returns ``(body, value of the Content-Type header)``."""
    boundary = _checked_boundary(boundary or f"batchresponse_{uuid.uuid4()}")
    parts: list[bytes] = []
    for item in items:
        if isinstance(item, ChangeSetResponse):
            inner = _checked_boundary(f"changesetresponse_{uuid.uuid4()}")
            members = [_response_part(response) for response in item.responses]
            parts.append(_nested_part(inner, members))
        else:
            parts.append(_response_part(item))
    return _frame(boundary, parts), f"multipart/mixed; boundary={boundary}"


def _request_part(request: BatchRequest) -> bytes:
    method = request.method.upper()
    if not _TOKEN_RE.fullmatch(method):
        raise BatchFormatError(f"invalid HTTP method {request.method!r}")
    if not request.url or any(ch.isspace() for ch in request.url):
        raise BatchFormatError(f"invalid request URL {request.url!r}: empty or has whitespace")
    head = f"{method} {request.url} HTTP/1.1".encode()
    return _http_part(head, request.headers, request.body, request.content_id)


def _response_part(response: BatchResponse) -> bytes:
    if not 100 <= response.status <= 999:
        raise BatchFormatError(f"invalid HTTP status {response.status}")
    try:
        reason = HTTPStatus(response.status).phrase
    except ValueError:
        reason = ""
    head = f"HTTP/1.1 {response.status} {reason}".rstrip().encode()
    return _http_part(head, response.headers, response.body, response.content_id)


def _http_part(
    start_line: bytes, headers: dict[str, str], body: bytes, content_id: str | None
) -> bytes:
    mime = {"Content-Type": "application/http", "Content-Transfer-Encoding": "binary"}
    if content_id is not None:
        mime["Content-ID"] = content_id
    return b"".join(
        (_header_block(mime), _CRLF, start_line, _CRLF, _header_block(headers), _CRLF, body)
    )


def _nested_part(boundary: str, members: list[bytes]) -> bytes:
    head = _header_block({"Content-Type": f"multipart/mixed; boundary={boundary}"})
    return head + _CRLF + _frame(boundary, members, final_newline=False)


def _frame(boundary: str, parts: list[bytes], *, final_newline: bool = True) -> bytes:
    delimiter = b"--" + boundary.encode()
    out: list[bytes] = []
    for part in parts:
        if delimiter in part:
            raise BatchFormatError(f"a part contains the boundary {boundary!r}; choose another")
        out += (delimiter, _CRLF, part, _CRLF)
    out += (delimiter, b"--", _CRLF if final_newline else b"")
    return b"".join(out)


def _header_block(headers: dict[str, str]) -> bytes:
    lines: list[bytes] = []
    for name, value in headers.items():
        if not _TOKEN_RE.fullmatch(name):
            raise BatchFormatError(f"invalid header name {name!r}")
        if "\r" in value or "\n" in value:
            raise BatchFormatError(f"header {name!r} has a line break in its value")
        lines.append(f"{name}: {value}\r\n".encode())
    return b"".join(lines)


def _checked_boundary(boundary: str) -> str:
    if not _BOUNDARY_RE.fullmatch(boundary):
        raise BatchFormatError(
            f"invalid multipart boundary {boundary!r}: 1-70 letters, digits or '()+_,-./:=?"
        )
    return boundary


# --------------------------------------------------------------------------------------- decode


def decode_requests(
    body: bytes, content_type: str, *, max_parts: int = DEFAULT_MAX_PARTS
) -> list[BatchItem]:
    """Decode a batch request body.

    Raises :class:`BatchFormatError` naming the part and what is wrong when the body is not a
    well-formed batch, or holds more than ``max_parts`` parts.
    """
    budget = _Budget(max_parts)
    items: list[BatchItem] = []
    for index, part in enumerate(_split(body, content_type, "the batch"), start=1):
        where = f"part {index} of the batch"
        kind, mime, content = _read_part(part, where, allow_nested=True)
        if kind == "nested":
            changeset_where = f"change set in {where}"
            requests: list[BatchRequest] = []
            for sub_index, sub in enumerate(_split(content, mime["content-type"], changeset_where)):
                sub_where = f"part {sub_index + 1} of the {changeset_where}"
                _, sub_mime, sub_content = _read_part(sub, sub_where, allow_nested=False)
                budget.spend(sub_where)
                requests.append(_parse_request(sub_mime, sub_content, sub_where))
            items.append(ChangeSet(requests))
        else:
            budget.spend(where)
            items.append(_parse_request(mime, content, where))
    return items


def decode_responses(
    body: bytes, content_type: str, *, max_parts: int = DEFAULT_MAX_PARTS
) -> list[BatchResponseItem]:
    """Decode a batch response body (the inverse of :func:`encode_responses`).

    Raises :class:`BatchFormatError` naming the part and what is wrong.
    """
    budget = _Budget(max_parts)
    items: list[BatchResponseItem] = []
    for index, part in enumerate(_split(body, content_type, "the batch response"), start=1):
        where = f"part {index} of the batch response"
        kind, mime, content = _read_part(part, where, allow_nested=True)
        if kind == "nested":
            changeset_where = f"change set in {where}"
            responses: list[BatchResponse] = []
            for sub_index, sub in enumerate(_split(content, mime["content-type"], changeset_where)):
                sub_where = f"part {sub_index + 1} of the {changeset_where}"
                _, sub_mime, sub_content = _read_part(sub, sub_where, allow_nested=False)
                budget.spend(sub_where)
                responses.append(_parse_response(sub_mime, sub_content, sub_where))
            items.append(ChangeSetResponse(responses))
        else:
            budget.spend(where)
            items.append(_parse_response(mime, content, where))
    return items


class _Budget:
    __slots__ = ("left", "limit")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.left = limit

    def spend(self, where: str) -> None:
        self.left -= 1
        if self.left < 0:
            raise BatchFormatError(f"too many parts: {where} is beyond the limit of {self.limit}")


def boundary_of(content_type: str) -> str:
    """The boundary parameter of a ``multipart/mixed`` Content-Type value (quoted or not)."""
    media_type, _, params = content_type.partition(";")
    if media_type.strip().lower() != "multipart/mixed":
        raise BatchFormatError(
            f"expected Content-Type multipart/mixed, got {media_type.strip()[:80]!r}"
        )
    for param in params.split(";"):
        key, sep, value = param.partition("=")
        if sep and key.strip().lower() == "boundary":
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            if not _BOUNDARY_RE.fullmatch(value):
                raise BatchFormatError(f"invalid multipart boundary {value[:80]!r}")
            return value
    raise BatchFormatError("Content-Type multipart/mixed has no boundary parameter")


def _split(body: bytes, content_type: str, where: str) -> list[bytes]:
    """The parts between ``--boundary`` lines, without the line break that precedes each line."""
    boundary = boundary_of(content_type)
    delimiter = re.compile(rb"^--" + re.escape(boundary.encode()) + rb"(--)?[ \t]*\r?$", re.M)
    parts: list[bytes] = []
    start: int | None = None
    for match in delimiter.finditer(body):
        if start is not None:
            parts.append(_strip_line_break(body[start : match.start()]))
        if match.group(1):
            return parts
        end = match.end()
        start = end + 1 if body[end : end + 1] == b"\n" else end
    if start is None:
        raise BatchFormatError(f"{where}: no delimiter line --{boundary} found in the body")
    raise BatchFormatError(f"{where} is truncated: the closing delimiter --{boundary}-- is missing")


def _strip_line_break(content: bytes) -> bytes:
    if content.endswith(b"\r\n"):
        return content[:-2]
    if content.endswith(b"\n"):
        return content[:-1]
    return content


def _read_part(part: bytes, where: str, *, allow_nested: bool) -> tuple[str, dict[str, str], bytes]:
    """Split a MIME part into its kind (``http`` or ``nested``), its headers and its content."""
    head, content = _split_head(part)
    if head is None:
        raise BatchFormatError(f"{where}: no blank line after the part headers")
    mime = _parse_headers(head, where)
    content_type = mime.get("content-type")
    if content_type is None:
        raise BatchFormatError(f"{where}: the part has no Content-Type header")
    media_type = content_type.partition(";")[0].strip().lower()
    if media_type == "multipart/mixed":
        if not allow_nested:
            raise BatchFormatError(f"{where}: change sets cannot be nested")
        return "nested", mime, content
    if media_type != "application/http":
        raise BatchFormatError(
            f"{where}: Content-Type must be application/http or multipart/mixed, "
            f"got {content_type[:80]!r}"
        )
    encoding = mime.get("content-transfer-encoding", "binary").strip().lower()
    if encoding not in ("binary", "8bit", "7bit"):
        raise BatchFormatError(f"{where}: unsupported Content-Transfer-Encoding {encoding[:40]!r}")
    return "http", mime, content


def _split_head(data: bytes) -> tuple[bytes | None, bytes]:
    """Headers and body split at the first blank line; ``None`` headers when there is none."""
    if data.startswith(b"\r\n"):
        return b"", data[2:]
    if data.startswith(b"\n"):
        return b"", data[1:]
    match = _BLANK_LINE_RE.search(data)
    if match is None:
        return None, b""
    # Keep the first line break with the headers' last line; the second one ends the block.
    return data[: match.start()], data[match.end() :]


def _parse_headers(block: bytes, where: str) -> dict[str, str]:
    headers: dict[str, str] = {}
    if not block:
        return headers
    lines = block.split(b"\n")
    if len(lines) > _MAX_HEADER_LINES:
        raise BatchFormatError(f"{where}: more than {_MAX_HEADER_LINES} header lines")
    for raw in lines:
        line = _decode_text(raw.removesuffix(b"\r"), where)
        name, sep, value = line.partition(":")
        if not sep or not _TOKEN_RE.fullmatch(name):
            raise BatchFormatError(f"{where}: malformed header line {line[:80]!r}")
        headers[name.lower()] = value.strip()
    return headers


def _parse_start(content: bytes, where: str) -> tuple[str, dict[str, str], bytes]:
    """The start line, headers and body of an embedded HTTP message."""
    if not content.strip():
        raise BatchFormatError(f"{where}: the part holds no HTTP message")
    head, body = _split_head(content)
    if head is None:  # headers run to the end of the part: a message without a body
        head, body = content.rstrip(b"\r\n"), b""
    first, _, rest = head.partition(b"\n")
    return _decode_text(first.removesuffix(b"\r"), where), _parse_headers(rest, where), body


def _parse_request(mime: dict[str, str], content: bytes, where: str) -> BatchRequest:
    start, headers, body = _parse_start(content, where)
    words = start.split(" ")
    if len(words) != 3 or not _TOKEN_RE.fullmatch(words[0]) or not words[1]:
        raise BatchFormatError(
            f"{where}: malformed request line {start[:80]!r}; expected 'METHOD URL HTTP/1.1'"
        )
    if not words[2].startswith("HTTP/"):
        raise BatchFormatError(f"{where}: request line {start[:80]!r} does not end with HTTP/x.y")
    content_id = mime.get("content-id", headers.get("content-id"))
    return BatchRequest(words[0].upper(), words[1], headers, body, content_id)


def _parse_response(mime: dict[str, str], content: bytes, where: str) -> BatchResponse:
    start, headers, body = _parse_start(content, where)
    version, _, rest = start.partition(" ")
    code = rest.partition(" ")[0]
    if not version.startswith("HTTP/") or not (len(code) == 3 and code.isdigit()):
        raise BatchFormatError(
            f"{where}: malformed status line {start[:80]!r}; expected 'HTTP/1.1 NNN Reason'"
        )
    content_id = mime.get("content-id", headers.get("content-id"))
    return BatchResponse(int(code), headers, body, content_id)


def _decode_text(raw: bytes, where: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BatchFormatError(f"{where}: header text is not valid UTF-8") from None
