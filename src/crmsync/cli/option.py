"""``crmsync option get|set|list``: named options, e.g. the dates of incremental imports."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from crmsync.audit import Action, Actor, recorded
from crmsync.cli.config_cmds import ConfigOption
from crmsync.cli.job import _config, open_store
from crmsync.cli.output import cli_console
from crmsync.jobs.options import OPTION_DATE_FORMAT, parse_option_date

__all__ = ["app"]

app = typer.Typer(help="Named options (LASTIMPORT_… dates).", no_args_is_help=True)


@app.command("get")
def get(name: str, config: ConfigOption = Path("crmsync.yaml")) -> None:
    """Print an option's value (exit 1 when it is not set)."""
    store = open_store(_config(config, cli_console(stderr=True)))
    value = store.option(name)
    if value is None:
        cli_console(stderr=True).print(Text(f"option '{name}' is not set"))
        raise typer.Exit(1)
    typer.echo(value)


@app.command("set")
def set_(
    name: str,
    value: str,
    config: ConfigOption = Path("crmsync.yaml"),
    text: Annotated[
        bool, typer.Option("--text", help="Store any text (LASTIMPORT_ options need a date).")
    ] = False,
) -> None:
    """Set an option; ``LASTIMPORT_…`` options take a date ``yyyy/MM/dd hh:mm:ss`` (UTC)."""
    if name.startswith("LASTIMPORT_") and not text:
        try:
            parse_option_date(value)
        except ValueError as exc:
            cli_console(stderr=True).print(Text(f"{name}: {exc} (format {OPTION_DATE_FORMAT})"))
            raise typer.Exit(1) from None
    store = open_store(_config(config, cli_console(stderr=True)))
    try:
        with recorded(store.engine, Actor.cli(), Action.OPTION_SET, name):
            store.set_option(name, value)
    finally:
        store.engine.dispose()


@app.command("list")
def list_options(config: ConfigOption = Path("crmsync.yaml")) -> None:
    """Every option with its value."""
    store = open_store(_config(config, cli_console(stderr=True)))
    for name, value in store.options().items():
        typer.echo(f"{name}\t{value}")
