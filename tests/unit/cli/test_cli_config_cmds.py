from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from crmsync.cli.main import app
from crmsync.config import STARTER_CONFIG, check_config_text

runner = CliRunner()

DV_CONNECTION = (
    "connections:\n"
    "  dv:\n"
    "    kind: dataverse\n"
    "    url: https://org.crm.dynamics.com\n"
    "    tenant_id: tenant\n"
    "    client_id: app\n"
    "    client_secret_env: DV_SECRET\n"
)


def test_init_writes_the_starter_and_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "crmsync.yaml"
    result = runner.invoke(app, ["init", "--path", str(path)])
    assert result.exit_code == 0, result.output
    assert path.read_text(encoding="utf-8") == STARTER_CONFIG
    path.write_text("# mine\n", encoding="utf-8")
    refused = runner.invoke(app, ["init", "--path", str(path)])
    assert refused.exit_code == 1
    assert "--force" in refused.output
    assert path.read_text(encoding="utf-8") == "# mine\n"
    assert runner.invoke(app, ["init", "--path", str(path), "--force"]).exit_code == 0
    assert path.read_text(encoding="utf-8") == STARTER_CONFIG


def test_validate_accepts_the_starter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRMSYNC_DYNAMICS_SECRET", "x")
    path = tmp_path / "crmsync.yaml"
    path.write_text(STARTER_CONFIG, encoding="utf-8")
    result = runner.invoke(app, ["validate", "--config", str(path)])
    assert result.exit_code == 0, result.output
    assert "valid" in result.output


