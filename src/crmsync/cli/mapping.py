"""``crmsync mapping …``: commands of one inbound mapping.

``crmsync mapping replay NAME`` re-synchronizes every record of a mapping's CRM table at the
next start of ``inbound`` (SPEC §3.6). Refused, with the reason and the numbers, when the inbound
backlog or the CRM table holds 2,000,000 or more (the default limits), or when a replay is already
pending. Exit codes: 0 requested, 1 invalid configuration, unknown mapping or a CRM that could not
count the table (nothing recorded), 3 refused.

``crmsync mapping conflicts NAME`` lists the conflicts the two-way merge logged for the mapping,
newest first (a one-way mapping has none). Exit codes: 0 listed, 1 invalid configuration, unknown
mapping or a store that could not be read.

``crmsync mapping plan NAME [--json]``: what the next merge of a two-way mapping would write to
each side (:mod:`crmsync.twoway.plan`), with nothing written. Exit codes: 0 planned, 1 invalid
configuration, unknown or one-way mapping, a store not ready, or a CRM that could not be read.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.text import Text

from crmsync.audit import Action, Actor, recorded
from crmsync.cli.active import active_config, open_active
from crmsync.cli.config_cmds import ConfigOption
from crmsync.cli.output import Table, cli_console
from crmsync.cli.plan_output import print_plan
from crmsync.errors import CrmsyncError
from crmsync.state import ensure_store_schema
from crmsync.state.models import ReplayRefused
from crmsync.state.replays import DEFAULT_REPLAY_LIMIT
from crmsync.store import create_engine_for
from crmsync.sync.replay import request_replay
from crmsync.twoway import ConflictEntry, list_conflicts
from crmsync.twoway.plan import DEFAULT_LIMIT, plan_mapping

__all__ = ["app"]

app = typer.Typer(help="Inbound table mappings.", no_args_is_help=True)

EXIT_REFUSED = 3


@app.command("replay")
def replay(
    name: Annotated[str, typer.Argument(help="The mapping's name.")],
    config: ConfigOption = Path("crmsync.yaml"),
    limit: Annotated[
        int, typer.Option(min=1, help="Refuse at this backlog or CRM table size.")
    ] = DEFAULT_REPLAY_LIMIT,
) -> None:
    """Replay every record of mapping NAME at the next start of inbound."""
    console = cli_console(stderr=True)
    try:
        inbound = active_config(config, "inbound")
        engine = create_engine_for(inbound.store.url, schema=inbound.store.pg_schema)
        try:
            with recorded(engine, Actor.cli(), Action.MAPPING_REPLAY, name) as details:
                request = asyncio.run(
                    request_replay(inbound, name, limit_backlog=limit, limit_rows=limit)
                )
                details.update(table_rows=request.table_rows, backlog=request.backlog)
        finally:
            engine.dispose()
    except ReplayRefused as exc:
        console.print(f"[red]refused:[/red] {exc.message}")
        raise typer.Exit(1 if exc.code == "UNKNOWN_MAPPING" else EXIT_REFUSED) from None
    except CrmsyncError as exc:
        console.print(f"[red]replay failed:[/red] {exc}")
        raise typer.Exit(1) from None
    console.print(
        f"replay of '{name}' requested ({request.table_rows:,} CRM rows, backlog "
        f"{request.backlog:,}); it runs at the next start of inbound"
    )


@app.command("conflicts")
def conflicts(
    name: Annotated[str, typer.Argument(help="The mapping's name.")],
    config: ConfigOption = Path("crmsync.yaml"),
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list for scripts.")] = False,
    limit: Annotated[int, typer.Option(min=1, max=100_000, help="Show at most this many.")] = 100,
    record: Annotated[str | None, typer.Option(help="Only this CRM record's id.")] = None,
) -> None:
    """The conflicts the two-way merge logged for mapping NAME, newest first: both values and
    times, the winner and why."""
    errors = cli_console(stderr=True)
    try:
        inbound = active_config(config, "inbound")
        if all(mapping.name != name for mapping in inbound.inbound.mappings):
            errors.print(f"[red]error:[/red] there is no inbound mapping '{escape(name)}'")
            raise typer.Exit(1)
        engine = create_engine_for(inbound.store.url, schema=inbound.store.pg_schema)
        try:
            ensure_store_schema(engine)
            with engine.connect() as conn:
                found = list_conflicts(conn, name, limit=limit, record_key=record)
        finally:
            engine.dispose()
    except CrmsyncError as exc:
        errors.print(f"[red]conflicts failed:[/red] {escape(str(exc))}")
        raise typer.Exit(1) from None
    if as_json:
        typer.echo(json.dumps([_document(entry) for entry in found], indent=2))
        return
    if not found:
        typer.echo(f"no conflicts logged for '{name}'")
        return
    table = Table(title=Text(f"conflicts of {name} (newest first)"))
    for column in ("decided", "record", "field", "Campaign", "CRM", "winner", "reason", "found by"):
        table.add_column(column)
    for entry in found:
        cells = (
            _time(entry.decided_at),
            entry.record_key,
            entry.field,
            f"{_value(entry.campaign_value)} @ {_time(entry.campaign_changed_at)}",
            f"{_value(entry.crm_value)} @ {_time(entry.crm_changed_at)}",
            entry.winner,
            entry.reason.replace("_", " "),
            entry.found_by,
        )
        table.add_row(*(Text(cell) for cell in cells))  # values as written, never as markup
    cli_console().print(table)


def _document(entry: ConflictEntry) -> dict[str, Any]:
    return {
        key: value.isoformat() if isinstance(value, datetime) else value
        for key, value in asdict(entry).items()
    }


def _time(value: datetime | None) -> str:
    return "unknown time" if value is None else value.isoformat(sep=" ", timespec="seconds")


def _value(value: Any) -> str:
    return "(empty)" if value is None else value if isinstance(value, str) else json.dumps(value)


# -- mapping plan ---------------------------------------------------------------------------


@app.command("plan")
def plan(
    name: Annotated[str, typer.Argument(help="The two-way mapping's name.")],
    config: ConfigOption = Path("crmsync.yaml"),
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
    limit: Annotated[
        int, typer.Option(min=1, help="Records listed per direction (all are counted).")
    ] = DEFAULT_LIMIT,
) -> None:
    """Show what the next merge of two-way mapping NAME would write to each side; nothing is
    written. Exit 1 for an unknown or one-way mapping, a store not ready, or a CRM that cannot
    be read."""
    try:
        # Opened without creating, seeding or upgrading anything: a plan writes nothing.
        with open_active(config, ("inbound",), create=False) as active:
            inbound = active.config("inbound")
        found = asyncio.run(plan_mapping(inbound, name, limit=limit))
    except CrmsyncError as exc:
        cli_console(stderr=True).print(Text(f"plan failed: {exc}", style="red"))
        raise typer.Exit(1) from None
    if as_json:
        typer.echo(json.dumps(found.as_dict(), indent=2))
        return
    print_plan(cli_console(), found.as_dict())
