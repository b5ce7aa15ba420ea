"""``crmsync config apply|export|diff|history``: the configuration file and the store's revision
history, the one truth every command and the server use (docs/configuration.md, "Where the
configuration lives").

Exit codes: 0 done (``diff``: the file is the active configuration), 1 the file differs (``diff``)
or an error: an invalid file, a file that would move the store, an unknown workflow, a question
left unanswered.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text

from crmsync.cli.active import record_revisions
from crmsync.cli.config_cmds import ConfigOption
from crmsync.cli.output import Table, cli_console
from crmsync.errors import ConfigurationError, CrmsyncError
from crmsync.workflows import WORKFLOW_NAMES, open_active_config
from crmsync.workflows.active import ActiveConfig, Difference

__all__ = ["app"]

app = typer.Typer(
    help="The configuration's revisions: apply a file, export, compare, list.",
    no_args_is_help=True,
)

FileArgument = Annotated[Path, typer.Argument(dir_okay=False, help="The configuration file.")]
WorkflowOption = Annotated[
    str | None,
    typer.Option("--workflow", "-w", help="inbound, outbound or optinout (default: every one)."),
]


def _fail(exc: CrmsyncError, what: str) -> typer.Exit:
    cli_console(stderr=True).print(Text(f"{what} failed: {exc}", style="red"))
    return typer.Exit(1)


def _workflows(workflow: str | None) -> tuple[str, ...]:
    if workflow is None:
        return WORKFLOW_NAMES
    if workflow not in WORKFLOW_NAMES:
        raise ConfigurationError(
            f"--workflow: '{workflow}' is not a workflow (workflows: {', '.join(WORKFLOW_NAMES)})",
            code="UNKNOWN_WORKFLOW",
        )
    return (workflow,)


def _print_differences(console: Console, found: Sequence[Difference], file: Path) -> None:
    """Each difference: the revision it is from, then the unified diff to the file."""
    for item in found:
        console.print(Text(f"{item.describe()} → {file}:", style="bold"))
        for line in item.diff.splitlines():
            style = "green" if line.startswith("+") else "red" if line.startswith("-") else ""
            console.print(Text(line, style=style))


@app.command("apply")
def apply(
    file: FileArgument,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Apply without asking.")] = False,
) -> None:
    """Make FILE the next pending revision of each workflow it differs from (shown as a diff).

    Like an edit made in the console, a pending revision becomes active when its workflow next
    starts: under `crmsync serve` at its start, otherwise when `crmsync run` starts.
    """
    console = cli_console(stderr=True)
    try:
        with open_active_config(file) as active:
            found = active.differences(latest=True)
            if not found:
                console.print(Text(f"{file} is the configuration of every workflow already"))
                return
            _print_differences(console, found, file)
            if not yes:
                if not sys.stdin.isatty():
                    console.print("nothing applied: give --yes to apply without a question")
                    raise typer.Exit(1)
                if not typer.confirm("apply?", err=True):
                    console.print("nothing applied")
                    raise typer.Exit(1)
            applied_all = active.apply()
            if active.engine is not None:
                record_revisions(active.engine, applied_all)
            for applied in applied_all:
                console.print(
                    Text(
                        f"{applied.difference.workflow}: pending revision {applied.revision.id} "
                        f"({applied.difference.summary()}); it becomes active when "
                        f"{applied.difference.workflow} next starts"
                    )
                )
    except CrmsyncError as exc:
        raise _fail(exc, "config apply") from None


def _exported(active: ActiveConfig, workflow: str | None, pending: bool) -> str:
    if workflow is None:
        return active.document(latest=pending)
    return active.revision(workflow, latest=pending).yaml


@app.command("export")
def export(
    config: ConfigOption = Path("crmsync.yaml"),
    workflow: WorkflowOption = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", dir_okay=False, help="Write here (default: stdout)."),
    ] = None,
    pending: Annotated[
        bool, typer.Option("--pending", help="The pending revision (when there is one).")
    ] = False,
) -> None:
    """Write the active (or --pending) configuration as a file: each workflow's own sections from
    its revision, the shared ones from the newest (--workflow: that workflow's revision as saved).

    Revisions hold no secrets: a configuration names where they are (an environment variable or
    a file), never their value.
    """
    try:
        _workflows(workflow)  # a known name, or every workflow
        with open_active_config(config) as active:
            text = _exported(active, workflow, pending)
    except CrmsyncError as exc:
        raise _fail(exc, "config export") from None
    if output is None:
        typer.echo(text, nl=False)
        return
    output.write_text(text, encoding="utf-8")
    cli_console(stderr=True).print(Text(f"wrote {output}"))


@app.command("diff")
def diff(file: FileArgument, workflow: WorkflowOption = None) -> None:
    """Show how FILE differs from each workflow's active revision (exit 1 when it does)."""
    console = cli_console()
    try:
        with open_active_config(file) as active:
            found = active.differences(_workflows(workflow))
    except CrmsyncError as exc:
        raise _fail(exc, "config diff") from None
    if not found:
        console.print(Text(f"{file} is the active configuration"))
        return
    _print_differences(console, found, file)
    raise typer.Exit(1)


@app.command("history")
def history(
    config: ConfigOption = Path("crmsync.yaml"),
    workflow: WorkflowOption = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The configuration revisions, newest first: who made each, when, what, its state."""
    try:
        workflows = _workflows(workflow)
        with open_active_config(config) as active:
            found = active.history.history(workflow, limit=limit)
    except CrmsyncError as exc:
        raise _fail(exc, "config history") from None
    found = [r for r in found if r.workflow in workflows]
    if as_json:
        document = [
            {
                "id": r.id,
                "workflow": r.workflow,
                "state": r.state,
                "author": r.author,
                "created_at": r.created_at.isoformat(),
                "note": r.note,
            }
            for r in found
        ]
        typer.echo(json.dumps(document, indent=2))
        return
    table = Table("revision", "workflow", "state", "author", "created", "note")
    for r in found:
        table.add_row(
            str(r.id),
            r.workflow,
            r.state,
            Text(r.author),
            r.created_at.strftime("%Y-%m-%d %H:%M"),
            Text(r.note),
        )
    cli_console().print(table)
