from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from crmsync.cli.main import app
from crmsync.workflows import open_active_config

runner = CliRunner()

CONFIG = """\
store:
  url: sqlite:///{db}
resources:
  - name: subscription
    identifier: crm_id
    fields:
      - {{name: crm_id, type: string, length: 36}}
{extra}
"""


def write(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "crmsync.yaml"
    path.write_text(CONFIG.format(db=tmp_path / "store.db", extra=extra), encoding="utf-8")
    return path


def publish(path: Path, *options: str) -> tuple[int, str]:
    result = runner.invoke(
        app, ["resources", "publish", "--config", str(path), *options], terminal_width=200
    )
    return result.exit_code, result.output


def test_dry_run_then_publish_then_no_op(tmp_path: Path) -> None:
    path = write(tmp_path)
    code, output = publish(path, "--dry-run")
    assert code == 0
    assert "create table subscription" in output
    assert "dry run" in output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["crmsync.yaml"]
    code, output = publish(path)
    assert (code, "published" in output) == (0, True)
    code, output = publish(path, "--json")
    assert code == 0
    assert json.loads(output) == {"applied": True, "changes": []}


def test_destructive_change_is_refused_then_forced(tmp_path: Path) -> None:
    path = write(tmp_path, "      - {name: level, type: string}")
    assert publish(path)[0] == 0
    path = write(tmp_path)
    # The active revision is published, not the file: it still has the column.
    code, output = publish(path, "--json")
    assert code == 0
    assert json.loads(output.split("\n", 1)[1]) == {"applied": True, "changes": []}
    assert "notice:" in output
    with open_active_config(path) as active:
        active.fast_forward()  # what the next start of the workflows does
    code, output = publish(path)
    assert code == 3
    assert "drop column subscription.level" in output
    assert "--force" in output
    code, output = publish(path, "--force", "--json")
    assert code == 0
    (change,) = json.loads(output)["changes"]
    assert change["kind"] == "drop_column"
    assert change["destructive"] is True


def test_invalid_configuration_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path, "      - {name: Level, type: string}")
    code, output = publish(path)
    assert code == 1
    assert "resources[0].fields[1].name" in output
