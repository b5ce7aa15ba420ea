"""``crmsync mapping replay NAME``: re-synchronize every record of a mapping's CRM table at the
next start of ``inbound`` (SPEC §3.6).

Refused, with the reason and the numbers, when the inbound backlog or the CRM table holds
2,000,000 or more (the default limits), or when a replay is already pending. Exit codes: 0
requested, 1 invalid configuration, unknown mapping or a CRM that could not count the table
(nothing recorded), 3 refused.

``crmsync mapping plan NAME [--json]``: what the next merge of a two-way mapping would write to
each side (:mod:`crmsync.twoway.plan`), with nothing written. Exit codes: 0 planned, 1 invalid
configuration, unknown or one-way mapping, a store not ready, or a CRM that could not be read.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from crmsync.cli.active import active_config, open_active
from crmsync.cli.config_cmds import ConfigOption
from crmsync.cli.output import cli_console
from crmsync.cli.plan_output import print_plan
from crmsync.errors import CrmsyncError
from crmsync.state.models import ReplayRefused
from crmsync.state.replays import DEFAULT_REPLAY_LIMIT
from crmsync.sync.replay import request_replay
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
        request = asyncio.run(request_replay(inbound, name, limit_backlog=limit, limit_rows=limit))
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
