"""``crmsync user add NAME --role ROLE`` and ``crmsync user token NAME``: who may use the API.

The password comes from ``CRMSYNC_PASSWORD``, else from standard input when it is not a terminal,
else from a prompt. A token is printed once; only its hash is stored.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from crmsync.api.users import Role, UserStore
from crmsync.audit import Action, Actor, recorded
from crmsync.cli.config_cmds import ConfigOption
from crmsync.cli.output import cli_console
from crmsync.config import load_config
from crmsync.errors import CrmsyncError
from crmsync.store import create_engine_for

__all__ = ["app"]

app = typer.Typer(help="Users of the API and the console.", no_args_is_help=True)

PASSWORD_ENV = "CRMSYNC_PASSWORD"  # noqa: S105 (the variable's name, not a password)


def _store(config: Path) -> UserStore:
    loaded = load_config(config)
    engine = create_engine_for(loaded.store.url, schema=loaded.store.pg_schema)
    try:
        return UserStore(engine)
    except BaseException:
        engine.dispose()
        raise


def _password() -> str:
    from_env = os.environ.get(PASSWORD_ENV)
    if from_env:
        return from_env
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    return str(typer.prompt("password", hide_input=True, confirmation_prompt=True))


@app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="The user's name.")],
    role: Annotated[Role, typer.Option(help="viewer, operator or admin.")] = Role.VIEWER,
    config: ConfigOption = Path("crmsync.yaml"),
) -> None:
    """Add a user (or set an existing user's role and password)."""
    console = cli_console(stderr=True)
    try:
        store = _store(config)
        try:
            password = _password()
            action = Action.USER_CREATE if store.get(name) is None else Action.USER_UPDATE
            details = {"role": role.value, "password_changed": True}
            with recorded(store.engine, Actor.cli(), action, name, details):
                user = store.add(name, role, password)
        finally:
            store.engine.dispose()
    except CrmsyncError as exc:
        console.print(f"[red]user add failed:[/red] {exc}")
        raise typer.Exit(1) from None
    console.print(f"user '{user.name}' saved with the {user.role.value} role")


@app.command("token")
def token(
    name: Annotated[str, typer.Argument(help="The user's name.")],
    config: ConfigOption = Path("crmsync.yaml"),
) -> None:
    """Make an API token for NAME and print it (it cannot be shown again)."""
    try:
        store = _store(config)
        try:
            with recorded(store.engine, Actor.cli(), Action.TOKEN_CREATE, name) as details:
                made = store.new_token(name)
                details["token_id"] = UserStore.token_id(made)
        finally:
            store.engine.dispose()
    except CrmsyncError as exc:
        cli_console(stderr=True).print(f"[red]user token failed:[/red] {exc}")
        raise typer.Exit(1) from None
    typer.echo(made)
