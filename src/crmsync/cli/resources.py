"""``crmsync resources publish``: create or alter the Campaign tables of the configuration: the
resources of inbound's active revision (with the notice when the file differs from it).

Exit codes: 0 published (or nothing to do), 1 invalid configuration or database error,
3 destructive changes refused (run again with ``--force``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from crmsync.cli.active import open_active
from crmsync.cli.config_cmds import ConfigOption
from crmsync.cli.output import cli_console
from crmsync.errors import CrmsyncError
from crmsync.store import DestructiveChangeError, PublishPlan, create_engine_for, publish

__all__ = ["app"]

app = typer.Typer(help="Campaign resources (custom tables).", no_args_is_help=True)

EXIT_DESTRUCTIVE = 3
#: The workflow whose active revision's resources are published (the one that writes them).
WORKFLOW = "inbound"


def _plan_json(plan: PublishPlan, *, applied: bool) -> str:
    changes = [
        {
            "kind": c.kind.value,
            "table": c.table,
            "name": c.name,
            "destructive": c.destructive,
            "description": c.describe(),
        }
        for c in plan.changes
    ]
    return json.dumps({"applied": applied, "changes": changes}, indent=2)


def _print_plan(console: Console, plan: PublishPlan, *, applied: bool) -> None:
    if plan.is_empty:
        console.print("nothing to publish: the database matches the definitions")
        return
    for change in plan.changes:
        mark = "[red]![/red]" if change.destructive else "[green]+[/green]"
        console.print(f" {mark} ", Text(change.describe()), sep="")
    console.print("published" if applied else "dry run: nothing was changed")


@app.command("publish")
def publish_cmd(
    config: ConfigOption = Path("crmsync.yaml"),
    force: Annotated[
        bool, typer.Option("--force", help="Also apply destructive changes (data may be lost).")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the plan; change nothing.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the plan as JSON.")] = False,
    pending: Annotated[
        bool,
        typer.Option(
            "--pending",
            help="The resources of inbound's pending revision (when there is one), to publish "
            "before the start that activates it.",
        ),
    ] = False,
) -> None:
    """Create new tables, columns and indexes; refuse destructive changes unless --force.

    The resources are those of inbound's active revision (--pending: its pending one; the
    file's when the store has no revision yet); --dry-run creates nothing, not even the store.
    """
    console, errors = cli_console(), cli_console(stderr=True)
    try:
        # Opened (and upgraded) first: a store too new is refused unchanged.
        with open_active(config, (WORKFLOW,), create=not dry_run) as active:
            settings = active.config(WORKFLOW, latest=pending)
        engine = create_engine_for(settings.store.url, schema=settings.store.pg_schema)
        try:
            plan = publish(engine, settings.resources, force=force, dry_run=dry_run)
        finally:
            engine.dispose()
    except DestructiveChangeError as exc:
        errors.print("[red]refused[/red]: these changes would drop or rewrite data:")
        for line in exc.changes:
            errors.print(Text(f"  - {line}"))
        errors.print("run again with --force to apply them (or --dry-run to see the whole plan)")
        raise typer.Exit(EXIT_DESTRUCTIVE) from None
    except CrmsyncError as exc:
        errors.print("[red]error[/red]:", Text(exc.message))
        raise typer.Exit(1) from None
    except SQLAlchemyError as exc:
        # The driver's message says which statement failed (e.g. a unique index on repeated
        # values); the whole publication was rolled back.
        reason = exc.orig if isinstance(exc, DBAPIError) else exc
        errors.print("[red]database error[/red], nothing was changed:", Text(str(reason)))
        raise typer.Exit(1) from None
    if as_json:
        typer.echo(_plan_json(plan, applied=not dry_run))
    else:
        _print_plan(console, plan, applied=not dry_run)
