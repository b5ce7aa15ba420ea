"""``crmsync resources publish`` on each store publishes the resources of inbound's active
revision (an edit made through the API or the console), says when the file differs, and its
``--dry-run`` reads the history without adding to it."""

from __future__ import annotations

import json
from pathlib import Path

import sqlalchemy as sa
from publish_support import write_config
from typer.testing import CliRunner

from crmsync.cli.main import app
from crmsync.workflows import Revision, open_active_config

#: The resource an admin adds through the console.
ADDED = """\
  - name: membership
    identifier: crm_id
    fields:
      - {name: crm_id, type: string, length: 36}
"""


def _add_in_the_console(config: Path, *, activate: bool) -> Revision:
    """An admin adds the resource in the console (and inbound starts, when ``activate``)."""
    text = config.read_text(encoding="utf-8")
    with open_active_config(config) as active:
        edit = active.history.propose("inbound", text + ADDED, author="olga", note="console")
        if activate:
            active.activate(["inbound"])
    return edit


def _publish(config: Path, *options: str) -> tuple[int, str, str]:
    done = CliRunner().invoke(
        app, ["resources", "publish", "--config", str(config), "--json", *options]
    )
    return done.exit_code, done.stdout, done.stderr


def test_publish_uses_the_active_revision_and_a_dry_run_adds_no_revision(
    tmp_path: Path, store_location: tuple[str, str | None], store_engine: sa.Engine
) -> None:
    config = write_config(tmp_path, store_location)
    edit = _add_in_the_console(config, activate=True)

    code, stdout, stderr = _publish(config, "--dry-run")
    assert code == 0, stderr
    planned = [(c["kind"], c["table"]) for c in json.loads(stdout)["changes"]]
    assert ("create_table", "membership") in planned
    assert f"inbound (active revision {edit.id} by olga" in stderr
    with open_active_config(config) as active:
        before = active.history.history()
    assert "membership" not in sa.inspect(store_engine).get_table_names()

    code, stdout, stderr = _publish(config)
    assert code == 0, stderr
    assert json.loads(stdout)["applied"] is True
    assert {"membership", "subscription"} <= set(sa.inspect(store_engine).get_table_names())
    assert stderr.startswith("notice:")
    with open_active_config(config) as active:
        assert active.history.history() == before


def test_publish_pending_publishes_an_edit_before_the_start_that_activates_it(
    tmp_path: Path, store_location: tuple[str, str | None], store_engine: sa.Engine
) -> None:
    config = write_config(tmp_path, store_location)
    _add_in_the_console(config, activate=False)
    code, stdout, stderr = _publish(config)
    assert code == 0, stderr
    assert "membership" not in sa.inspect(store_engine).get_table_names()
    code, stdout, stderr = _publish(config, "--pending")
    assert code == 0, stderr
    assert ("create_table", "membership") in [
        (c["kind"], c["table"]) for c in json.loads(stdout)["changes"]
    ]
    assert "membership" in sa.inspect(store_engine).get_table_names()
