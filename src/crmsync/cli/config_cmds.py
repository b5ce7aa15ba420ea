"""``crmsync init`` (write a starter configuration) and ``crmsync validate`` (check one, also
against its CRMs with ``--check-crm``, and its NATS queue with ``--check-queue``).

Exit codes of ``validate``: 0 valid (warnings allowed), 1 invalid.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text

from crmsync.cli.output import Table, cli_console
from crmsync.config import ConfigReport, check_config_file, starter_config
from crmsync.runtime.crm_checks import check_against_crm
from crmsync.runtime.queues import check_queue

__all__ = ["init", "print_report", "validate"]

ConfigOption = Annotated[
    Path, typer.Option("--config", "-c", help="The configuration file.", dir_okay=False)
]


def init(
    path: Annotated[
        Path, typer.Option("--path", help="Where to write the file.", dir_okay=False)
    ] = Path("crmsync.yaml"),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
    emulator: Annotated[
        str | None,
        typer.Option(
            help="Point the Dataverse connection at a local emulator, e.g. https://127.0.0.1:8443."
        ),
    ] = None,
    ca_bundle: Annotated[
        Path | None,
        typer.Option(help="Extra CA certificates to trust (e.g. the emulator's --ca-file)."),
    ] = None,
) -> None:
    """Write a commented starter configuration."""
    console = cli_console(stderr=True)
    if path.exists() and not force:
        console.print(f"[red]{path} exists[/red]: use --force to overwrite it")
        raise typer.Exit(1)
    if emulator is not None and not emulator.startswith("https://"):
        raise typer.BadParameter("the emulator's URL must be https://…", param_hint="--emulator")
    path.write_text(starter_config(emulator_url=emulator, ca_bundle=ca_bundle), encoding="utf-8")
    console.print(f"wrote {path}; check it with: crmsync validate --config {path}")


def print_report(report: ConfigReport, console: Console) -> None:
    """Every issue of ``report`` as a table, errors first."""
    if not report.issues:
        console.print(f"[green]{report.source}: valid[/green]")
        return
    table = Table(title=Text(report.source))
    table.add_column("line", justify="right")
    table.add_column("severity")
    table.add_column("path", overflow="fold")
    table.add_column("problem", overflow="fold")
    for issue in sorted(report.issues, key=lambda i: (i.is_error is False, i.line or 0)):
        table.add_row(
            str(issue.line or ""),
            Text(issue.severity, style="red" if issue.is_error else "yellow"),
            Text(issue.path),
            Text(issue.message),
        )
    console.print(table)
    verdict = "[red]invalid[/red]" if report.errors else "[green]valid[/green]"
    console.print(f"{verdict}: {len(report.errors)} error(s), {len(report.warnings)} warning(s)")


def _with_crm_checks(report: ConfigReport, console: Console) -> tuple[ConfigReport, dict[str, str]]:
    """``report`` with the issues found against the CRMs, and what became of each connection
    (``checked``, or ``unusable`` when it could not be reached or signed in to)."""
    if report.config is None:
        console.print("not checked against the CRM: the file cannot be read as a configuration")
        return report, {}
    checked = asyncio.run(check_against_crm(report.config))
    outcome = {
        name: "checked" if used else "unusable" for name, used in checked.connections.items()
    }
    if not outcome:
        console.print(
            "nothing to check against the CRM: no mapping or switched-on workflow uses a connection"
        )
    for state in ("checked", "unusable"):
        names = [name for name, said in outcome.items() if said == state]
        if names:
            console.print(f"connections {state}: {', '.join(names)}")
    return report.with_issues(checked.issues), outcome


def validate(
    config: ConfigOption = Path("crmsync.yaml"),
    as_json: Annotated[bool, typer.Option("--json", help="Print the issues as JSON.")] = False,
    check_crm: Annotated[
        bool,
        typer.Option(
            "--check-crm",
            help="Also connect to the CRMs the file uses and check its mappings against "
            "their tables and fields.",
        ),
    ] = False,
    check_queue_: Annotated[
        bool,
        typer.Option(
            "--check-queue",
            help="Also check that a NATS queue can be used: its secrets, a server that "
            "answers, and its stream.",
        ),
    ] = False,
) -> None:
    """Check a configuration file; list every problem with its path and line."""
    report = check_config_file(config)
    checked: dict[str, str] | None = None
    if check_crm:
        report, checked = _with_crm_checks(report, cli_console(stderr=True))
    if check_queue_ and report.config is not None:
        report = report.with_issues(asyncio.run(check_queue(report.config)))
    if as_json:
        document: dict[str, object] = {
            "source": report.source,
            "valid": report.ok,
            "issues": [issue.to_dict() for issue in report.issues],
        }
        if checked is not None:
            document["crm_connections"] = checked
        typer.echo(json.dumps(document, indent=2))
    else:
        print_report(report, cli_console())
    if not report.ok:
        raise typer.Exit(1)
