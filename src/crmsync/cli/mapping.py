"""``crmsync mapping replay NAME``: re-synchronize every record of a mapping's CRM table at the
next start of ``inbound`` (SPEC §3.6).

Refused, with the reason and the numbers, when the inbound backlog or the CRM table holds
2,000,000 or more (the default limits), or when a replay is already pending. Exit codes: 0
requested, 1 invalid configuration or unknown mapping, 3 refused.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from crmsync.cli.config_cmds import ConfigOption
from crmsync.config import load_config
from crmsync.config.models import Config
from crmsync.errors import CrmsyncError
from crmsync.store import create_engine_for
from crmsync.sync.connections import count_rows, open_connector
from crmsync.sync.engine import open_queue
from crmsync.sync.state import DEFAULT_REPLAY_LIMIT, SyncState
from crmsync.sync.state_models import ReplayRefused, ReplayRequest

__all__ = ["app", "request_replay"]

app = typer.Typer(help="Inbound table mappings.", no_args_is_help=True)

EXIT_REFUSED = 3


async def request_replay(
    config: Config,
    name: str,
    *,
    limit_backlog: int,
    limit_rows: int,
    environ: Mapping[str, str] | None = None,
) -> ReplayRequest:
    """Check the limits and record the replay request of mapping ``name``."""
    mapping = next((m for m in config.inbound.mappings if m.name == name), None)
    if mapping is None:
        known = ", ".join(m.name for m in config.inbound.mappings) or "none"
        raise ReplayRefused(
            f"there is no inbound mapping '{name}' (mappings: {known})",
            code="UNKNOWN_MAPPING",
            mapping=name,
            value=None,
            limit=None,
        )
    engine = create_engine_for(config.store.url, schema=config.store.pg_schema)
    queue = open_queue(config)
    connector = open_connector(mapping.connection, config.connections[mapping.connection], environ)
    try:
        backlog = await queue.backlog()
        state = SyncState(engine)
        backlog += state.parked_count()
        rows = 0
        if backlog < limit_backlog:
            info = await connector.describe(mapping.crm_table)
            rows = await count_rows(connector, info.name, info.primary_key, limit=limit_rows)
        return state.request_replay(
            name,
            backlog=backlog,
            table_rows=rows,
            limit_backlog=limit_backlog,
            limit_rows=limit_rows,
        )
    finally:
        await connector.aclose()
        await queue.aclose()
        engine.dispose()


@app.command("replay")
def replay(
    name: Annotated[str, typer.Argument(help="The mapping's name.")],
    config: ConfigOption = Path("crmsync.yaml"),
    limit: Annotated[
        int, typer.Option(min=1, help="Refuse at this backlog or CRM table size.")
    ] = DEFAULT_REPLAY_LIMIT,
) -> None:
    """Replay every record of mapping NAME at the next start of inbound."""
    console = Console(stderr=True)
    try:
        request = asyncio.run(
            request_replay(load_config(config), name, limit_backlog=limit, limit_rows=limit)
        )
    except ReplayRefused as exc:
        console.print(f"[red]refused:[/red] {exc.message}")
        raise typer.Exit(1 if exc.code == "UNKNOWN_MAPPING" else EXIT_REFUSED) from None
    except CrmsyncError as exc:
        console.print(f"[red]replay failed:[/red] {exc}")
        raise typer.Exit(1) from None
    console.print(
        f"replay of '{name}' requested ({request.table_rows:,} CRM rows, backlog "
        f"{request.backlog:,}); it runs at the next start of inbound"
    )
