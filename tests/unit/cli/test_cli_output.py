"""Tables and progress bars keep every cell whole at 80 columns, on a terminal or off one."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
import yaml
from rich.console import Console
from typer.testing import CliRunner

import crmsync.cli
from crmsync.cli.main import app
from crmsync.cli.output import Table, cli_console
from crmsync.sync.progress import RichProgress

runner = CliRunner()
#: An import of Rich's own table, which cuts its cells.
RICH_TABLE = re.compile(r"from rich\.table import .*\bTable\b")

#: Longer than any column an 80-column table could give it.
LONG = "contacts_of_every_country_and_every_region_with_their_emails"

NARROW = {"COLUMNS": "80", "CRMSYNC_TEST_SECRET": "s3cret"}


def config(folder: Path, *, field: str = "first_name") -> Path:
    """A configuration with one inbound mapping named :data:`LONG`."""
    document = {
        "version": 1,
        "connections": {
            "dynamics": {
                "kind": "dataverse",
                "url": "https://127.0.0.1:9",
                "authority": "https://127.0.0.1:9/tenant",
                "client_id": "6f1c2d4e-0000-4000-8000-0000000000a1",
                "client_secret_env": "CRMSYNC_TEST_SECRET",
            }
        },
        "store": {"url": f"sqlite:///{folder / 'store.db'}"},
        "queue": {"kind": "sqlite", "path": str(folder / "queue.db")},
        "inbound": {
            "mappings": [
                {
                    "name": LONG,
                    "connection": "dynamics",
                    "crm_table": "contact",
                    "resource": "profile",
                    "primary_key": {"campaign": "external_id"},
                    "fields": [{"crm": "firstname", "campaign": field}],
                }
            ]
        },
    }
    path = folder / "crmsync.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


def test_status_shows_a_long_mapping_name_whole(tmp_path: Path) -> None:
    shown = runner.invoke(app, ["status", "-c", str(config(tmp_path))], env=NARROW)
    assert shown.exit_code == 0, shown.output
    assert LONG in shown.stdout
    assert "…" not in shown.stdout


def test_the_validate_report_shows_long_paths_and_problems_whole(tmp_path: Path) -> None:
    checked = runner.invoke(app, ["validate", "-c", str(config(tmp_path, field=LONG))], env=NARROW)
    assert checked.exit_code == 1
    assert "inbound.mappings[0].fields[0].campaign" in checked.stdout
    assert f"'{LONG}'" in checked.stdout
    assert "…" not in checked.stdout


def test_job_list_shows_a_long_job_name_and_its_dates_whole(tmp_path: Path) -> None:
    settings = tmp_path / "settings.yaml"
    settings.write_text(f"version: 1\nstore:\n  url: sqlite:///{tmp_path / 'store.db'}\n")
    job = tmp_path / "job.yaml"
    job.write_text(f"name: {LONG}\nsteps:\n  wait:\n    kind: wait\n    seconds: 0\n")
    ran = runner.invoke(app, ["job", "run", str(job), "-c", str(settings)], env=NARROW)
    assert ran.exit_code == 0, ran.output
    listed = runner.invoke(app, ["job", "list", "-c", str(settings)], env=NARROW)
    assert listed.exit_code == 0, listed.output
    assert LONG in listed.stdout
    assert "succeeded" in listed.stdout
    assert "…" not in listed.stdout


def test_off_a_terminal_the_width_is_not_the_80_columns_of_COLUMNS(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    console = cli_console()
    assert not console.is_terminal
    assert console.width > 1000


def test_on_a_narrow_terminal_a_long_cell_folds_instead_of_being_cut() -> None:
    out = io.StringIO()
    console = Console(file=out, width=40, force_terminal=True, color_system=None)
    table = Table("mapping", "read")
    table.add_row(LONG, "12")
    console.print(table)
    cells = [line.split("│")[1].strip() for line in out.getvalue().splitlines() if "│" in line]
    assert "".join(cells) == LONG
    assert "…" not in out.getvalue()


def test_progress_bars_keep_a_long_mapping_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    out = io.StringIO()
    console = cli_console(stderr=True)
    console.file = out
    bars = RichProgress([LONG], console)
    bars.read(LONG, 5)
    bars.close()
    assert LONG in out.getvalue()
    assert "…" not in out.getvalue()


def test_progress_bars_fold_a_long_mapping_name_in_narrow_columns() -> None:
    out = io.StringIO()
    bars = RichProgress([LONG], Console(file=out, width=60, color_system=None))
    bars.read(LONG, 123_456)
    bars.close()
    lines = out.getvalue().splitlines()
    assert "…" not in out.getvalue()
    assert "123,456" in out.getvalue()
    assert "".join(line[2:].split(" ")[0] for line in lines) == LONG


def test_every_command_prints_through_the_uncut_console() -> None:
    """A Rich console or table made directly would cut at 80 columns again off a terminal."""
    cli = Path(crmsync.cli.__file__).parent
    direct = [
        f"{path.name}:{number}"
        for path in sorted(cli.glob("*.py"))
        if path.name != "output.py"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if "Console(" in line or RICH_TABLE.match(line)
    ]
    assert direct == []
