"""``crmsync run``: every configured workflow (inbound, outbound, optinout) side by side, until
stopped (SIGINT/SIGTERM) or, with ``--once``, until each has caught up and drained its backlog.

Each workflow runs on its active configuration revision. At start, a configuration file that
differs from a revision is applied and activated when that revision came from a file too, and
refused (exit 1, naming ``crmsync config apply`` and ``crmsync config export``) when it was
edited through the API or the console; pending revisions are activated, as a start under
``crmsync serve`` does (see docs/configuration.md, "Where the configuration lives").

With ``--role``, a process does part of the work, so that several processes (on several machines
with PostgreSQL) share it: ``reader`` reads the CRM into the queue (the inbound mappings whose
lease it takes, and the two-way push), ``writer`` applies the queue to the store (it never calls
the CRM), ``all`` (the default) does both and runs ``outbound`` and ``optinout``. Every process
registers as a worker (``crmsync status`` lists them) and takes a lease for each duty that must
have one doer at a time; docs/deploy.md describes a deployment.

Exit codes: 0 stopped cleanly or caught up, 1 invalid configuration, a file that differs from
edited revisions, or a failure it could not recover from (the reason is printed and recorded as
the workflow's ``FAILED`` status).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

import typer

from crmsync.cli.active import started_configs
from crmsync.cli.config_cmds import ConfigOption
from crmsync.cli.output import Table, cli_console
from crmsync.config import load_config
from crmsync.config.errors import ConfigError, ConfigIssue
from crmsync.config.models import Config
from crmsync.connectors.secrets import missing_secrets
from crmsync.errors import CrmsyncError
from crmsync.runtime.crm_checks import connections_used
from crmsync.runtime.process import freeze_startup_heap
from crmsync.runtime.queues import check_queue
from crmsync.runtime.workers import Worker
from crmsync.state.tables import COUNTER_NAMES as COUNTER_COLUMNS
from crmsync.state.workers import RunRole, WorkerRole
from crmsync.store import create_engine_for
from crmsync.sync.engine import EngineOptions, InboundEngine, RunSummary
from crmsync.sync.progress import InboundProgress, NoProgress, RichProgress
from crmsync.workflows import WORKFLOW_NAMES, run_side_by_side, standard_runs

__all__ = ["counts_table", "run", "summary_table"]

_HEADERS = {
    "unchanged": "unchanged (no write)",
    "crm_calls": "calls to the CRM",
    "campaign_writes": "writes to Campaign",
}
#: The counters a run's summary shows (``crmsync status`` shows them all).
_SHOWN = tuple(name for name in COUNTER_COLUMNS if name != "parked")
#: Writer processes of a worker that writes, unless ``--writer-processes`` says otherwise.
_WRITER_PROCESSES = 1


def summary_table(summary: RunSummary) -> Table:
    """The counts of this run, by mapping, as a table."""
    table = Table(title="inbound: this run")
    table.add_column("counter")
    for mapping in summary.counters:
        table.add_column(mapping, justify="right")
    documents = [counts.as_dict() for counts in summary.counters.values()]
    for name in _SHOWN:
        table.add_row(_HEADERS.get(name, name), *(f"{d[name]:,}" for d in documents))
    return table


def _check_secrets(file: Config) -> None:
    """Every secret the file's switched-on workflows need, found before anything is created (the
    store included): a run with a missing secret stops before it starts."""
    issues = [
        ConfigIssue(("connections", name, missing.setting), missing.message)
        for name in connections_used(file)
        for missing in missing_secrets(file.connections[name], file.connections[name].secrets)
    ]
    if issues:
        raise ConfigError(issues)


def _check_queue(file: Config) -> None:
    """A NATS queue that cannot be used (secrets, server, stream) stops the run before anything
    is created."""
    issues = asyncio.run(check_queue(file))
    if issues:
        raise ConfigError(issues)


def counts_table(results: Mapping[str, Mapping[str, int]]) -> Table:
    """The counts of this run of each other workflow (outbound, optinout), as a table."""
    table = Table(title="outbound and optinout: this run")
    table.add_column("workflow")
    table.add_column("counter")
    table.add_column("value", justify="right")
    for name, counts in results.items():
        for counter, value in counts.items():
            table.add_row(name, counter.replace("_", " "), f"{value:,}")
    return table


def _check_role(role: WorkerRole, config: Config, writer_processes: int | None) -> None:
    """A role that has nothing to do, or an option it would ignore, is refused."""
    where = ("inbound", "mappings")
    if role is not WorkerRole.ALL and not config.inbound.mappings:
        raise ConfigError(
            [ConfigIssue(where, f"--role {role} runs the inbound mappings: there is none")]
        )
    if role is WorkerRole.READER and writer_processes is not None:
        raise ConfigError(
            [ConfigIssue((), "--writer-processes is for a worker that writes: not --role reader")]
        )


async def _run(
    options: EngineOptions,
    bars: InboundProgress,
    once: bool,
    configs: Mapping[str, Config],
) -> tuple[RunSummary, dict[str, Mapping[str, int]]]:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    config = configs["inbound"]
    # outbound and optinout run next to the inbound engine in a worker of role all, on the same
    # stop signal, each on its own workflow's configuration.
    runs = [
        run
        for name in ("outbound", "optinout")
        for run in standard_runs(configs[name])
        if run.name == name and options.role is WorkerRole.ALL
    ]
    store = create_engine_for(config.store.url, schema=config.store.pg_schema)
    try:
        async with Worker(store, options.role) as worker:
            if not config.inbound.mappings:
                others = await run_side_by_side(config, runs, once=once, stop=stop, worker=worker)
                return RunSummary(), others
            engine = InboundEngine(config, options=options, progress=bars, worker=worker)
            async with engine:
                return await asyncio.gather(
                    engine.run(once=once, stop=stop),
                    run_side_by_side(config, runs, once=once, stop=stop, worker=worker),
                )
    finally:
        store.dispose()


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
    writer_processes: Annotated[
        int | None,
        typer.Option(
            min=0,
            show_default="1",
            help="Processes applying changes to the store (0: in this process; more than 1 "
            "only helps PostgreSQL).",
        ),
    ] = None,
    role: Annotated[
        RunRole,
        typer.Option(
            help="What this process does: read the CRM (reader), write the store (writer) or "
            "both, with outbound and optinout (all).",
        ),
    ] = "all",
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log each step.")] = False,
) -> None:
    """Run every configured workflow: inbound, outbound and optinout.

    What this run did is printed on stdout once it ends; progress and logs go to stderr. With
    --once: a reader reads until caught up; a writer drains the queue once every mapping has
    been read and no reader runs; all does both.
    """
    console, errors = cli_console(), cli_console(stderr=True)
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        file = load_config(config)
        worker_role = WorkerRole(role)
        if worker_role is not WorkerRole.WRITER:  # a writer never calls a CRM
            _check_secrets(file)
        _check_queue(file)
        configs = started_configs(config, WORKFLOW_NAMES)
        loaded = configs["inbound"]
        _check_role(worker_role, loaded, writer_processes)
        names = [m.name for m in loaded.inbound.mappings]
        bars: InboundProgress = RichProgress(names, errors) if progress else NoProgress()
        options = EngineOptions(
            ack_wait_seconds=ack_wait,
            parent_wait_seconds=parent_wait,
            poll_interval_seconds=poll_interval,
            writer_processes=_WRITER_PROCESSES if writer_processes is None else writer_processes,
            role=worker_role,
        )
        freeze_startup_heap()
        summary, others = asyncio.run(_run(options, bars, once, configs))
    except CrmsyncError as exc:
        errors.print(f"[red]run failed:[/red] {exc}")
        raise typer.Exit(1) from None
    if loaded.inbound.mappings:
        console.print(summary_table(summary))
    if others:
        console.print(counts_table(others))
    if summary.rejects:
        console.print(
            f"{summary.rejects:,} record(s) rejected by this run: see [bold]crmsync status[/bold]"
        )
