"""``crmsync config apply|export|diff|history``, the notice of commands given a file that differs
from the active revision, and ``crmsync run``'s two answers to such a file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from crmsync.cli.main import app
from crmsync.workflows import open_active_config

runner = CliRunner()

SECRET = "never-in-a-revision"
BASE = """version: 1
connections:
  dynamics:
    kind: dataverse
    url: https://127.0.0.1:9
    authority: https://127.0.0.1:9/tenant
    client_id: 6f1c2d4e-0000-4000-8000-0000000000a1
    client_secret_env: CONFIG_TEST_SECRET
store:
  url: sqlite:///store.db
"""
POLL = BASE + "optinout:\n  poll_interval_seconds: 7\n"
#: A change to a section every workflow reads (not one a workflow's revisions own).
QUEUE = BASE + "queue:\n  path: elsewhere.db\n"


@pytest.fixture
def path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CONFIG_TEST_SECRET", SECRET)
    made = tmp_path / "crmsync.yaml"
    made.write_text(BASE, encoding="utf-8")
    open_active_config(made).close()  # seeds every workflow with BASE
    return made


def _edit(
    path: Path, workflow: str, text: str, *, activate: bool = True, author: str = "olga"
) -> int:
    """An edit made through the console: a revision by olga."""
    with open_active_config(path) as active:
        revision = active.revisions.propose(workflow, text, author=author, note="console edit")
        if activate:
            active.activate([workflow])
        return revision.id


def test_diff_apply_and_the_pending_revisions(path: Path) -> None:
    same = runner.invoke(app, ["config", "diff", str(path)])
    assert same.exit_code == 0, same.output
    assert "is the active configuration" in same.stdout
    path.write_text(POLL, encoding="utf-8")
    differs = runner.invoke(app, ["config", "diff", str(path), "--workflow", "optinout"])
    assert differs.exit_code == 1
    assert "optinout (active revision 3 by file" in differs.stdout
    assert "+  poll_interval_seconds: 7" in differs.stdout
    assert "inbound" not in differs.stdout
    # optinout's own section: the other workflows' revisions do not hold it.
    every = runner.invoke(app, ["config", "diff", str(path)])
    assert every.exit_code == 1
    assert "optinout (active revision 3 by file" in every.stdout
    assert "inbound (" not in every.stdout
    assert "outbound (" not in every.stdout
    # Without --yes and no one to ask, nothing is applied.
    asked = runner.invoke(app, ["config", "apply", str(path)])
    assert asked.exit_code == 1
    assert "give --yes" in asked.stderr
    applied = runner.invoke(app, ["config", "apply", str(path), "--yes"])
    assert applied.exit_code == 0, applied.output
    assert "+  poll_interval_seconds: 7" in applied.stderr
    assert "optinout: pending revision 4 (2 line(s) added, 0 removed)" in applied.stderr
    assert "inbound: pending" not in applied.stderr
    assert "outbound: pending" not in applied.stderr
    with open_active_config(path) as active:
        pending = active.revisions.pending("optinout")
        assert pending is not None
        assert (pending.author, pending.yaml) == ("file", POLL)
        assert active.config("optinout").optinout.poll_interval_seconds != 7
    again = runner.invoke(app, ["config", "apply", str(path), "--yes"])
    assert again.exit_code == 0
    assert "is the configuration of every workflow already" in again.stderr


def test_export_writes_the_revision_the_console_made(path: Path, tmp_path: Path) -> None:
    _edit(path, "optinout", POLL)
    printed = runner.invoke(app, ["config", "export", "--config", str(path), "-w", "optinout"])
    assert printed.exit_code == 0, printed.output
    assert printed.stdout == POLL
    assert SECRET not in printed.stdout  # a revision names where the secret is, never its value
    # Without --workflow, the whole configuration: optinout's section from its revision.
    whole = runner.invoke(app, ["config", "export", "--config", str(path)])
    assert whole.exit_code == 0, whole.output
    assert yaml.safe_load(whole.stdout) == yaml.safe_load(POLL)
    assert SECRET not in whole.stdout
    written = runner.invoke(app, ["config", "export", "-c", str(path), "--output", str(path)])
    assert written.exit_code == 0, written.output
    assert yaml.safe_load(path.read_text(encoding="utf-8")) == yaml.safe_load(POLL)
    diff = runner.invoke(app, ["config", "diff", str(path)])
    assert diff.exit_code == 0, diff.output
    unknown = runner.invoke(app, ["config", "export", "-c", str(path), "-w", "inbond"])
    assert unknown.exit_code == 1
    assert "--workflow: 'inbond' is not a workflow" in unknown.stderr


def test_export_pending_and_history(path: Path) -> None:
    edit = _edit(path, "outbound", POLL, activate=False)
    active = runner.invoke(app, ["config", "export", "-c", str(path), "-w", "outbound"])
    assert active.stdout == BASE
    export = ["config", "export", "-c", str(path), "-w", "outbound"]
    pending = runner.invoke(app, [*export, "--pending"])
    assert pending.stdout == POLL
    listed = runner.invoke(app, ["config", "history", "-c", str(path), "--json"])
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.stdout)
    assert [(r["id"], r["workflow"], r["state"], r["author"]) for r in rows] == [
        (edit, "outbound", "pending", "olga"),
        (3, "optinout", "active", "file"),
        (2, "outbound", "active", "file"),
        (1, "inbound", "active", "file"),
    ]
    only = runner.invoke(app, ["config", "history", "-c", str(path), "-w", "inbound", "--json"])
    assert [r["id"] for r in json.loads(only.stdout)] == [1]
    unknown = runner.invoke(app, ["config", "history", "-c", str(path), "-w", "inbond"])
    assert unknown.exit_code == 1
    assert "--workflow: 'inbond' is not a workflow" in unknown.stderr


def test_a_command_given_a_differing_file_says_so_once_on_stderr(path: Path) -> None:
    edit = _edit(path, "optinout", POLL)
    done = runner.invoke(app, ["status", "--config", str(path), "--json"])
    assert done.exit_code == 0, done.output
    json.loads(done.stdout)  # stdout stays the document
    notices = [line for line in done.stderr.splitlines() if line.startswith("notice:")]
    assert len(notices) == 1
    assert f"optinout (active revision {edit} by olga" in notices[0]
    assert f"crmsync config apply {path}" in notices[0]
    assert f"crmsync config export --config {path} --output {path}" in notices[0]
    # events status uses outbound only, whose active revision is the file: nothing to say.
    quiet = runner.invoke(app, ["events", "status", "--config", str(path), "--json"])
    assert quiet.exit_code == 0, quiet.output
    assert quiet.stderr == ""


def test_run_fast_forwards_a_file_nobody_edited_over(path: Path) -> None:
    path.write_text(QUEUE, encoding="utf-8")
    done = runner.invoke(app, ["run", "--config", str(path), "--once", "--no-progress"])
    assert done.exit_code == 0, done.output
    assert f"{path} applied as revision 4 of inbound (2 line(s) added, 0 removed)" in done.stderr
    assert f"{path} applied as revision 6 of optinout (2 line(s) added, 0 removed)" in done.stderr
    assert "optinout: revision 6 (configuration file" in done.stderr
    assert "is now active" in done.stderr
    with open_active_config(path) as active:
        assert active.differences() == []
        assert active.revision("optinout").author == "file"


def test_run_refuses_a_file_that_differs_from_a_console_edit(path: Path) -> None:
    edit = _edit(path, "inbound", BASE + "inbound:\n  poll_interval_seconds: 3\n")
    path.write_text(POLL, encoding="utf-8")
    done = runner.invoke(app, ["run", "--config", str(path), "--once", "--no-progress"])
    assert done.exit_code == 1
    said = " ".join(done.stderr.split())  # as wrapped to the terminal's width
    assert "edited through the API or the console" in said
    assert f"inbound (active revision {edit} by olga" in said
    assert f"crmsync config apply {path}" in said
    assert f"crmsync config export --config {path} --output {path}" in said
    with open_active_config(path) as active:
        assert active.revision("inbound").id == edit
        assert active.revisions.pending("optinout") is None
    # A pending console edit is activated by run, as a start under serve does.
    path.write_text(BASE, encoding="utf-8")
    waiting = _edit(path, "inbound", BASE, activate=False)
    done = runner.invoke(app, ["run", "--config", str(path), "--once", "--no-progress"])
    assert done.exit_code == 0, done.output
    assert f"inbound: revision {waiting} (console edit) is now active" in done.stderr


def test_apply_refuses_a_file_that_moves_the_store(path: Path) -> None:
    with open_active_config(path) as active:
        moved = BASE.replace("store.db", "/elsewhere/store.db")
        active.revisions.propose("inbound", moved, author="file", note="copied")
        active.activate(["inbound"])
    path.write_text(POLL, encoding="utf-8")
    refused = runner.invoke(app, ["config", "apply", str(path), "--yes"])
    assert refused.exit_code == 1
    assert "store: a configuration revision cannot move the store" in refused.stderr
    with open_active_config(path) as active:
        assert active.revisions.pending("optinout") is None


def test_export_composes_every_workflows_edits_into_one_file_run_takes(path: Path) -> None:
    inbound = BASE + "inbound:\n  poll_interval_seconds: 3\n"
    _edit(path, "inbound", inbound, author="console")
    outbound = BASE + "outbound:\n  connection: dynamics\n  events:\n    send: true\n"
    _edit(path, "outbound", outbound, author="console")
    exported = runner.invoke(app, ["config", "export", "-c", str(path), "-o", str(path)])
    assert exported.exit_code == 0, exported.output
    assert exported.stderr.strip() == f"wrote {path}"
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert document == yaml.safe_load(BASE) | {
        "inbound": {"poll_interval_seconds": 3},
        "outbound": {"connection": "dynamics", "events": {"send": True}},
    }
    diff = runner.invoke(app, ["config", "diff", str(path)])
    assert diff.exit_code == 0, diff.output
    assert "is the active configuration" in diff.stdout
    # run takes the file as it is (nothing to apply, nothing refused) and starts the workflows:
    # outbound, switched on, then finds no CRM at this address.
    done = runner.invoke(app, ["run", "--config", str(path), "--once", "--no-progress"])
    said = " ".join(done.stderr.split())
    assert "edited through the API or the console" not in said
    assert "applied as revision" not in said
    assert "run failed: cannot use the token authority https://127.0.0.1:9/tenant" in said


def test_a_console_edit_of_inbound_is_noticed_for_inbound_only(path: Path) -> None:
    edit = _edit(path, "inbound", BASE + "inbound:\n  poll_interval_seconds: 3\n")
    done = runner.invoke(app, ["status", "--config", str(path), "--json"])
    assert done.exit_code == 0, done.output
    notices = [line for line in done.stderr.splitlines() if line.startswith("notice:")]
    assert len(notices) == 1
    notice = notices[0]
    assert f"differs from the active configuration of inbound (active revision {edit} by olga" in (
        notice
    )
    assert ") in inbound.poll_interval_seconds: " in notice
    assert "outbound (" not in notice
    assert "optinout (" not in notice
    for command in (["events", "status"], ["optout", "log"]):
        quiet = runner.invoke(app, [*command, "--config", str(path), "--json"])
        assert quiet.exit_code == 0, quiet.output
        assert quiet.stderr == ""


def test_export_pending_composes_the_pending_revisions(path: Path) -> None:
    _edit(path, "inbound", BASE + "inbound:\n  poll_interval_seconds: 3\n", activate=False)
    _edit(path, "optinout", POLL, activate=False)
    active = runner.invoke(app, ["config", "export", "-c", str(path)])
    assert active.exit_code == 0, active.output
    assert active.stdout == BASE  # every workflow's active revision is the seeded file
    pending = runner.invoke(app, ["config", "export", "-c", str(path), "--pending"])
    assert pending.exit_code == 0, pending.output
    assert yaml.safe_load(pending.stdout) == yaml.safe_load(BASE) | {
        "inbound": {"poll_interval_seconds": 3},
        "optinout": {"poll_interval_seconds": 7},
    }
