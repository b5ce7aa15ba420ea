"""Reading event files: CSV and JSON Lines, each line checked on its own."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from crmsync.events import read_event_file
from crmsync.events.files import parse_events
from crmsync.events.model import BounceType

CSV = b"""type,id,profile_id,delivery_id,delivery_name,occurred_at,url,bounce_type,reason
send,s-1,1,D1,Spring sale,2026-05-01T09:00:00Z,,,
open,o-1,1,D1,Spring sale,2026-05-01T10:00:00+02:00,,,
click,c-1,2,D1,,2026-05-01T10:05:00Z,https://example.test/a?b=1,,
bounce,b-1,3,D1,Spring sale,2026-05-01T09:01:00Z,,hard,"mailbox unknown, 5.1.1"
click,c-2,2,D1,,2026-05-01T10:05:00Z,,,
send,bad id!,1,D1,,2026-05-01T09:00:00Z,,,
send,s-2,1,D1,,2026-05-01T09:00:00,,,
bounce,b-2,3,D1,,2026-05-01T09:00:00Z,,bouncy,
open,o-2,x,D1,,2026-05-01T09:00:00Z,,,
send,s-3,1,D1
"""


def test_csv_keeps_good_lines_and_reports_bad_ones_by_number() -> None:
    result = parse_events(CSV, "csv")
    assert [e.id for e in result.events] == ["s-1", "o-1", "c-1", "b-1"]
    open_ = result.events[1]
    assert open_.occurred_at == datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
    bounce = result.events[3]
    assert (bounce.bounce_type, bounce.reason) == (BounceType.HARD, "mailbox unknown, 5.1.1")
    assert result.events[2].url == "https://example.test/a?b=1"
    assert result.events[2].delivery_name is None
    problems = {p.line: p.message for p in result.problems}
    assert sorted(problems) == [6, 7, 8, 9, 10, 11]
    assert "needs 'url'" in problems[6]
    assert problems[7].startswith("id:")
    assert "time zone" in problems[8]
    assert problems[9].startswith("bounce_type:")
    assert problems[10].startswith("profile_id:")
    assert "4 cell(s), the header has 9" in problems[11]


def test_csv_with_an_unknown_column_is_refused_at_line_1() -> None:
    result = parse_events(b"type,id,colour\nsend,s-1,red\n", "csv")
    assert result.events == []
    assert [(p.line, p.message.split(";")[0]) for p in result.problems] == [
        (1, "unknown column(s) colour")
    ]


def test_csv_line_numbers_count_physical_lines_of_quoted_cells() -> None:
    data = (
        b"type,id,profile_id,delivery_id,occurred_at,bounce_type,reason\n"
        b'bounce,b-1,1,D,2026-05-01T09:00:00Z,soft,"two\nlines"\n'
        b"bounce,b-2,1,D,2026-05-01T09:00:00Z,,\n"
    )
    result = parse_events(data, "csv")
    assert [e.reason for e in result.events] == ["two\nlines"]
    assert [p.line for p in result.problems] == [4]


def test_json_lines_report_bad_json_and_non_objects() -> None:
    data = (
        b'{"type":"send","id":"s-1","profile_id":1,"delivery_id":"D","occurred_at":'
        b'"2026-05-01T09:00:00Z"}\n'
        b"\n"
        b"{not json\n"
        b"[1, 2]\n"
        b'{"type":"send","id":"s-2","profile_id":1,"delivery_id":"D",'
        b'"occurred_at":"2026-05-01T09:00:00Z","colour":"red"}\n'
        b'{"type":"resubscribe","id":"u-1","profile_id":1,"delivery_id":"D",'
        b'"occurred_at":"2026-05-01T09:00:00Z"}\n'
    )
    result = parse_events(data, "jsonl")
    assert [e.id for e in result.events] == ["s-1"]
    problems = {p.line: p.message for p in result.problems}
    assert sorted(problems) == [3, 4, 5, 6]
    assert problems[3].startswith("not valid JSON")
    assert problems[4] == "expected a JSON object, got list"
    assert problems[5].startswith("colour:")
    assert problems[6].startswith("type:")


def test_detail_fields_belong_to_their_type() -> None:
    line = (
        b'{"type":"open","id":"o-1","profile_id":1,"delivery_id":"D",'
        b'"occurred_at":"2026-05-01T09:00:00Z","bounce_type":"hard"}\n'
    )
    (problem,) = parse_events(line, "jsonl").problems
    assert "for bounces, not for open events" in problem.message


def test_file_format_comes_from_the_suffix(tmp_path: Path) -> None:
    path = tmp_path / "events.ndjson"
    path.write_bytes(b"{}\n")
    assert read_event_file(path).problems[0].line == 1
    with pytest.raises(ValueError, match="cannot tell the format"):
        read_event_file(tmp_path / "events.txt")


def test_non_utf8_csv_is_one_clear_problem() -> None:
    result = parse_events(b"type,id\n\xff\xfe,x\n", "csv")
    assert [(p.line, p.message) for p in result.problems] == [(1, "the file is not UTF-8 text")]
