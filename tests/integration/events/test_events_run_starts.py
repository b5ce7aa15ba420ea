"""``crmsync events run`` and ``crmsync optout run`` start their workflow as ``crmsync run`` does,
on each CRM and each store: the file fast-forwarded when nobody edited the revision it differs
from, a pending console edit activated, a file that differs from an active console edit refused.
Each starts its own workflow only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from events_support import ENV, Crm, config_data
from typer.testing import CliRunner

from crmsync.cli.main import app
from crmsync.workflows import open_active_config

EMAIL_OPT_OUT = {"dataverse": "donotbulkemail", "salesforce": "HasOptedOutOfEmail"}


def _text(
    crm: Crm, folder: Path, store: tuple[str, str | None], max_columns: int, poll: float = 0.1
) -> str:
    data: dict[str, Any] = config_data(crm, folder)
    data["store"] = {"url": store[0]} | ({"pg_schema": store[1]} if store[1] else {})
    # The guardrails are shared: a change there differs from every workflow's revision.
    data["guardrails"] = {"max_columns": max_columns}
    data["optinout"] = {
        "direction": "campaign_to_crm",
        "connection": "crm",
        "poll_interval_seconds": poll,
        "mappings": [{"crm": EMAIL_OPT_OUT[crm.kind], "campaign": "optout_email"}],
    }
    return yaml.safe_dump(data, sort_keys=False)


def _run(command: str, config: Path) -> tuple[int, str]:
    done = CliRunner(env=ENV).invoke(app, [command, "run", "--config", str(config), "--once"])
    return done.exit_code, " ".join(done.stderr.split())


def test_events_run_and_optout_run_start_their_workflow_as_crmsync_run_does(
    crm: Crm, tmp_path: Path, store_location: tuple[str, str | None]
) -> None:
    config = tmp_path / "crmsync.yaml"
    first = _text(crm, tmp_path, store_location, 50)
    config.write_text(first, encoding="utf-8")
    published = CliRunner(env=ENV).invoke(app, ["resources", "publish", "--config", str(config)])
    assert published.exit_code == 0, published.output
    open_active_config(config).close()  # seeded with the first file

    second = _text(crm, tmp_path, store_location, 40)
    config.write_text(second, encoding="utf-8")
    code, said = _run("events", config)
    assert code == 0, said
    with open_active_config(config) as active:
        applied = active.revision("outbound")
        assert (applied.author, active.difference("outbound")) == ("file", None)
        # events run starts outbound only: optinout still runs on its revision.
        assert active.difference("optinout") is not None
    assert f"{config} applied as revision {applied.id} of outbound" in said
    assert (
        f"outbound: revision {applied.id} (configuration file {config} run) is now active" in said
    )

    code, said = _run("optout", config)
    assert code == 0, said
    assert "of optinout" in said
    with open_active_config(config) as active:
        assert [d.workflow for d in active.differences()] == ["inbound"]
        # A console edit of optinout's own section, the file holding it too.
        edited = _text(crm, tmp_path, store_location, 40, poll=0.2)
        waiting = active.history.propose("optinout", edited, author="olga", note="console edit")
    config.write_text(edited, encoding="utf-8")
    # A pending console edit is activated by the start, as crmsync run does.
    code, said = _run("optout", config)
    assert code == 0, said
    assert f"optinout: revision {waiting.id} (console edit) is now active" in said

    # An edit made in the console is never overwritten by a run: the file lacks it.
    config.write_text(second, encoding="utf-8")
    code, said = _run("optout", config)
    assert code == 2
    assert "edited through the API or the console" in said
    assert f"optinout (active revision {waiting.id} by olga" in said
    with open_active_config(config) as active:
        assert active.revision("optinout").id == waiting.id
