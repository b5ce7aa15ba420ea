"""``crmsync run``: the inbound workflow, until stopped (SIGINT/SIGTERM) or, with ``--once``,
until it has caught up with the CRM and drained its backlog.

Exit codes: 0 stopped cleanly or caught up, 1 invalid configuration or a failure it could not
recover from (the reason is printed and recorded as the workflow's ``FAILED`` status).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from crmsync.cli.config_cmds import ConfigOption
from crmsync.config import load_config
from crmsync.errors import CrmsyncError
from crmsync.sync.engine import EngineOptions, InboundEngine, RunSummary
from crmsync.sync.progress import InboundProgress, NoProgress, RichProgress
from crmsync.sync.state_tables import COUNTER_NAMES as COUNTER_COLUMNS

__all__ = ["run", "summary_table"]

_HEADERS = {
    "unchanged": "unchanged (no write)",
    "crm_calls": "calls to the CRM",
    "campaign_writes": "writes to Campaign",
}
#: The counters a run's summary shows (``crmsync status`` shows them all).
_SHOWN = tuple(name for name in COUNTER_COLUMNS if name != "parked")


def summary_table(summary: RunSummary) -> Table:
    """The counters of every mapping as a table."""
    table = Table(title="inbound counters")
    table.add_column("counter")
    for mapping in summary.counters:
        table.add_column(mapping, justify="right")
    documents = [counts.as_dict() for counts in summary.counters.values()]
    for name in _SHOWN:
        table.add_row(_HEADERS.get(name, name), *(f"{d[name]:,}" for d in documents))
    return table


async def _run(engine: InboundEngine, once: bool) -> RunSummary:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with engine:
        return await engine.run(once=once, stop=stop)


def run(
    config: ConfigOption = Path("crmsync.yaml"),
    once: Annotated[
        bool, typer.Option("--once", help="Read until caught up, drain the backlog, exit.")
    ] = False,
    progress: Annotated[
        bool, typer.Option("--progress/--no-progress", help="Live progress bars.")
    ] = sys.stderr.isatty(),
    ack_wait: Annotated[
        float, typer.Option(min=1, help="Seconds before an unacknowledged change comes back.")
    ] = 30.0,
    parent_wait: Annotated[
        float, typer.Option(min=0, help="Seconds a child waits for its parent, then a reject.")
    ] = 300.0,
    poll_interval: Annotated[
        float | None, typer.Option(min=0.01, help="Override inbound.poll_interval_seconds.")
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log each step.")] = False,
) -> None:
    """Run the inbound workflow (CRM → Campaign)."""
    console = Console(stderr=True)
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        loaded = load_config(config)
        names = [m.name for m in loaded.inbound.mappings]
        bars: InboundProgress = RichProgress(names, console) if progress else NoProgress()
        options = EngineOptions(
            ack_wait_seconds=ack_wait,
            parent_wait_seconds=parent_wait,
            poll_interval_seconds=poll_interval,
        )
        engine = InboundEngine(loaded, options=options, progress=bars)
        summary = asyncio.run(_run(engine, once))
    except CrmsyncError as exc:
        console.print(f"[red]inbound failed:[/red] {exc}")
        raise typer.Exit(1) from None
    console.print(summary_table(summary))
    if summary.rejects:
        console.print(f"{summary.rejects:,} rejected record(s): see [bold]crmsync status[/bold]")
