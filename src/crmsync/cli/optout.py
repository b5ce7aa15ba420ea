"""``crmsync optout …``: run the opt-in/out workflow, read its decision log, change opt-outs,
and the optional file exchange (export / import of changed opt-outs as CSV)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import sqlalchemy as sa
import typer

from crmsync.cli.active import active_config, started_configs
from crmsync.cli.config_cmds import ConfigOption
from crmsync.cli.output import Table, cli_console
from crmsync.config.models import Config
from crmsync.errors import CrmsyncError
from crmsync.optout.changes import set_opt_outs
from crmsync.optout.files import export_changes, import_file
from crmsync.optout.runner import open_optinout
from crmsync.optout.tables import LOG
from crmsync.state import ensure_store_schema
from crmsync.state.workers import WorkerRole
from crmsync.store import build_metadata, create_engine_for, definitions_with_profile
from crmsync.store.engine import write_transaction
from crmsync.workflows.leased import run_leased, worker_for

__all__ = ["app"]

app = typer.Typer(help="Opt-in/out synchronization.", no_args_is_help=True)
DEFAULT = Path("crmsync.yaml")
#: The workflow whose active configuration these commands use.
WORKFLOW = "optinout"


def _fail(exc: CrmsyncError) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(2)


def _store(config: Config) -> tuple[sa.Engine, sa.Table]:
    engine = create_engine_for(config.store.url, schema=config.store.pg_schema)
    ensure_store_schema(engine)
    return engine, build_metadata(definitions_with_profile(config.resources)).tables["profile"]


@app.command("run")
def run(
    config: ConfigOption = DEFAULT,
    once: Annotated[bool, typer.Option("--once", help="Stop when nothing is left.")] = False,
) -> None:
    """Run the optinout workflow (until interrupted, or once).

    It starts as `crmsync run` starts it: the file is applied when optinout's revisions it differs
    from came from a file (refused when edited through the API or the console), then optinout's
    pending revision is activated.
    """
    try:
        cfg = started_configs(config, (WORKFLOW,))[WORKFLOW]

        async def held(stop: asyncio.Event) -> Mapping[str, int]:
            async with open_optinout(cfg) as workflow:
                return (await workflow.run(once=once, stop=stop)).as_dict()

        async def go() -> Mapping[str, int] | None:
            # One process at a time runs it (crmsync run and serve take the same lease).
            async with worker_for(cfg, None, WorkerRole.ALL) as worker:
                return await run_leased(worker, WORKFLOW, held, asyncio.Event(), once=once)

        counts = asyncio.run(go())
    except CrmsyncError as exc:
        raise _fail(exc) from None
    if counts is None:
        cli_console(stderr=True).print(f"{WORKFLOW} is run by another worker: left to it")
    typer.echo(json.dumps(dict(counts or {})))


@app.command("log")
def log(
    config: ConfigOption = DEFAULT,
    person: Annotated[str | None, typer.Option(help="Only this CRM id (external_id).")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100_000)] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines.")] = False,
) -> None:
    """The recorded opt-out decisions, newest first: both values and times, the winner, why."""
    try:
        engine, _profile = _store(active_config(config, WORKFLOW))
    except CrmsyncError as exc:
        raise _fail(exc) from None
    query = sa.select(LOG).order_by(LOG.c.id.desc()).limit(limit)
    if person is not None:
        query = query.where(LOG.c.external_id == person)
    with engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(query).mappings()]
    engine.dispose()
    if as_json:
        for row in rows:
            typer.echo(json.dumps(row, default=str))
        return
    table = Table("when", "person", "attribute", "CRM", "Campaign", "result", "winner", "reason")
    for row in rows:
        table.add_row(
            str(row["decided_at"]),
            row["external_id"],
            row["attribute"],
            f"{row['crm_value']} @ {row['crm_time']}",
            f"{row['campaign_value']} @ {row['campaign_time']}",
            str(row["result"]),
            row["winner"],
            row["reason"],
        )
    cli_console().print(table)


@app.command("set")
def set_(
    external_id: str,
    values: Annotated[
        list[str], typer.Argument(help="attribute=true|false, e.g. optout_email=true")
    ],
    config: ConfigOption = DEFAULT,
) -> None:
    """Change a profile's opt-outs in the Campaign store (they flow to the CRM when configured)."""
    parsed: dict[str, Any] = {}
    for item in values:
        name, _, text = item.partition("=")
        if text.lower() not in ("true", "false"):
            typer.echo(f"error: '{item}': write attribute=true or attribute=false", err=True)
            raise typer.Exit(2)
        parsed[name] = text.lower() == "true"
    try:
        engine, profile = _store(active_config(config, WORKFLOW))
        with write_transaction(engine) as conn:
            changed = set_opt_outs(conn, profile, external_id, parsed, origin="cli")
        engine.dispose()
    except CrmsyncError as exc:
        raise _fail(exc) from None
    typer.echo(json.dumps({"changed": changed}))


@app.command("export")
def export(
    config: ConfigOption = DEFAULT,
    folder: Annotated[
        Path | None, typer.Option(help="Default: optinout.file_exchange.folder.")
    ] = None,
) -> None:
    """Write the opt-outs changed since the last export to a CSV file in the folder."""
    try:
        cfg = active_config(config, WORKFLOW)
        target = folder or (
            cfg.optinout.file_exchange.folder if cfg.optinout.file_exchange else None
        )
        if target is None:
            typer.echo("error: give --folder or set optinout.file_exchange.folder", err=True)
            raise typer.Exit(2)
        engine, profile = _store(cfg)
        path, count = export_changes(engine, profile, target)
        engine.dispose()
    except CrmsyncError as exc:
        raise _fail(exc) from None
    typer.echo(json.dumps({"file": str(path), "rows": count}))


@app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False)],
    config: ConfigOption = DEFAULT,
) -> None:
    """Apply a CSV of opt-out changes (external_id,attribute,opted_out,changed_at)."""
    try:
        engine, profile = _store(active_config(config, WORKFLOW))
        report = import_file(engine, profile, file)
        engine.dispose()
    except CrmsyncError as exc:
        raise _fail(exc) from None
    for line, why in report.rejected:
        typer.echo(f"{file}:{line}: {why}", err=True)
    typer.echo(
        json.dumps(
            {
                "applied": report.applied,
                "unchanged": report.unchanged,
                "rejected": len(report.rejected),
            }
        )
    )
    if report.rejected:
        raise typer.Exit(1)
