"""``crmsync events import`` and ``crmsync events status``: bad lines by number, re-import."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from crmsync.cli.main import app

LINES = (
    '{"type":"send","id":"s-1","profile_id":1,"delivery_id":"D","occurred_at":"2026-05-01T09:00:00Z"}\n'
    '{"type":"click","id":"c-1","profile_id":1,"delivery_id":"D","occurred_at":"2026-05-01T09:00:00Z"}\n'
    '{"type":"open","id":"o-1","profile_id":1,"delivery_id":"D","occurred_at":"2026-05-01T09:01:00Z"}\n'
    "oops\n"
)


def config(tmp_path: Path) -> Path:
    path = tmp_path / "crmsync.yaml"
    path.write_text(f"version: 1\nstore:\n  url: sqlite:///{tmp_path / 'store.db'}\n")
    return path


def test_import_keeps_good_lines_reports_bad_ones_and_reimport_adds_nothing(
    tmp_path: Path,
) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text(LINES)
    runner = CliRunner()
    args = ["events", "import", str(events), "--config", str(config(tmp_path)), "--json"]

    first = runner.invoke(app, args)
    assert first.exit_code == 1
    document = json.loads(first.stdout)
    assert (document["added"], document["duplicates"]) == (2, 0)
    assert [p["line"] for p in document["rejected"]] == [2, 4]
    assert "needs 'url'" in document["rejected"][0]["message"]

    again = runner.invoke(app, args)
    assert json.loads(again.stdout)["added"] == 0
    assert json.loads(again.stdout)["duplicates"] == 2

    status = runner.invoke(app, ["events", "status", "--config", str(config(tmp_path)), "--json"])
    assert status.exit_code == 0, status.output
    shown = json.loads(status.stdout)
    assert (shown["send"]["backlog"], shown["open"]["backlog"], shown["click"]["backlog"]) == (
        1,
        1,
        0,
    )
    assert shown["send"]["enabled"] is False


def test_import_prints_each_bad_line_with_file_and_number(tmp_path: Path) -> None:
    events = tmp_path / "events.csv"
    events.write_text("type,id,profile_id,delivery_id,occurred_at\nsend,s-1,1,D,yesterday\n")
    result = CliRunner().invoke(
        app, ["events", "import", str(events), "--config", str(config(tmp_path))]
    )
    assert result.exit_code == 1
    assert f"{events}:2: occurred_at:" in result.stderr
    assert "0 event(s) added, 0 already recorded, 1 line(s) refused" in result.stdout


def test_a_file_of_unknown_format_is_an_error(tmp_path: Path) -> None:
    events = tmp_path / "events.txt"
    events.write_text("x")
    result = CliRunner().invoke(
        app, ["events", "import", str(events), "--config", str(config(tmp_path))]
    )
    assert result.exit_code == 2
    assert "cannot tell the format" in result.stderr
