"""``crmsync store version`` and ``crmsync store upgrade``: the schema version of crmsync's own
tables in the store, and their upgrade (which every command also runs when it opens the store).

Exit codes: 0 done, 1 invalid configuration or database error, 3 the store was upgraded by a
newer crmsync (nothing was changed).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.text import Text
from sqlalchemy.exc import SQLAlchemyError

from crmsync import __version__
from crmsync.cli.config_cmds import ConfigOption
from crmsync.cli.output import cli_console
from crmsync.config import load_config
from crmsync.errors import CrmsyncError
from crmsync.state import (
    SchemaVersion,
    StoreTooNewError,
    new_store_schema,
    store_schema,
    upgrade_store,
)
from crmsync.store import create_engine_for, missing_sqlite_file

__all__ = ["EXIT_TOO_NEW", "app"]

app = typer.Typer(help="The schema version of crmsync's own tables.", no_args_is_help=True)

EXIT_TOO_NEW = 3
DEFAULT = Path("crmsync.yaml")
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


@app.command("version")
def version(config: ConfigOption = DEFAULT, as_json: JsonOption = False) -> None:
    """Show the store's schema version, this crmsync's, and the upgrades recorded."""
    found, missing = _run(config, store_schema, create=False)
    if as_json:
        typer.echo(json.dumps(_document(found, missing)))
        return
    console = cli_console()
    _say_missing(console, missing)
    console.print(
        Text(f"store schema version: {found.current or 'none'} ({_state(found, missing)})"),
        soft_wrap=True,
    )
    console.print(Text(f"crmsync {__version__} knows versions up to {found.head}"))
    for migration in found.pending:
        console.print(Text(f"  pending {migration.version}: {migration.title}"))
    for done in found.upgrades:
        console.print(
            Text(
                f"  {done.upgraded_at:%Y-%m-%d %H:%M:%S} UTC: {done.from_version or 'none'}"
                f" -> {done.to_version} by crmsync {done.release}"
            )
        )


@app.command("upgrade")
def upgrade(
    config: ConfigOption = DEFAULT,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List the pending migrations; change nothing.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Bring crmsync's own tables to this crmsync's version (back the store up first)."""
    found, missing = _run(config, store_schema if dry_run else upgrade_store, create=not dry_run)
    if found.too_new:
        _refuse(found.refusal())
    if as_json:
        typer.echo(json.dumps(_document(found, missing) | {"dry_run": dry_run}))
        return
    console = cli_console()
    _say_missing(console, missing)
    if not found.pending:
        console.print(Text(f"the store is at {found.head}: nothing to do"))
        return
    verb = "would run" if dry_run else "ran"
    for migration in found.pending:
        console.print(Text(f"  {verb} {migration.version}: {migration.title}"))
    if dry_run:
        console.print("dry run: nothing was changed")
    else:
        console.print(Text(f"upgraded from {found.current or 'none'} to {found.head}"))


def _say_missing(console: Console, missing: Path | None) -> None:
    if missing is not None:
        console.print(Text(f"no store yet at {missing}"), soft_wrap=True)


def _run(config: Path, action: Any, *, create: bool) -> tuple[SchemaVersion, Path | None]:
    """``action`` on the store of ``config``, and ``None``; without ``create``, a SQLite file
    that does not exist is left so: where a new store stands, and the file's path."""
    try:
        loaded = load_config(config)
        missing = None if create else missing_sqlite_file(loaded.store.url)
        if missing is not None:
            return new_store_schema(), missing
        engine = create_engine_for(loaded.store.url, schema=loaded.store.pg_schema)
        try:
            found: SchemaVersion = action(engine)
        finally:
            engine.dispose()
    except StoreTooNewError as exc:
        _refuse(exc)
    except CrmsyncError as exc:
        cli_console(stderr=True).print("[red]error[/red]:", Text(exc.message))
        raise typer.Exit(1) from None
    except SQLAlchemyError as exc:
        cli_console(stderr=True).print("[red]database error[/red]:", Text(str(exc)))
        raise typer.Exit(1) from None
    return found, None


def _refuse(exc: StoreTooNewError) -> NoReturn:
    cli_console(stderr=True).print("[red]refused[/red]:", Text(exc.message))
    raise typer.Exit(EXIT_TOO_NEW)


def _state(found: SchemaVersion, missing: Path | None) -> str:
    if missing is not None:
        return "no store yet: made at the newest version by the first command that opens it"
    if found.too_new:
        return "newer than this crmsync"
    if not found.pending:
        return "up to date"
    if found.unversioned:
        return "made before schema versions: upgraded when opened"
    return f"{len(found.pending)} migration(s) pending: upgraded when opened"


def _document(found: SchemaVersion, missing: Path | None) -> dict[str, Any]:
    return {
        "exists": missing is None,
        "version": found.current,
        "head": found.head,
        "release": __version__,
        "state": _state(found, missing),
        "too_new": found.too_new,
        "unversioned": found.unversioned,
        "pending": [{"version": m.version, "title": m.title} for m in found.pending],
        "upgrades": [
            {
                "from": u.from_version,
                "to": u.to_version,
                "release": u.release,
                "at": u.upgraded_at.isoformat(),
            }
            for u in found.upgrades
        ],
    }
