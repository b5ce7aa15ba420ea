"""``crmsync status``: each workflow's status and backlog, each inbound mapping's counters; a
two-way mapping's conflicts logged and Campaign edits waiting for the merge too; every worker
(``crmsync run`` and ``serve`` process) registered, live or gone, with the leases it holds.

Reads the sync state and the queue only; it does not contact the CRM.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.text import Text

from crmsync.cli.active import active_configs
from crmsync.cli.config_cmds import ConfigOption
from crmsync.cli.output import Table, cli_console
from crmsync.config.models import Config
from crmsync.errors import CrmsyncError
from crmsync.runtime.queues import open_queue
from crmsync.state.store import StateStore
from crmsync.state.tables import COUNTER_NAMES
from crmsync.store import create_engine_for
from crmsync.twoway import two_way_figures
from crmsync.workflows import WORKFLOW_NAMES, store_backlogs

__all__ = ["collect_status", "status"]


async def collect_status(configs: Mapping[str, Config]) -> dict[str, Any]:
    """The status document ``status --json`` prints, from each workflow's configuration."""
    config = configs["inbound"]
    engine = create_engine_for(config.store.url, schema=config.store.pg_schema)
    queue = open_queue(config)
    try:
        state = StateStore(engine)
        statuses = state.statuses.all()
        counters = state.counters.by_mapping()
        with engine.connect() as conn:
            figures = two_way_figures(conn, config.inbound.mappings)
        mappings: dict[str, Any] = {}
        inbound_backlog = 0
        for mapping in config.inbound.mappings:
            queued = await queue.backlog(mapping.name)
            parked = state.parked.count(mapping.name)
            inbound_backlog += queued + parked
            counts = counters.get(mapping.name)
            mappings[mapping.name] = {
                "backlog": queued + parked,
                "queued": queued,
                "parked": parked,
                "dead_letters": await queue.dead_letter_count(mapping.name),
                "rejects": state.rejects.count(mapping.name),
                "cursor_saved_at": _iso(state.cursors.updated_at(mapping.name)),
                "counters": counts.as_dict() if counts else dict.fromkeys(COUNTER_NAMES, 0),
            }
            two_way = figures.get(mapping.name)
            if two_way is not None:
                mappings[mapping.name]["two_way"] = {
                    "conflicts": two_way.conflicts,
                    "waiting_edits": two_way.waiting_edits,
                }
        backlogs = {
            "inbound": inbound_backlog,
            "outbound": store_backlogs(engine, configs["outbound"])["outbound"],
            "optinout": store_backlogs(engine, configs["optinout"])["optinout"],
        }
        workflows = {}
        for name in WORKFLOW_NAMES:
            found = statuses.get(name)
            workflows[name] = {
                "status": found.status.value if found else "STOPPED",
                "reason": found.reason if found else None,
                "since": _iso(found.updated_at) if found else None,
                "backlog": backlogs.get(name, 0),
            }
        workers = [
            {
                "id": w.id,
                "role": w.role,
                "host": w.host,
                "pid": w.pid,
                "started_at": _iso(w.started_at),
                "heartbeat_at": _iso(w.heartbeat_at),
                "stopped_at": _iso(w.stopped_at),
                "holds": list(w.holds),
                "gone": w.gone,
            }
            for w in state.workers.all()
        ]
        return {"workflows": workflows, "mappings": mappings, "workers": workers}
    finally:
        await queue.aclose()
        engine.dispose()


def _iso(value: Any) -> str | None:
    return None if value is None else value.isoformat()


def status(
    config: ConfigOption = Path("crmsync.yaml"),
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Show each workflow's status and backlog and each mapping's counters."""
    console = cli_console()
    try:
        document = asyncio.run(collect_status(active_configs(config, WORKFLOW_NAMES)))
    except CrmsyncError as exc:
        cli_console(stderr=True).print(f"[red]status failed:[/red] {exc}")
        raise typer.Exit(1) from None
    if as_json:
        typer.echo(json.dumps(document, indent=2))
        return
    workflows = Table(title="workflows")
    for column in ("workflow", "status", "backlog", "since", "reason"):
        workflows.add_column(column)
    for name, item in document["workflows"].items():
        workflows.add_row(
            name, item["status"], f"{item['backlog']:,}", item["since"] or "", item["reason"] or ""
        )
    console.print(workflows)
    # One row per counter, one column per mapping: readable on a laptop's terminal whatever the
    # number of counters (mappings are few; counters are many).
    mappings = Table(title="inbound mappings")
    mappings.add_column("counter")
    items = document["mappings"]
    for name in items:
        mappings.add_column(Text(name), justify="right")
    mappings.add_row("backlog", *(f"{item['backlog']:,}" for item in items.values()))
    for counter in COUNTER_NAMES:
        mappings.add_row(
            counter.replace("_", " "),
            *(f"{item['counters'][counter]:,}" for item in items.values()),
        )
    if any("two_way" in item for item in items.values()):
        # Two-way mappings only: a one-way mapping's cells stay empty.
        two_way = [item.get("two_way") for item in items.values()]
        mappings.add_row("two-way", *("yes" if t else "" for t in two_way))
        for key, label in (("conflicts", "conflicts"), ("waiting_edits", "Campaign edits waiting")):
            mappings.add_row(label, *(f"{t[key]:,}" if t else "" for t in two_way))
    console.print(mappings)
    console.print(_workers_table(document["workers"]))


def _workers_table(workers: list[dict[str, Any]]) -> Table:
    table = Table(title="workers")
    for column in ("worker", "role", "host", "pid", "last heartbeat", "holds", "state"):
        table.add_column(column)
    for worker in workers:
        state = "stopped" if worker["stopped_at"] else "gone" if worker["gone"] else "live"
        table.add_row(
            Text(worker["id"]),
            worker["role"],
            Text(worker["host"]),
            str(worker["pid"]),
            worker["heartbeat_at"],
            Text(", ".join(worker["holds"])),
            state,
        )
    return table
