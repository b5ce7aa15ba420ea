"""``crmsync audit``: the operator audit trail, who did what and when, newest first.

Filters: ``--user`` (a user, with their tokens' and the OS user's of that name; ``token:ada`` or
``cli:root`` for one actor), ``--action`` (``workflow.start``, or every action of a subject with a
prefix ending in a dot: ``workflow.``), ``--since`` and ``--until`` (ISO 8601; a time without a
zone is UTC). Exit codes: 0 listed, 1 invalid configuration, bad filter or a store that could not
be read.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from crmsync.audit import AuditEntry, query
from crmsync.cli.config_cmds import ConfigOption
from crmsync.cli.output import Table, cli_console
from crmsync.config import load_config
from crmsync.errors import CrmsyncError
from crmsync.store import create_engine_for

__all__ = ["audit"]


def _moment(text: str | None, option: str) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(
            f"'{text}' is not an ISO 8601 time (e.g. 2025-01-31T14:30:00Z)", param_hint=option
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _document(entry: AuditEntry) -> dict[str, object]:
    return {
        "id": entry.id,
        "at": entry.at.isoformat(),
        "actor": entry.actor,
        "face": entry.face.value,
        "action": entry.action,
        "target": entry.target,
        "outcome": entry.outcome.value,
        "details": dict(entry.details),
    }


def audit(
    config: ConfigOption = Path("crmsync.yaml"),
    user: Annotated[
        str | None,
        typer.Option(help="A user's actions (with their tokens'); token:NAME or cli:NAME: one."),
    ] = None,
    action: Annotated[
        str | None,
        typer.Option(help="An action (workflow.start) or a prefix ending in '.' (workflow.)."),
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="From this time (ISO 8601; UTC without a zone).")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Before this time (ISO 8601; UTC without a zone).")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=100_000, help="At most this many.")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Operator actions, newest first: when, who, through what, which action on what, the
    outcome. Names and ids only: never a record's values, a password or a token."""
    start, end = _moment(since, "--since"), _moment(until, "--until")
    try:
        loaded = load_config(config)
        engine = create_engine_for(loaded.store.url, schema=loaded.store.pg_schema)
        try:
            found = query(engine, actor=user, action=action, since=start, until=end, limit=limit)
        finally:
            engine.dispose()
    except CrmsyncError as exc:
        cli_console(stderr=True).print(Text(f"cannot read the audit trail: {exc}", style="red"))
        raise typer.Exit(1) from None
    if as_json:
        typer.echo(json.dumps([_document(entry) for entry in found], indent=2))
        return
    table = Table("at (UTC)", "actor", "face", "action", "target", "outcome", "details")
    for entry in found:
        details = "; ".join(f"{key}: {value}" for key, value in entry.details.items())
        cells = (
            entry.at.isoformat(timespec="seconds"),
            entry.actor,
            entry.face.value,
            entry.action,
            entry.target,
            entry.outcome.value,
            details,
        )
        table.add_row(*(Text(cell) for cell in cells))  # as recorded, never as markup
    cli_console().print(table)
