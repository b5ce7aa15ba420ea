"""``crmsync resources publish --dry-run`` on each store: the plan is printed, nothing is made."""

from __future__ import annotations

import json
from pathlib import Path

import sqlalchemy as sa
from publish_support import write_config
from typer.testing import CliRunner

from crmsync.cli.main import app
from crmsync.store import create_engine_for


def test_a_dry_run_makes_no_file_and_no_table(
    tmp_path: Path, store_location: tuple[str, str | None]
) -> None:
    url, schema = store_location
    config = write_config(tmp_path, store_location)
    result = CliRunner().invoke(
        app, ["resources", "publish", "--config", str(config), "--dry-run", "--json"]
    )
    assert result.exit_code == 0, result.output
    plan = json.loads(result.output)
    assert plan["applied"] is False
    assert [(c["kind"], c["table"]) for c in plan["changes"]] == [
        ("create_table", "profile"),
        ("create_table", "subscription"),
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["crmsync.yaml"]
    if schema is not None:
        engine = create_engine_for(url, schema=schema)
        try:
            assert sa.inspect(engine).get_table_names() == []
        finally:
            engine.dispose()
