"""``crmsync demo``: the inbound workflow end to end, with no set-up and no network; with
``--serve``, then the web console on the demo's data until Ctrl-C."""

from __future__ import annotations

import asyncio
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.panel import Panel

from crmsync.cli.output import cli_console
from crmsync.cli.run import summary_table
from crmsync.errors import CrmsyncError
from crmsync.sync.progress import InboundProgress, RichProgress

if TYPE_CHECKING:
    from crmsync.demo import DemoReport

_PROFILES = "select external_id, first_name, city from profile limit 5"
_SUBSCRIPTIONS = "select crm_id, contact_id, plan from subscription limit 5"


class Crm(StrEnum):
    dataverse = "dataverse"
    salesforce = "salesforce"


def _summary(console: Console, report: DemoReport, crm: Crm) -> None:
    from crmsync.demo import DEMO_DB

    console.print(summary_table(report.final))
    status = "[green]arrived[/green]" if report.changes_arrived else "[red]missing[/red]"
    console.print(
        Panel.fit(
            f"Synced {report.profiles:,} profiles and {report.subscriptions:,} linked "
            f"subscriptions from {report.url} in {report.seconds:.1f} s; the live changes "
            f"{status}.\n"
            f"Look at the data:  [bold]sqlite3 {DEMO_DB} '{_PROFILES}'[/bold]\n"
            f"                   [bold]sqlite3 {DEMO_DB} '{_SUBSCRIPTIONS}'[/bold]\n"
            f"Run it yourself:   [bold]crmsync emulate {crm.value}[/bold], then "
            "[bold]crmsync run --config crmsync.yaml[/bold] (see docs/inbound.md).",
            title="crmsync demo",
        )
    )


def demo(
    contacts: int = typer.Option(2000, min=10, max=1_000_000, help="Contacts in the emulator."),
    crm: Annotated[Crm, typer.Option(help="Which CRM's emulator to sync from.")] = Crm.dataverse,
    serve: Annotated[
        bool,
        typer.Option("--serve", help="Then serve the web console on the demo's data until Ctrl-C."),
    ] = False,
    host: Annotated[str, typer.Option(help="The console's address (with --serve).")] = (
        "127.0.0.1"
    ),
    port: Annotated[
        int, typer.Option(min=1, max=65535, help="The console's port (with --serve).")
    ] = 8080,
) -> None:
    """Start a CRM emulator in-process, sync it into crmsync-demo.db, show live changes."""
    # The emulators and the web application load here, not with every other command.
    from crmsync.demo import run_demo, serve_console

    console = cli_console()

    def bars(names: list[str]) -> InboundProgress:
        return RichProgress(names, console)

    async def then_serve(text: str, report: DemoReport) -> None:
        _summary(console, report, crm)
        await serve_console(text, host=host, port=port, say=console.print)

    try:
        report = asyncio.run(
            run_demo(
                contacts=contacts,
                say=console.print,
                progress=bars,
                crm=crm.value,
                then=then_serve if serve else None,
            )
        )
    except (CrmsyncError, RuntimeError) as exc:
        console.print(f"[red]The demo failed:[/red] {exc}")
        raise typer.Exit(1) from None
    if not serve:
        _summary(console, report, crm)
    if not report.changes_arrived:
        raise typer.Exit(1)
