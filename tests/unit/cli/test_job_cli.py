"""``crmsync job validate`` and ``crmsync option get|set`` from the command line."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from crmsync.cli.main import app

runner = CliRunner()


def test_validate_reports_path_and_line(tmp_path: Path) -> None:
    job = tmp_path / "job.yaml"
    job.write_text("name: j\nsteps:\n  a:\n    kind: wait\n    seconds: 1\n    next: b\n")
    result = runner.invoke(app, ["job", "validate", str(job)])
    assert result.exit_code == 1
    assert f"{job}:6: steps.a.next: no step named 'b'" in result.output
    job.write_text("name: j\nsteps:\n  a:\n    kind: wait\n    seconds: 1\n")
    result = runner.invoke(app, ["job", "validate", str(job)])
    assert result.exit_code == 0
    assert "valid" in result.output


def test_options_round_trip_and_format_check(tmp_path: Path) -> None:
    config = tmp_path / "crmsync.yaml"
    config.write_text(f"version: 1\nstore:\n  url: sqlite:///{tmp_path / 'store.db'}\n")
    name = "LASTIMPORT_job_step"
    bad = runner.invoke(app, ["option", "set", name, "2024-01-01", "-c", str(config)])
    assert bad.exit_code == 1
    assert "yyyy/MM/dd hh:mm:ss" in bad.output
    assert runner.invoke(app, ["option", "get", name, "-c", str(config)]).exit_code == 1
    ok = runner.invoke(app, ["option", "set", name, "2024/01/01 10:00:00", "-c", str(config)])
    assert ok.exit_code == 0, ok.output
    got = runner.invoke(app, ["option", "get", name, "-c", str(config)])
    assert got.output.strip() == "2024/01/01 10:00:00"


def test_show_unknown_run(tmp_path: Path) -> None:
    config = tmp_path / "crmsync.yaml"
    config.write_text(f"version: 1\nstore:\n  url: sqlite:///{tmp_path / 'store.db'}\n")
    result = runner.invoke(app, ["job", "show", "nope", "-c", str(config)])
    assert result.exit_code == 1
    assert "no job run 'nope'" in result.output


def test_a_connection_missing_from_the_configuration_is_reported_and_nothing_runs(
    tmp_path: Path,
) -> None:
    config = tmp_path / "crmsync.yaml"
    config.write_text(f"version: 1\nstore:\n  url: sqlite:///{tmp_path / 'store.db'}\n")
    job = tmp_path / "job.yaml"
    job.write_text(
        "name: j\nsteps:\n  read:\n    kind: crm\n    operation: import\n"
        "    connection: dynamics\n    object: contact\n    fields: [{name: lastname}]\n"
    )
    alone = runner.invoke(app, ["job", "validate", str(job)])
    assert alone.exit_code == 0, alone.output  # no configuration given: connections unchecked
    expected = f"{job}:6: steps.read.connection: no connection named 'dynamics'"
    checked = runner.invoke(app, ["job", "validate", str(job), "-c", str(config)])
    assert checked.exit_code == 1
    assert expected in checked.output
    ran = runner.invoke(app, ["job", "run", str(job), "-c", str(config)])
    assert ran.exit_code == 1
    assert expected in ran.output
    listed = runner.invoke(app, ["job", "list", "--json", "-c", str(config)])
    assert json.loads(listed.stdout) == []
