"""The position of a Salesforce change-tracking round, saved by the consumer as an opaque string.

Salesforce has no delta token, so crmsync keeps its own: the keyset position in ``(cursor field,
Id)`` order, the records delivered within the overlap window (so that re-reading the window
repeats none of them), where the next delete-log window starts, and the recycle-bin deletions the
delete log has not covered yet. It is JSON, base64url-encoded behind an ``sf1.`` prefix.
"""

from __future__ import annotations

import base64
import binascii
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import datetime, timedelta
from typing import Any

import orjson

from crmsync.connectors.salesforce.soql import format_datetime, parse_datetime
from crmsync.errors import ConfigurationError

__all__ = ["MAX_SEEN", "ChangeCursor", "DeliveredWindow", "version_of"]

_CURSOR_PREFIX = "sf1."
#: At most this many ``(Id, timestamp)`` pairs are kept in a cursor; past it, the oldest records
#: of the overlap window may be delivered twice (never lost).
MAX_SEEN = 10_000


def version_of(value: Any) -> str | None:
    """A Salesforce timestamp as a sortable version string, ``None`` if it is not one."""
    if not isinstance(value, str):
        return None
    try:
        return format_datetime(parse_datetime(value))
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class ChangeCursor:
    """Where a table's change tracking stands; saved by the consumer as an opaque string.

    ``timestamp``/``last_id`` is the keyset position (the last record delivered, in
    ``(cursor field, Id)`` order); ``seen`` maps the Ids delivered within the overlap window to
    their version; ``deleted_since`` starts the next delete-log window; ``reported`` holds the
    deletions already found in the recycle bin that the delete log has not covered yet.
    """

    field: str
    timestamp: str
    last_id: str
    deleted_since: str
    seen: Mapping[str, str] = dataclass_field(default_factory=dict)
    reported: Mapping[str, str] = dataclass_field(default_factory=dict)

    def encode(self) -> str:
        body = {
            "f": self.field,
            "ts": self.timestamp,
            "id": self.last_id,
            "del": self.deleted_since,
            "seen": _by_version(self.seen),
            "rep": _by_version(self.reported),
        }
        return _CURSOR_PREFIX + base64.urlsafe_b64encode(orjson.dumps(body)).decode("ascii")

    @classmethod
    def decode(cls, text: str) -> ChangeCursor:
        if not isinstance(text, str) or not text.startswith(_CURSOR_PREFIX):
            raise ConfigurationError("the saved change cursor is not a Salesforce cursor")
        try:
            body = orjson.loads(base64.urlsafe_b64decode(text[len(_CURSOR_PREFIX) :]))
            cursor = cls(
                field=str(body["f"]),
                timestamp=str(body["ts"]),
                last_id=str(body["id"]),
                deleted_since=str(body["del"]),
                seen=_from_versions(body["seen"]),
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


def _by_version(ids: Mapping[str, str]) -> dict[str, list[str]]:
    # Grouped by version: records changed together share a timestamp, so this is compact.
    grouped: dict[str, list[str]] = {}
    for record_id, version in ids.items():
        grouped.setdefault(version, []).append(record_id)
    return grouped


def _from_versions(grouped: Mapping[str, Any]) -> dict[str, str]:
    return {str(record_id): str(version) for version, ids in grouped.items() for record_id in ids}


class DeliveredWindow:
    """The records delivered within ``overlap`` of the newest one, as the round goes."""

    def __init__(self, overlap: timedelta) -> None:
        self._overlap = overlap
        self._entries: deque[tuple[datetime, str, str]] = deque()

    def add(self, record_id: str, version: str) -> None:
        moment = parse_datetime(version)
        self._entries.append((moment, record_id, version))
        while self._entries and self._entries[0][0] < moment - self._overlap:
            self._entries.popleft()
        while len(self._entries) > MAX_SEEN:
            self._entries.popleft()

    def seen(self) -> dict[str, str]:
        return {record_id: version for _, record_id, version in self._entries}

    def __bool__(self) -> bool:
        return bool(self._entries)
