"""``crmsync rejects list|retry``: records a workflow refused, and two-way values sent again.

``list`` shows the newest rejects (``--json`` for a script). ``retry`` queues the Campaign values
of two-way mappings that the CRM refused for sending again (:mod:`crmsync.twoway.retry`): the
running ``inbound`` sends them within a second, or the next ``crmsync run`` does. Exit codes: 0
done, 1 invalid configuration or unknown (or not two-way) mapping.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from crmsync.audit import Action, Actor, recorded
from crmsync.cli.active import active_config
from crmsync.cli.config_cmds import ConfigOption
from crmsync.cli.output import Table, cli_console
from crmsync.errors import CrmsyncError
from crmsync.state.store import StateStore
from crmsync.store import create_engine_for
from crmsync.twoway.retry import retry_rejects

__all__ = ["app"]

app = typer.Typer(help="Rejected records.", no_args_is_help=True)

MappingOption = Annotated[str | None, typer.Option("--mapping", help="Only this mapping's.")]


@app.command("list")
def list_rejects(
    config: ConfigOption = Path("crmsync.yaml"),
    mapping: MappingOption = None,
    workflow: Annotated[
        str | None, typer.Option(help="Only this workflow's (inbound, twoway, …).")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="At most this many.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The newest rejects first: when, which workflow and mapping, the record, why."""
    errors = cli_console(stderr=True)
    try:
        inbound = active_config(config, "inbound")
        engine = create_engine_for(inbound.store.url, schema=inbound.store.pg_schema)
        try:
            found = StateStore(engine).rejects.newest(
                workflow=workflow, mapping=mapping, limit=limit
            )
        finally:
            engine.dispose()
    except CrmsyncError as exc:
        errors.print(f"[red]cannot read the rejects:[/red] {exc}")
        raise typer.Exit(1) from None
    if as_json:
        document = [
            {
                "id": r.id,
                "at": r.at.isoformat(),
                "workflow": r.workflow,
                "mapping": r.mapping,
                "record_id": r.record_id,
                "code": r.code,
                "message": r.message,
                "record": dict(r.record),
            }
            for r in found
        ]
        typer.echo(json.dumps(document, indent=2, default=str))
        return
    table = Table("at", "workflow", "mapping", "record", "code", "message")
    for r in found:
        table.add_row(
            r.at.isoformat(timespec="seconds"),
            r.workflow,
            r.mapping or "",
            r.record_id or "",
            r.code,
            r.message,
        )
    cli_console().print(table if found else "no rejects")


@app.command("retry")
def retry(
    config: ConfigOption = Path("crmsync.yaml"),
    mapping: MappingOption = None,
    record: Annotated[
        list[str] | None, typer.Option("--id", help="Only this record (repeatable).")
    ] = None,
) -> None:
    """Send the Campaign values of two-way mappings that the CRM refused again."""
    console = cli_console(stderr=True)
    try:
        inbound = active_config(config, "inbound")
        engine = create_engine_for(inbound.store.url, schema=inbound.store.pg_schema)
        try:
            target = mapping or ""
            with recorded(engine, Actor.cli(), Action.REJECTS_RETRY, target) as details:
                queued = retry_rejects(inbound, StateStore(engine), mapping, record or None)
                details["queued"] = queued
        finally:
            engine.dispose()
    except CrmsyncError as exc:
        console.print(f"[red]retry failed:[/red] {exc}")
        raise typer.Exit(1) from None
    if not queued:
        console.print("no two-way mapping: nothing to retry")
        return
    for name, count in queued.items():
        console.print(
            f"{name}: {count} record(s) queued for sending again"
            + (" (the running inbound sends them, or the next `crmsync run`)" if count else "")
        )