def test_validate_lists_every_error_as_json(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    bad = STARTER_CONFIG.replace("campaign: first_name", "campaign: frist_name").replace(
        "connection: dynamics\n      crm_table: contact",
        "connection: dyn\n      crm_table: contact",
    )
    lines = bad.splitlines()
    connection_line = lines.index("      connection: dyn") + 1
    field_line = next(n for n, text in enumerate(lines, 1) if "frist_name" in text)
    path.write_text(bad, encoding="utf-8")
    result = runner.invoke(app, ["validate", "--config", str(path), "--json"])
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert report["valid"] is False
    errors = [i for i in report["issues"] if i["severity"] == "error"]
    assert {(i["path"], i["line"]) for i in errors} == {
        ("inbound.mappings[0].connection", connection_line),
        ("inbound.mappings[0].fields[1].campaign", field_line),
    }
    assert any("did you mean 'first_name'?" in i["message"] for i in errors)


def test_validate_for_people_shows_paths(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("store:\n  url: mysql://x/y\n", encoding="utf-8")
    result = runner.invoke(app, ["validate", "--config", str(path)], terminal_width=200)
    assert result.exit_code == 1
    assert "store.url" in result.output
    assert "invalid: 1 error(s)" in result.output


def test_validate_missing_file(tmp_path: Path) -> None:
    result = runner.invoke(app, ["validate", "--config", str(tmp_path / "none.yaml"), "--json"])
    assert result.exit_code == 1
    assert "cannot read" in result.output


def test_init_for_a_local_emulator(tmp_path: Path) -> None:
    path = tmp_path / "crmsync.yaml"
    ca = tmp_path / "ca.pem"
    result = runner.invoke(
        app,
        [
            "init",
            "--path",
            str(path),
            "--emulator",
            "https://127.0.0.1:8443",
            "--ca-bundle",
            str(ca),
        ],
    )
    assert result.exit_code == 0, result.output
    text = path.read_text(encoding="utf-8")
    assert "    url: https://127.0.0.1:8443\n" in text
    assert "    authority: https://127.0.0.1:8443/" in text
    assert f"    ca_bundle: {ca.resolve()}   #" in text
    report = check_config_text(text, environ={"CRMSYNC_DYNAMICS_SECRET": "x"})
    assert not [issue for issue in report.issues if issue.is_error], report.issues
    refused = runner.invoke(
        app, ["init", "--path", str(tmp_path / "b.yaml"), "--emulator", "http://127.0.0.1:8443"]
    )
    assert refused.exit_code == 2
    assert "https" in refused.output


@pytest.mark.parametrize("style", ["flow", "block"])
@pytest.mark.parametrize("command", ["validate", "run"])
def test_a_deeply_nested_file_is_a_located_error(tmp_path: Path, style: str, command: str) -> None:
    """Python's stack is no limit of the file: the nesting is refused at its line."""
    path = tmp_path / "deep.yaml"
    if style == "flow":
        path.write_text("resources: " + "[" * 50_000 + "]" * 50_000 + "\n", encoding="utf-8")
        line = 1
    else:
        levels = "".join("  " * depth + "- a:\n" for depth in range(3_000))
        path.write_text("resources:\n" + levels, encoding="utf-8")
        line = 51  # each line opens a list and a mapping: the 101st level is on line 51
    bad = STARTER_CONFIG.replace("campaign: first_name", "campaign: frist_name")
    assert "frist_name" in bad  # the same exit code as any other invalid file:
    (tmp_path / "bad.yaml").write_text(bad, encoding="utf-8")
    wide = {"COLUMNS": "400"}
    invalid = runner.invoke(app, [command, "--config", str(tmp_path / "bad.yaml")], env=wide)
    result = runner.invoke(app, [command, "--config", str(path)], env=wide)
    assert result.exit_code == invalid.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    text = " ".join(result.output.split())
    assert f"nested too deeply at line {line}" in text
    assert "Traceback" not in result.output


def test_validate_reports_schema_and_rule_problems_in_one_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DV_SECRET", raising=False)
    path = tmp_path / "bad.yaml"
    path.write_text(
        DV_CONNECTION + "colour: red\n"
        "store:\n"
        "  url: ftp://somewhere\n"
        "inbound:\n"
        "  mappings:\n"
        "    - name: contacts\n"
        "      connection: dv\n"
        "      crm_table: contact\n"
        "      resource: profile\n"
        "      primary_key: {campaign: external_id}\n"
        "      fields:\n"
        "        - {crm: emailaddress1, campaign: emial}\n",
        encoding="utf-8",
    )
    result = runner.invoke(app, ["validate", "--config", str(path), "--json"])
    assert result.exit_code == 1, result.output
    found = {
        (issue["line"], issue["severity"], issue["path"]): issue["message"]
        for issue in json.loads(result.output)["issues"]
    }
    assert found.keys() == {
        (8, "error", "colour"),
        (10, "error", "store.url"),
        (19, "error", "inbound.mappings[0].fields[0].campaign"),
        (7, "warning", "connections.dv.client_secret_env"),
    }
    assert "did you mean 'email'?" in str(
        found[19, "error", "inbound.mappings[0].fields[0].campaign"]
    )


def test_validate_checks_the_other_mappings_beside_one_in_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        DV_CONNECTION + "inbound:\n"
        "  mappings:\n"
        "    - name: contacts\n"
        "      connection: dv\n"
        "      crm_table: contact\n"
        "      primary_key: {campaign: external_id}\n"
        "    - name: leads\n"
        "      connection: dvv\n"
        "      crm_table: lead\n"
        "      resource: profile\n"
        "      primary_key: {campaign: external_id}\n",
        encoding="utf-8",
    )
    result = runner.invoke(
        app, ["validate", "--config", str(path), "--json"], env={"DV_SECRET": "s"}
    )
    assert result.exit_code == 1, result.output
    found = [
        (issue["line"], issue["path"], issue["message"])
        for issue in json.loads(result.output)["issues"]
    ]
    assert found == [
        (10, "inbound.mappings[0].resource", "required, but missing"),
        (15, "inbound.mappings[1].connection", "unknown connection 'dvv' (did you mean 'dv'?)"),
    ]
