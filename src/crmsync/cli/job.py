"""``crmsync job``: validate, run, resume, list and show job runs, and their rejects.

Exit codes: 0 success, 1 invalid job/configuration or a failed run (resume it with
``crmsync job resume RUN_ID``).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from pydantic import TypeAdapter
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Column
from rich.text import Text

from crmsync.audit import Action, Actor, recorded
from crmsync.cli.active import active_config
from crmsync.cli.config_cmds import ConfigOption, print_report
from crmsync.cli.output import Table, cli_console
from crmsync.config import Config, check_config_file
from crmsync.config.errors import ConfigIssue
from crmsync.errors import CrmsyncError
from crmsync.jobs import ConnectorPool, JobFile, JobRunner, JobStore, check_job_text
from crmsync.jobs.context import Progress as ProgressCallback
from crmsync.jobs.folder import JobFileFound, read_job_folder
from crmsync.jobs.runner import RunFailed
from crmsync.jobs.schedule import next_run
from crmsync.jobs.store import RunInfo
from crmsync.store import create_engine_for
from crmsync.workflows.revisions import JOBS_WORKFLOW

__all__ = ["app", "open_store"]

app = typer.Typer(help="Jobs: pipelines of CRM and Campaign steps.", no_args_is_help=True)
VarOption = Annotated[
    list[str] | None,
    typer.Option("--var", help="A variable, NAME=VALUE (repeatable)."),
]


def _config(path: Path, errors: Console) -> Config:
    """The configuration file (its store holds the runs and options)."""
    report = check_config_file(path)
    if report.config is None or report.errors:
        print_report(report, errors)
        raise typer.Exit(1)
    return report.config


def _run_config(path: Path, errors: Console) -> Config:
    """What job runs use, as the server's do: the active configuration of inbound."""
    _config(path, errors)  # a bad file: every problem, as `crmsync validate` lists them
    try:
        return active_config(path, JOBS_WORKFLOW)
    except CrmsyncError as exc:
        errors.print(Text(f"error: {exc.message}"))
        raise typer.Exit(1) from None


def open_store(config: Config) -> JobStore:
    """The job store of ``config``'s store; exits 1 saying why when it cannot be opened (e.g. a
    store upgraded by a newer crmsync)."""
    engine = create_engine_for(config.store.url, schema=config.store.pg_schema)
    try:
        return JobStore(engine)
    except CrmsyncError as exc:
        engine.dispose()
        cli_console(stderr=True).print("[red]error[/red]:", Text(exc.message))
        raise typer.Exit(1) from None


def _variables(items: list[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise typer.BadParameter(f"--var {item!r}: expected NAME=VALUE")
        out[name.strip()] = value
    return out


def _print_issues(issues: Sequence[ConfigIssue], console: Console) -> None:
    for issue in issues:
        console.print(Text(str(issue)), soft_wrap=True)


@app.command("validate")
def validate(
    job_file: Annotated[Path, typer.Argument(dir_okay=False)],
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            dir_okay=False,
            help="Also check the job's connections against this configuration file.",
        ),
    ] = None,
) -> None:
    """Check a job file; list every problem with its path and line."""
    console, errors = cli_console(), cli_console(stderr=True)
    connections = None if config is None else _run_config(config, errors).connections
    try:
        text = job_file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        errors.print(Text(f"{job_file}: cannot read: {exc}"))
        raise typer.Exit(1) from None
    job, issues = check_job_text(text, source=str(job_file), connections=connections)
    _print_issues(issues, errors)
    if job is None:
        raise typer.Exit(1)
    console.print(f"[green]{job_file}: valid[/green] ({len(job.steps)} steps)")


