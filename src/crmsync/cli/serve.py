"""``crmsync serve``: the three workflows' supervisor, the REST API and the web console in one
process.

The workflows do not start by themselves: start them through the API (``POST
/api/workflows/{name}/start``) or pass ``--start`` with each name. On SIGINT/SIGTERM every running
workflow is stopped cleanly and the process exits with status 0. The jobs of the jobs folder
that have a ``schedule`` run at their times (docs/jobs.md, "Schedules").
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from crmsync.cli.active import open_active
from crmsync.cli.config_cmds import ConfigOption
from crmsync.cli.output import cli_console
from crmsync.errors import CrmsyncError
from crmsync.workflows import WORKFLOW_NAMES, ActiveConfig

__all__ = ["serve"]


async def _serve(active: ActiveConfig, host: str, port: int, start: list[str], jobs: Path) -> None:
    # The web application loads here, not with every other command.
    import uvicorn

    from crmsync.api import create_app
    from crmsync.api.users import UserStore
    from crmsync.runtime.workers import Worker
    from crmsync.serving import StoppableServer
    from crmsync.state.workers import WorkerRole
    from crmsync.workflows import Supervisor, standard_specs

    engine = active.history.engine
    try:
        # This process in the registry: its workflows take their leases as this worker.
        async with Worker(engine, WorkerRole.SERVE) as worker:
            specs = standard_specs(worker=worker)
            supervisor = Supervisor(engine, active.text, specs, base=active.base)
            try:
                for name in start:
                    await supervisor.start(name)
                app = create_app(supervisor, UserStore(engine), jobs_folder=jobs, worker=worker)
                config = uvicorn.Config(app, host=host, port=port, log_level="info")
                await StoppableServer(config).serve()
            finally:
                await supervisor.close()
    finally:
        engine.dispose()


def serve(
    config: ConfigOption = Path("crmsync.yaml"),
    host: Annotated[str, typer.Option(help="The address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="The port to listen on.")] = 8080,
    start: Annotated[
        list[str] | None, typer.Option("--start", help="Start this workflow (repeatable).")
    ] = None,
    jobs: Annotated[
        Path,
        typer.Option(
            file_okay=False, help="The folder of the job files the API and console can run."
        ),
    ] = Path("jobs"),
) -> None:
    """Run the workflows' supervisor, the REST API and the web console."""
    try:
        # The file as written is the first configuration revision of a workflow that has none;
        # the relative paths of every revision resolve against its folder.
        active = open_active(config, WORKFLOW_NAMES)
        asyncio.run(_serve(active, host, port, start or [], jobs))
    except CrmsyncError as exc:
        cli_console(stderr=True).print(f"[red]serve failed:[/red] {exc}")
        raise typer.Exit(1) from None
