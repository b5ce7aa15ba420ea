"""The Salesforce change cursor: its compact encoding, older ``sf1.`` cursors, and versions
bumped for a second change within one timestamp."""

from __future__ import annotations

import base64
from datetime import timedelta

import orjson
import pytest

from crmsync.connectors.salesforce.cursor import (
    MAX_BUMP,
    ChangeCursor,
    Delivered,
    DeliveredWindow,
    bumped_version,
    content_digest,
    id_key,
)
from crmsync.connectors.salesforce.soql import parse_datetime
from crmsync.errors import ConfigurationError
from crmsync.sync.writer import version_number

STAMP = "2026-03-01T12:00:05.000Z"


def _cursor(**seen: Delivered) -> ChangeCursor:
    return ChangeCursor(
        field="SystemModstamp",
        timestamp=STAMP,
        last_id="003000000000009AAA",
        deleted_since="2026-03-01T11:59:00.000Z",
        seen={id_key(i): d for i, d in seen.items()},
        reported={"003000000000001AAA": STAMP},
    )


def test_a_cursor_survives_encoding() -> None:
    cursor = _cursor(
        a=Delivered(STAMP, content_digest({"x": 1}), 0),
        b=Delivered(STAMP, content_digest({"x": 2}), 3),
        c=Delivered("2026-03-01T12:00:01.000Z", content_digest({"x": 3}), 0),
    )
    text = cursor.encode()
    assert text.startswith("sf2.")
    assert ChangeCursor.decode(text) == cursor


def test_many_delivered_records_take_a_few_bytes_each() -> None:
    seen = {
        id_key(f"003{n:012d}AAA"): Delivered(STAMP, content_digest({"n": n}), 0)
        for n in range(10_000)
    }
    cursor = ChangeCursor("SystemModstamp", STAMP, "003x", STAMP, seen=seen)
    assert len(cursor.encode()) < 10_000 * 20
    assert ChangeCursor.decode(cursor.encode()).seen == seen


@pytest.mark.parametrize("cut", [1, 5, 14])
def test_truncated_entries_are_a_damaged_cursor(cut: int) -> None:
    text = _cursor(a=Delivered(STAMP, content_digest({}), 0)).encode()
    raw = base64.urlsafe_b64decode(text[4:])
    damaged = "sf2." + base64.urlsafe_b64encode(raw[:-cut]).decode()
    with pytest.raises(ConfigurationError, match="damaged"):
        ChangeCursor.decode(damaged)


def test_extra_bytes_or_a_bad_group_are_a_damaged_cursor() -> None:
    raw = base64.urlsafe_b64decode(_cursor().encode()[4:])
    for body in (raw + b"x", raw.replace(b'"seen":[]', b'"seen":[["soon",1]]')):
        with pytest.raises(ConfigurationError, match="damaged"):
            ChangeCursor.decode("sf2." + base64.urlsafe_b64encode(body).decode())


def test_an_sf1_cursor_is_read_with_unknown_contents() -> None:
    body = {
        "f": "SystemModstamp",
        "ts": STAMP,
        "id": "003b",
        "del": STAMP,
        "seen": {STAMP: ["003a", "003b"]},
        "rep": {},
    }
    cursor = ChangeCursor.decode("sf1." + base64.urlsafe_b64encode(orjson.dumps(body)).decode())
    assert set(cursor.seen) == {id_key("003a"), id_key("003b")}
    delivered = cursor.seen[id_key("003a")]
    assert delivered.stamp == STAMP
    assert delivered.bump == 0
    assert delivered.content not in (content_digest({}), content_digest({"Id": "003a"}))


def test_bumped_versions_order_within_and_across_timestamps() -> None:
    later = "2026-03-01T12:00:06.000Z"
    versions = [bumped_version(STAMP, n) for n in (0, 1, 2, MAX_BUMP)] + [bumped_version(later, 0)]
    assert versions[0] == "2026-03-01T12:00:05.000000Z"
    assert versions[1] == "2026-03-01T12:00:05.000001Z"
    assert versions == sorted(versions)
    numbers = [version_number(v) for v in versions]
    assert numbers == sorted(numbers)
    assert len(set(numbers)) == len(numbers)
    assert numbers[1] == numbers[0] + 1  # the store keeps the microsecond
    assert bumped_version(STAMP, MAX_BUMP + 5) == versions[3]  # never reaches the next ms


def test_content_digest_ignores_key_order_and_tells_deletions_apart() -> None:
    assert content_digest({"a": 1, "b": "x"}) == content_digest({"b": "x", "a": 1})
    assert content_digest({"a": 1}) != content_digest({"a": 2})
    assert content_digest({"a": 1}) != content_digest({"a": 1}, deleted=True)


def test_the_window_keeps_the_overlap_and_at_most_max_seen(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    window = DeliveredWindow(timedelta(seconds=60))
    start = parse_datetime(STAMP)
    for n, offset in enumerate((0, 30, 61, 62)):
        stamp = (start + timedelta(seconds=offset)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        window.add(id_key(str(n)), Delivered(stamp, b"abcd", 0))
    assert set(window.seen()) == {id_key("1"), id_key("2"), id_key("3")}
    monkeypatch.setattr("crmsync.connectors.salesforce.cursor.MAX_SEEN", 2)
    window.add(id_key("4"), Delivered("2026-03-01T12:01:08.000Z", b"abcd", 0))
    assert set(window.seen()) == {id_key("3"), id_key("4")}
