"""``crmsync emulate dataverse|salesforce``: run a CRM emulator in the foreground."""

from __future__ import annotations

import typer

app = typer.Typer(help="Run a local emulator of a CRM web API.", no_args_is_help=True)
