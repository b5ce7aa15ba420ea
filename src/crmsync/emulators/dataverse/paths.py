"""Web API resource paths: ``contacts``, ``contacts(<guid>)``, ``accounts(accountnumber='A')``.

Key predicates are parsed here by hand because they are tiny and quoted strings may contain
``/``, ``,``, ``=`` and doubled quotes (``'O''Bryan'``), which naive splitting gets wrong.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from crmsync.emulators.dataverse.errors import odata_error

__all__ = ["KeyValue", "Segment", "parse_segment", "split_path"]

KeyValue = str | int | float
GUID_RE = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)
_NAME_RE = re.compile(r"^[A-Za-z_$][A-Za-z0-9_.$]*$")
_NUMBER_RE = re.compile(r"^-?\d+(\.\d+)?$")


@dataclass(frozen=True, slots=True)
class Segment:
    """One path segment: a name and, when it has parentheses, its key."""

    name: str
    #: ``None`` without parentheses; a GUID string for ``(guid)``; a dict for ``(a='x',b=1)``.
    key: str | dict[str, KeyValue] | None = None


def _syntax_error(text: str) -> Exception:
    return odata_error(f"Bad Request - Error in query syntax. The key in '{text}' is not valid.")


def split_path(path: str) -> list[str]:
    """Split on ``/`` outside quoted strings; empty segments are dropped."""
    segments: list[str] = []
    current: list[str] = []
    quoted = False
    for char in path:
        if char == "'":
            quoted = not quoted
        if char == "/" and not quoted:
            if current:
                segments.append("".join(current))
            current = []
        else:
            current.append(char)
    if current:
        segments.append("".join(current))
    return segments


def _split_top(text: str, separator: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    for char in text:
        if char == "'":
            quoted = not quoted
        if char == separator and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    if quoted:
        raise ValueError("unterminated string")
    parts.append("".join(current))
    return parts


def _value(text: str) -> KeyValue:
    text = text.strip()
    if len(text) >= 2 and text[0] == "'" and text[-1] == "'":
        inner = text[1:-1]
        if re.search(r"(?<!')'(?!')", inner.replace("''", "")):
            raise ValueError("stray quote")
        return inner.replace("''", "'")
    if GUID_RE.match(text):
        return text.lower()
    if _NUMBER_RE.match(text):
        return float(text) if "." in text else int(text)
    raise ValueError(f"bad key value {text!r}")


def parse_segment(text: str) -> Segment:
    """Parse ``name`` or ``name(key)``; a malformed key → 400."""
    if "(" not in text:
        if not _NAME_RE.match(text):
            raise odata_error(f"Resource not found for the segment '{text}'.", 404)
        return Segment(text)
    if not text.endswith(")"):
        raise _syntax_error(text)
    name, _, inner = text[:-1].partition("(")
    if not _NAME_RE.match(name):
        raise odata_error(f"Resource not found for the segment '{name}'.", 404)
    try:
        parts = _split_top(inner, ",")
        if (
            len(parts) == 1
            and "=" not in _split_top(parts[0], "=")[0].strip("'")
            and (len(_split_top(parts[0], "=")) == 1)
        ):
            value = _value(parts[0])
            if not isinstance(value, str) or not GUID_RE.match(value):
                raise ValueError("a single key value must be a GUID")
            return Segment(name, value)
        key: dict[str, Any] = {}
        for part in parts:
            pieces = _split_top(part, "=")
            if len(pieces) != 2 or not _NAME_RE.match(pieces[0].strip()):
                raise ValueError("expected name=value")
            key[pieces[0].strip()] = _value(pieces[1])
    except ValueError:
        raise _syntax_error(text) from None
    if not key:
        raise _syntax_error(text)
    return Segment(name, key)
