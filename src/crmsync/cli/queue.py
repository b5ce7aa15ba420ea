"""``crmsync queue init``: make the NATS JetStream stream of the configured queue.

The stream (file storage, work queue, the subjects of docs/queue.md) is made once, before the
first ``crmsync run``, by someone allowed to make streams; running it again brings an existing
stream's subjects and replicas to the configuration and changes nothing else. The SQLite queue
needs no such step. Exit codes: 0 done (or nothing to do), 1 invalid configuration, unreachable
server, or a stream of that name that is not a file-stored work queue.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer
from rich.text import Text

from crmsync.cli.config_cmds import ConfigOption
from crmsync.cli.output import cli_console
from crmsync.config import load_config
from crmsync.errors import CrmsyncError
from crmsync.runtime.queues import init_queue

__all__ = ["app"]

app = typer.Typer(help="The change queue.", no_args_is_help=True)


@app.command("init")
def init(config: ConfigOption = Path("crmsync.yaml")) -> None:
    """Make the NATS JetStream stream of the configured queue (idempotent)."""
    try:
        said = asyncio.run(init_queue(load_config(config)))
    except CrmsyncError as exc:
        cli_console(stderr=True).print("[red]queue init failed:[/red]", Text(exc.message))
        raise typer.Exit(1) from None
    cli_console().print(Text(said), soft_wrap=True)
