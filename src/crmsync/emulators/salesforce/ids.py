"""Salesforce record ids: 15-character case-sensitive ids and their 18-character case-safe form.

An id is the object's three-character key prefix, a two-character pod identifier, a reserved
character and nine base-62 digits. The 18-character form appends three characters that encode,
for each five-character chunk of the 15-character id, which of its characters are upper case, so
that case-insensitive systems can still tell ids apart.
"""

from __future__ import annotations

import re

__all__ = ["IdGenerator", "checksum", "is_valid_id", "make_id", "normalize_id"]

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_POD = "5g0"  # pod identifier and the reserved character, as in ids seen on real instances
_ID_RE = re.compile(r"^[0-9A-Za-z]{15}(?:[A-Z0-5]{3})?$")


#: Maps each id character to "1" when it is upper case, else "0" (for :func:`checksum`).
_UPPER_BITS = str.maketrans({c: ("1" if c.isupper() else "0") for c in _BASE62})
#: All two-digit base-62 strings, so that an id takes five divisions instead of nine.
_PAIRS = [a + b for a in _BASE62 for b in _BASE62]


def checksum(id15: str) -> str:
    """The three case-safe suffix characters of a 15-character id.

    Each five-character chunk gives a five-bit number, bit *i* set when character *i* is upper
    case; the number indexes ``A``–``Z``, ``0``–``5``.
    """
    bits = id15.translate(_UPPER_BITS)
    return (
        _SUFFIX[int(bits[4::-1], 2)]
        + _SUFFIX[int(bits[9:4:-1], 2)]
        + _SUFFIX[int(bits[14:9:-1], 2)]
    )


def make_id(prefix: str, number: int) -> str:
    """The 18-character id of the ``number``-th record with key ``prefix``."""
    if len(prefix) != 3 or number < 0:
        raise ValueError("a key prefix has three characters and the number must be >= 0")
    if number >= 62**9:
        raise ValueError("id space exhausted")
    number, d4 = divmod(number, 3844)
    number, d3 = divmod(number, 3844)
    number, d2 = divmod(number, 3844)
    d0, d1 = divmod(number, 3844)
    id15 = prefix + _POD + _BASE62[d0] + _PAIRS[d1] + _PAIRS[d2] + _PAIRS[d3] + _PAIRS[d4]
    return id15 + checksum(id15)


def is_valid_id(value: str) -> bool:
    """Whether ``value`` is a well-formed 15- or 18-character id (with a correct suffix)."""
    if not _ID_RE.match(value):
        return False
    return len(value) == 15 or checksum(value[:15]) == value[15:]


def normalize_id(value: str) -> str | None:
    """The 18-character form of a well-formed id, or ``None`` when ``value`` is not one."""
    if not is_valid_id(value):
        return None
    return value if len(value) == 18 else value + checksum(value)


class IdGenerator:
    """Hands out consecutive ids per key prefix, continuing from ``counters`` (the last number
    used per prefix). Not thread-safe: the store calls it under its lock."""

    def __init__(self, counters: dict[str, int] | None = None) -> None:
        self.counters: dict[str, int] = dict(counters or {})

    def next(self, prefix: str) -> str:
        number = self.counters.get(prefix, 0) + 1
        self.counters[prefix] = number
        return make_id(prefix, number)

    def reserve(self, prefix: str, count: int) -> int:
        """Reserve ``count`` numbers at once; returns the first one (use with :func:`make_id`)."""
        first = self.counters.get(prefix, 0) + 1
        self.counters[prefix] = first + count - 1
        return first
