"""``crmsync events …``: import marketing events from a file, run the outbound workflow alone,
and show what is pending and what was sent.

Exit codes: 0 done, 1 some lines of an imported file were refused (the good ones are kept),
2 invalid configuration or a failure.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal

import typer

from crmsync.cli.active import active_config, started_configs
from crmsync.cli.config_cmds import ConfigOption
from crmsync.cli.output import Table, cli_console
from crmsync.errors import CrmsyncError
from crmsync.events import EVENT_TYPES, read_event_file, record_events
from crmsync.events.outbound import backlog, lifetime_counts
from crmsync.events.runner import open_outbound
from crmsync.events.tables import COUNTER_NAMES
from crmsync.state.workers import WorkerRole
from crmsync.store import build_metadata, create_engine_for, definitions_with_profile
from crmsync.workflows.leased import run_leased, worker_for

__all__ = ["app"]

app = typer.Typer(help="Marketing events: import them, send them to the CRM.", no_args_is_help=True)
DEFAULT = Path("crmsync.yaml")
#: The workflow whose active configuration these commands use.
WORKFLOW = "outbound"


def _fail(exc: CrmsyncError) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(2)


@app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV or JSON Lines.")],
    config: ConfigOption = DEFAULT,
    file_format: Annotated[
        Literal["csv", "jsonl"] | None,
        typer.Option("--format", help="csv or jsonl (default: from the file's suffix)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Record the events of FILE; malformed lines are reported by number, the good ones kept."""
    try:
        cfg = active_config(config, WORKFLOW)
        result = read_event_file(file, file_format)
    except CrmsyncError as exc:
        raise _fail(exc) from None
    except (ValueError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    engine = create_engine_for(cfg.store.url, schema=cfg.store.pg_schema)
    profile = build_metadata(definitions_with_profile(cfg.resources)).tables["profile"]
    try:
        recorded = record_events(engine, result.events, profile=profile)
    except CrmsyncError as exc:
        raise _fail(exc) from None
    finally:
        engine.dispose()
    problems = [{"line": p.line, "message": p.message} for p in result.problems]
    if as_json:
        document = {
            "added": recorded.added,
            "duplicates": recorded.duplicates,
            "opted_out": recorded.opted_out,
            "rejected": problems,
        }
        typer.echo(json.dumps(document))
    else:
        for problem in result.problems:
            typer.echo(f"{file}:{problem.line}: {problem.message}", err=True)
        typer.echo(
            f"{recorded.added} event(s) added, {recorded.duplicates} already recorded, "
            f"{len(problems)} line(s) refused"
            + (f", {recorded.opted_out} profile(s) opted out" if recorded.opted_out else "")
        )
    if problems:
        raise typer.Exit(1)


@app.command("run")
def run(
    config: ConfigOption = DEFAULT,
    once: Annotated[bool, typer.Option("--once", help="Stop when nothing is pending.")] = False,
) -> None:
    """Run the outbound workflow alone (until interrupted, or once).

    It starts as `crmsync run` starts it: the file is applied when outbound's revisions it differs
    from came from a file (refused when edited through the API or the console), then outbound's
    pending revision is activated.
    """
    try:
        cfg = started_configs(config, (WORKFLOW,))[WORKFLOW]

        async def held(stop: asyncio.Event) -> Mapping[str, int]:
            async with open_outbound(cfg) as workflow:
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


@app.command("status")
def status(
    config: ConfigOption = DEFAULT,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Pending events and the outbound counters, per event type."""
    try:
        cfg = active_config(config, WORKFLOW)
    except CrmsyncError as exc:
        raise _fail(exc) from None
    engine = create_engine_for(cfg.store.url, schema=cfg.store.pg_schema)
    try:
        counts = lifetime_counts(engine)
        document = {
            name: {
                "enabled": name in cfg.outbound.enabled(),
                "backlog": backlog(engine, (name,)),
                **counts.get(name, dict.fromkeys(COUNTER_NAMES, 0)),
            }
            for name in EVENT_TYPES
        }
    except CrmsyncError as exc:
        raise _fail(exc) from None
    finally:
        engine.dispose()
    if as_json:
        typer.echo(json.dumps(document))
        return
    table = Table(title="outbound events")
    for column in ("type", "on", "backlog", *COUNTER_NAMES):
        table.add_column(column.replace("_", " "), justify="left" if column == "type" else "right")
    for name, item in document.items():
        table.add_row(
            name,
            "yes" if item["enabled"] else "no",
            *(f"{item[c]:,}" for c in ("backlog", *COUNTER_NAMES)),
        )
    cli_console().print(table)
