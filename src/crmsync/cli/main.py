"""The ``crmsync`` command: one Typer application, one module per noun."""

from __future__ import annotations

import typer

from crmsync import __version__
from crmsync.cli import emulate

app = typer.Typer(
    name="crmsync",
    help="Keep Dynamics 365 / Salesforce and the Campaign store in sync.",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(emulate.app, name="emulate")


@app.command()
def version() -> None:
    """Print crmsync's version."""
    typer.echo(__version__)


def main() -> None:
    app()
