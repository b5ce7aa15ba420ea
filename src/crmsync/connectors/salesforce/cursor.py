"""The position of a Salesforce change-tracking round, saved by the consumer as an opaque string.

Salesforce has no delta token, so crmsync keeps its own: the keyset position in ``(cursor field,
Id)`` order, what was delivered within the overlap window (so that re-reading the window repeats
nothing, yet a second change within the same second is noticed), where the next delete-log window
starts, and the recycle-bin deletions the delete log has not covered yet.

What was delivered is remembered compactly, 14 bytes per record: a hash of its Id, a hash of the
values read, and how many distinct contents were delivered for that ``(Id, timestamp)`` before
(the version bump, see :func:`bumped_version`). A bulk change of many thousands of records within
one overlap window then fits in a cursor of a few hundred kilobytes.

Encoding: ``sf2.`` then base64url of a JSON header, a newline, and the delivered entries (grouped
by timestamp, in the order the header lists the groups). ``sf1.`` cursors (Ids in clear, no
content hashes) are still read: their records count as delivered with unknown content, so a
re-read delivers each once more, which the consumer's version guard makes harmless.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import datetime, timedelta
from typing import Any, NamedTuple

import orjson

from crmsync.connectors.salesforce.soql import format_datetime, parse_datetime
from crmsync.errors import ConfigurationError

__all__ = [
    "MAX_SEEN",
    "ChangeCursor",
    "Delivered",
    "DeliveredWindow",
    "bumped_version",
    "content_digest",
    "id_key",
    "version_of",
]

_PREFIX_V1 = "sf1."
_PREFIX = "sf2."
_ID_BYTES = 8
_CONTENT_BYTES = 4
_BUMP_BYTES = 2
_ENTRY = _ID_BYTES + _CONTENT_BYTES + _BUMP_BYTES
#: The content digest of records remembered from an ``sf1.`` cursor (content unknown).
_UNKNOWN = bytes(_CONTENT_BYTES)
#: Versions carry microseconds: the bump must stay below the next millisecond.
MAX_BUMP = 999
#: At most this many records are remembered in a cursor (about 1.9 MB once encoded). Past it, the
#: oldest records of an open overlap window may be delivered again (never lost), and only until
#: the org's clock is ``overlap_seconds`` past the position and the window closes.
MAX_SEEN = 100_000


def version_of(value: Any) -> str | None:
    """A Salesforce timestamp as ``YYYY-MM-DDThh:mm:ss.sssZ``, ``None`` if it is not one."""
    if not isinstance(value, str):
        return None
    try:
        return format_datetime(parse_datetime(value))
    except ValueError:
        return None


def bumped_version(stamp: str, bump: int) -> str:
    """``Record.version`` for a record stamped ``stamp`` (``…ss.sssZ``) delivered with ``bump``
    other contents of the same stamp before it: ``…ss.sssuuuZ`` with the bump as microseconds.

    Salesforce stamps are whole milliseconds (whole seconds for ``SystemModstamp``), so a bumped
    version sorts above every earlier delivery of that stamp and below any later stamp.
    """
    return f"{stamp[:-1]}{min(bump, MAX_BUMP):03d}Z"


def id_key(record_id: str) -> bytes:
    """The short hash under which a delivered record is remembered."""
    return hashlib.blake2b(record_id.encode(), digest_size=_ID_BYTES).digest()


def content_digest(values: Mapping[str, Any], *, deleted: bool = False) -> bytes:
    """A short hash of the values read (and whether the record is deleted), to tell a second
    change within one timestamp apart. ``values`` leave out ``IsDeleted``, which only some
    queries select."""
    # Sorted keys: the same values hash the same whatever order the answer listed them in.
    data = orjson.dumps([deleted, values], option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
    return hashlib.blake2b(data, digest_size=_CONTENT_BYTES).digest()


class Delivered(NamedTuple):
    """What was last delivered of a record: its timestamp, a digest of its values, and its bump
    (how many other contents of that same timestamp were delivered before)."""

    stamp: str
    content: bytes
    bump: int


@dataclass(frozen=True, slots=True)
class ChangeCursor:
    """Where a table's change tracking stands; saved by the consumer as an opaque string.

    ``timestamp``/``last_id`` is the keyset position (the last record delivered, in
    ``(cursor field, Id)`` order); ``seen`` maps :func:`id_key` of the records delivered within
    the overlap window to what was delivered; ``deleted_since`` starts the next delete-log window;
    ``reported`` holds the deletions already found in the recycle bin that the delete log has not
    covered yet (Id → timestamp).
    """

    field: str
    timestamp: str
    last_id: str
    deleted_since: str
    seen: Mapping[bytes, Delivered] = dataclass_field(default_factory=dict)
    reported: Mapping[str, str] = dataclass_field(default_factory=dict)

    def encode(self) -> str:
        groups: dict[str, list[bytes]] = {}
        for key, (stamp, content, bump) in self.seen.items():
            entry = key + content + min(bump, MAX_BUMP).to_bytes(_BUMP_BYTES, "big")
            groups.setdefault(stamp, []).append(entry)
        header = {
            "f": self.field,
            "ts": self.timestamp,
            "id": self.last_id,
            "del": self.deleted_since,
            "seen": [[stamp, len(entries)] for stamp, entries in groups.items()],
            "rep": _by_version(self.reported),
        }
        # orjson escapes newlines inside strings, so the first newline ends the header.
        body = orjson.dumps(header) + b"\n" + b"".join(e for g in groups.values() for e in g)
        return _PREFIX + base64.urlsafe_b64encode(body).decode("ascii")

    @classmethod
    def decode(cls, text: str) -> ChangeCursor:
        if not isinstance(text, str) or not text.startswith((_PREFIX, _PREFIX_V1)):
            raise ConfigurationError("the saved change cursor is not a Salesforce cursor")
        try:
            raw = base64.urlsafe_b64decode(text[len(_PREFIX) :])
            if text.startswith(_PREFIX_V1):
                body = orjson.loads(raw)
                seen = _from_v1(body["seen"])
            else:
                head, _, entries = raw.partition(b"\n")
                body = orjson.loads(head)
                seen = _from_entries(body["seen"], entries)
            cursor = cls(
                field=str(body["f"]),
                timestamp=str(body["ts"]),
                last_id=str(body["id"]),
                deleted_since=str(body["del"]),
                seen=seen,
                reported=_from_versions(body.get("rep", {})),
            )
            parse_datetime(cursor.timestamp)
            parse_datetime(cursor.deleted_since)
        except (
            binascii.Error,
            orjson.JSONDecodeError,
            KeyError,
            TypeError,
            AttributeError,
            ValueError,
        ):
            raise ConfigurationError("the saved Salesforce change cursor is damaged") from None
        return cursor


def _from_entries(groups: Any, entries: bytes) -> dict[bytes, Delivered]:
    if not isinstance(groups, list):
        raise TypeError("seen")
    seen: dict[bytes, Delivered] = {}
    offset = 0
    for stamp, count in groups:
        if not isinstance(stamp, str) or not isinstance(count, int) or count < 0:
            raise TypeError("seen")
        parse_datetime(stamp)
        for _ in range(count):
            entry = entries[offset : offset + _ENTRY]
            if len(entry) != _ENTRY:
                raise ValueError("seen")
            offset += _ENTRY
            key = entry[:_ID_BYTES]
            content = entry[_ID_BYTES : _ID_BYTES + _CONTENT_BYTES]
            bump = int.from_bytes(entry[_ID_BYTES + _CONTENT_BYTES :], "big")
            seen[key] = Delivered(stamp, content, bump)
    if offset != len(entries):
        raise ValueError("seen")
    return seen


def _from_v1(grouped: Mapping[str, Any]) -> dict[bytes, Delivered]:
    return {
        id_key(str(i)): Delivered(str(v), _UNKNOWN, 0) for i, v in _from_versions(grouped).items()
    }


def _by_version(ids: Mapping[str, str]) -> dict[str, list[str]]:
    # Grouped by version: records changed together share a timestamp, so this is compact.
    grouped: dict[str, list[str]] = {}
    for record_id, version in ids.items():
        grouped.setdefault(version, []).append(record_id)
    return grouped


def _from_versions(grouped: Mapping[str, Any]) -> dict[str, str]:
    return {str(record_id): str(version) for version, ids in grouped.items() for record_id in ids}


class DeliveredWindow:
    """The records read within ``overlap`` of the newest one, as the round goes (at most
    :data:`MAX_SEEN`, the oldest forgotten first)."""

    def __init__(self, overlap: timedelta) -> None:
        self._overlap = overlap
        self._entries: deque[tuple[datetime, bytes, Delivered]] = deque()

    def add(self, key: bytes, delivered: Delivered) -> None:
        moment = parse_datetime(delivered.stamp)
        self._entries.append((moment, key, delivered))
        while self._entries and self._entries[0][0] < moment - self._overlap:
            self._entries.popleft()
        while len(self._entries) > MAX_SEEN:
            self._entries.popleft()

    def seen(self) -> dict[bytes, Delivered]:
        return {key: delivered for _, key, delivered in self._entries}

    def __bool__(self) -> bool:
        return bool(self._entries)