class _Bars:
    """One progress bar per step execution, on stderr."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress

    def __call__(self, step: str) -> ProgressCallback:
        task = self.progress.add_task(step, total=None)

        def update(done: int, total: int | None) -> None:
            self.progress.update(task, completed=done, total=total)

        return update


async def _run(
    config: Config,
    job: JobFile | None,
    text: str = "",
    source: str = "",
    variables: dict[str, str] | None = None,
    *,
    resume: str | None = None,
    fresh: bool = False,
) -> str:
    store = open_store(config)
    campaign = create_engine_for(config.store.url, schema=config.store.pg_schema)
    pool = ConnectorPool(config)
    columns = (
        TextColumn("{task.description}", table_column=Column(overflow="fold")),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    action, target = (Action.JOB_RUN, job.name) if job else (Action.JOB_RESUME, resume or "")
    try:
        with (
            recorded(store.engine, Actor.cli(), action, target) as details,
            Progress(*columns, console=cli_console(stderr=True), transient=False) as progress,
        ):
            runner = JobRunner(store, campaign, pool, on_step=_Bars(progress))
            try:
                if job is None:
                    details["run_id"] = await runner.resume(resume or "")
                else:
                    details["run_id"] = await runner.run(
                        job, text, source=source, variables=variables, continue_unfinished=not fresh
                    )
            except RunFailed as exc:
                details["run_id"] = exc.run_id
                raise
            return str(details["run_id"])
    finally:
        await pool.aclose()
        campaign.dispose()
        store.engine.dispose()


def _finish(config: Config, run_id: str | None, failed: str | None) -> None:
    console = cli_console(stderr=True)
    if run_id is not None:
        store = open_store(config)
        for step, level, message in store.log_lines(run_id):
            console.print(Text(f"{level}: {step}: {message}"))
        store.engine.dispose()
    if failed is not None:
        console.print(Text(f"run {run_id} failed: {failed}"))
        console.print(Text(f"resume it with: crmsync job resume {run_id}"))
        raise typer.Exit(1)
    typer.echo(run_id)


@app.command("run")
def run(
    job_file: Annotated[Path, typer.Argument(dir_okay=False)],
    config: ConfigOption = Path("crmsync.yaml"),
    var: VarOption = None,
    new: Annotated[
        bool, typer.Option("--new", help="Start afresh even if the last run did not finish.")
    ] = False,
) -> None:
    """Run a job (or finish its last run if that one did not finish); print the run id."""
    errors = cli_console(stderr=True)
    settings = _run_config(config, errors)
    text = job_file.read_text(encoding="utf-8")
    job, issues = check_job_text(text, source=str(job_file), connections=settings.connections)
    if job is None:
        _print_issues(issues, errors)
        raise typer.Exit(1)
    try:
        run_id = asyncio.run(_run(settings, job, text, str(job_file), _variables(var), fresh=new))
    except RunFailed as exc:
        _finish(settings, exc.run_id, exc.message)
        return
    except CrmsyncError as exc:
        errors.print(Text(f"error: {exc.message}"))
        raise typer.Exit(1) from None
    _finish(settings, run_id, None)


@app.command("resume")
def resume(run_id: str, config: ConfigOption = Path("crmsync.yaml")) -> None:
    """Continue a run where it stopped (after a crash or a failed step)."""
    errors = cli_console(stderr=True)
    settings = _run_config(config, errors)
    try:
        done = asyncio.run(_run(settings, None, resume=run_id))
    except RunFailed as exc:
        _finish(settings, exc.run_id, exc.message)
        return
    except CrmsyncError as exc:
        errors.print(Text(f"error: {exc.message}"))
        raise typer.Exit(1) from None
    _finish(settings, done, None)


#: A run as ``job list --json`` prints it: the fields of an item of ``GET /api/runs``.
_RUN_JSON = TypeAdapter(RunInfo)
#: How many of its latest runs ``job list --jobs`` shows of each job (as ``GET /api/jobs``).
_HISTORY = 5


def _run_json(info: RunInfo) -> dict[str, object]:
    return dict(_RUN_JSON.dump_python(info, mode="json", exclude={"job_text"}))


def _job_json(found: JobFileFound, store: JobStore, now: datetime) -> dict[str, object]:
    """A job file as ``job list --jobs --json`` prints it: the fields of ``GET /api/jobs``."""
    job = found.job
    schedule = job.schedule if job is not None else None
    history = [_run_json(info) for info in store.runs(_HISTORY, job=found.name)]
    upcoming = next_run(job, now, store.schedule_state(found.name)) if job else None
    return {
        "name": found.name,
        "file": found.path.name,
        "valid": job is not None,
        "issues": list(found.issues),
        "schedule": {"cron": schedule.cron, "timezone": schedule.timezone or job.timezone}
        if job is not None and schedule is not None
        else None,
        "next_run": upcoming.isoformat() if upcoming else None,
        "last_run": history[0] if history else None,
        "history": history,
    }


def _list_jobs(config: Path, folder: Path, as_json: bool) -> None:
    settings = _run_config(config, cli_console(stderr=True))
    store = open_store(settings)
    now = datetime.now(UTC)
    entries = [
        _job_json(found, store, now) for found in read_job_folder(folder, settings.connections)
    ]
    if as_json:
        typer.echo(json.dumps(entries, indent=2))
        return
    table = Table("job", "schedule", "next run", "last run", "result")
    for entry in entries:
        schedule = entry["schedule"]
        last = entry["last_run"]
        table.add_row(
            Text(str(entry["name"])),
            Text(f"{schedule['cron']} ({schedule['timezone']})")
            if isinstance(schedule, dict)
            else Text("" if entry["valid"] else "invalid: crmsync job validate"),
            str(entry["next_run"] or "")[:16].replace("T", " "),
            str(last["started_at"])[:16].replace("T", " ") if isinstance(last, dict) else "",
            Text(f"{last['status']}: {last['error']}" if last["error"] else str(last["status"]))
            if isinstance(last, dict)
            else "",
        )
    cli_console().print(table)


@app.command("list")
def list_runs(
    config: ConfigOption = Path("crmsync.yaml"),
    limit: Annotated[int, typer.Option(min=1)] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print the runs as JSON.")] = False,
    jobs: Annotated[
        Path | None,
        typer.Option(
            "--jobs",
            file_okay=False,
            help="List the job files of this folder instead: schedule, next run, last result "
            "and latest runs.",
        ),
    ] = None,
) -> None:
    """The latest job runs, newest first (with --jobs: the job files of a folder)."""
    if jobs is not None:
        _list_jobs(config, jobs, as_json)
        return
    store = open_store(_config(config, cli_console(stderr=True)))
    if as_json:
        runs = [_run_json(info) for info in store.runs(limit)]
        typer.echo(json.dumps(runs, indent=2))
        return
    table = Table("job", "status", "started", "finished", "run")
    # The run id is what users copy into `job show`: never cut it, whatever the width.
    table.columns[4].no_wrap = True
    table.columns[4].min_width = 32
    for info in store.runs(limit):
        table.add_row(
            Text(info.job),
            info.status,
            info.started_at.isoformat(timespec="minutes"),
            info.finished_at.isoformat(timespec="minutes") if info.finished_at else "",
            info.id,
        )
    cli_console().print(table)


@app.command("show")
def show(
    run_id: str,
    config: ConfigOption = Path("crmsync.yaml"),
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """A run: its steps with their counts, variables, rejects and log."""
    store = open_store(_config(config, cli_console(stderr=True)))
    info = store.run(run_id)
    if info is None:
        cli_console(stderr=True).print(Text(f"no job run '{run_id}'"))
        raise typer.Exit(1)
    steps = store.steps(run_id)
    rejects = store.rejects(run_id)
    document = {
        "id": info.id,
        "job": info.job,
        "status": info.status,
        "error": info.error,
        "steps": [
            {"seq": s.seq, "step": s.step, "status": s.status, "counts": s.counts, "error": s.error}
            for s in steps
        ],
        "variables": store.variables(run_id),
        "rejects": len(rejects),
        "log": [{"step": a, "level": b, "message": c} for a, b, c in store.log_lines(run_id)],
    }
    if as_json:
        typer.echo(json.dumps(document, indent=2, default=str))
        return
    console = cli_console()
    console.print(Text(f"run {info.id} of {info.job}: {info.status}"))
    table = Table("#", "step", "status", "counts", "error")
    for s in steps:
        counts = ", ".join(f"{k}={v}" for k, v in s.counts.items())
        table.add_row(str(s.seq), Text(s.step), s.status, counts, Text(s.error or ""))
    console.print(table)
    for name, value in store.variables(run_id).items():
        console.print(Text(f"{name} = {value}"))
    console.print(f"rejects: {len(rejects)}")


@app.command("rejects")
def rejects(
    run_id: str,
    config: ConfigOption = Path("crmsync.yaml"),
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The rejected records of a run, with their error code and message."""
    store = open_store(_config(config, cli_console(stderr=True)))
    found = store.rejects(run_id)
    if as_json:
        typer.echo(json.dumps(found, indent=2, default=str))
        return
    table = Table("step", "errorSymbol", "errorMessage", "record")
    for item in found:
        table.add_row(
            Text(item["step"]),
            Text(item["errorSymbol"]),
            Text(item["errorMessage"]),
            Text(json.dumps(item["record"], default=str)[:200]),
        )
    cli_console().print(table)
