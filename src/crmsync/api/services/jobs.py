"""Jobs and their runs: the job files of the server's jobs folder, started in the background.

The jobs known to the server are the ``*.yaml``/``*.yml`` files of its jobs folder (``jobs/``
beside the configuration by default), read again at every request: dropping a file in the folder
is enough. A job is named by its ``name`` key. Runs use the connections and the store of the
active configuration (``inbound``'s active revision) and are recorded in the job store exactly as
``crmsync job run`` records them, so ``crmsync job show`` and the API see the same runs.

Starting a job whose last run of the same file did not finish resumes that run (like ``crmsync
job run``), unless ``new`` is asked for. A job runs at most once at a time in the server; with a
worker (``crmsync serve``), a run holds the job's lease (``job:<name>``), so that no other server
on the same store runs it meanwhile. A run interrupted by the server's stop stays ``running`` in
the store and can be resumed.

Jobs with a ``schedule`` are run by :meth:`JobService.run_schedules` at their times, by the same
path (see :mod:`crmsync.jobs.schedule` for when a job is due and the missed-run policy). A slot
that comes while the job runs is run once that run ends: one run, however many slots passed.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from crmsync.api.errors import Conflict, NotFound
from crmsync.audit import Action, Actor, recorded
from crmsync.config.models import Config
from crmsync.config.names import CrmName
from crmsync.errors import CrmsyncError
from crmsync.jobs import ConnectorPool, JobFile, JobRunner, JobStore, RunFailed
from crmsync.jobs.folder import JobFileFound, read_job_folder
from crmsync.jobs.schedule import Decision, decide, next_run, schedule_key
from crmsync.jobs.store import RunInfo
from crmsync.runtime.workers import Worker, job_lease
from crmsync.workflows.revisions import JOBS_WORKFLOW
from crmsync.workflows.supervisor import Supervisor

__all__ = [
    "JobOut",
    "JobService",
    "LogLine",
    "RunDetail",
    "RunOut",
    "RunReject",
    "RunStart",
    "RunStarted",
    "ScheduleOut",
    "StepOut",
]

logger = logging.getLogger(__name__)

#: The workflow whose active configuration gives jobs their connections and store.
CONFIG_WORKFLOW = JOBS_WORKFLOW


def _now() -> datetime:
    return datetime.now(UTC)


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class ScheduleOut(_Out):
    cron: str
    timezone: str = Field(description="The time zone the cron expression is read in.")


class RunOut(_Out):
    id: str
    job: str
    source: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    error: str | None


class JobOut(_Out):
    name: str = Field(description="The job's name (the file's name when the file is invalid).")
    file: str
    description: str
    steps: tuple[str, ...]
    valid: bool
    issues: tuple[str, ...] = Field(description="Every problem of the file, with its line.")
    running: str | None = Field(description="The id of the run under way in this server.")
    schedule: ScheduleOut | None = Field(description="When the server runs the job by itself.")
    next_run: datetime | None = Field(
        description="When the server runs the scheduled job next (a time already passed: "
        "it is due now, waiting for a run under way to end)."
    )
    last_run: RunOut | None = Field(description="The job's latest run, with its result.")
    history: tuple[RunOut, ...] = Field(description="The job's latest runs, newest first.")


class RunStart(BaseModel):
    model_config = ConfigDict(extra="forbid")

    variables: Annotated[
        dict[CrmName, Annotated[str, Field(pattern=r"^[^\x00]*$")]],
        Field(max_length=100, description="Override the job's variables (like --var)."),
    ] = Field(default_factory=dict)
    new: bool = Field(
        default=False, description="Start afresh even when the last run did not finish."
    )


class RunStarted(_Out):
    run_id: str
    job: str
    resumed: bool = Field(description="An unfinished run of the same job file was resumed.")


class StepOut(_Out):
    seq: int
    step: str
    status: str
    counts: dict[str, int]
    error: str | None


class LogLine(_Out):
    step: str
    level: str
    message: str


class RunDetail(RunOut):
    active: bool = Field(description="Being run by this server now.")
    steps: tuple[StepOut, ...]
    variables: dict[str, str]
    rejects: int
    log: tuple[LogLine, ...]


class RunReject(_Out):
    step: str
    errorSymbol: str
    errorMessage: str
    record: dict[str, Any]


def _run_out(info: RunInfo) -> RunOut:
    return RunOut(
        id=info.id,
        job=info.job,
        source=info.source,
        status=info.status,
        started_at=info.started_at,
        finished_at=info.finished_at,
        error=info.error,
    )


class JobService:
    """Job files of ``folder``; runs in ``supervisor``'s store, driven in the background."""

    def __init__(
        self,
        supervisor: Supervisor,
        folder: Path,
        *,
        connectors: Callable[[Config], ConnectorPool] | None = None,
        worker: Worker | None = None,
        now: Callable[[], datetime] = _now,
        history: int = 5,
    ) -> None:
        self.supervisor = supervisor
        self.worker = worker
        self.now = now
        self.history = history
        self.folder = folder
        self.store = JobStore(supervisor.engine)
        self._connectors = connectors or (lambda config: ConnectorPool(config, supervisor.environ))
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._running_jobs: dict[str, str] = {}

    # -- job files ------------------------------------------------------------------------------

    def _files(self) -> builtins.list[JobFileFound]:
        # The connections the job would run with: a step naming another makes the file invalid.
        connections = self.supervisor.config(CONFIG_WORKFLOW).connections
        return read_job_folder(self.folder, connections)

    def list(self) -> builtins.list[JobOut]:
        out: builtins.list[JobOut] = []
        for f in self._files():
            history = tuple(_run_out(info) for info in self.store.runs(self.history, job=f.name))
            schedule = f.job.schedule if f.job else None
            out.append(
                JobOut(
                    name=f.name,
                    file=f.path.name,
                    description=f.job.description if f.job else "",
                    steps=tuple(f.job.steps) if f.job else (),
                    valid=f.job is not None,
                    issues=f.issues,
                    running=self._running_jobs.get(f.name),
                    schedule=ScheduleOut(
                        cron=schedule.cron, timezone=schedule.timezone or f.job.timezone
                    )
                    if f.job and schedule
                    else None,
                    next_run=next_run(f.job, self.now(), self.store.schedule_state(f.name))
                    if f.job
                    else None,
                    last_run=history[0] if history else None,
                    history=history,
                )
            )
        return out

    def _job(self, name: str) -> JobFileFound:
        for found in self._files():
            if found.name == name and found.job is not None:
                return found
        raise NotFound(
            f"there is no valid job '{name}' in {self.folder} (GET /api/jobs lists them)",
            code="UNKNOWN_JOB",
        )

    # -- runs -----------------------------------------------------------------------------------

    async def start(self, name: str, request: RunStart, *, by: Actor) -> RunStarted:
        """Start (or resume, see the module) a run of job ``name`` in the background."""
        with recorded(self.supervisor.engine, by, Action.JOB_RUN, name) as details:
            started = self._start(name, request)
            details.update(run_id=started.run_id, resumed=started.resumed)
            return started

    def _start(self, name: str, request: RunStart) -> RunStarted:
        found = self._job(name)
        job = found.job
        assert job is not None  # _job returns valid jobs only
        if name in self._running_jobs:
            raise Conflict(
                f"job '{name}' is running already (run {self._running_jobs[name]})",
                code="JOB_RUNNING",
            )
        if self.worker is not None and not self.worker.take(job_lease(name)):
            raise Conflict(
                f"job '{name}' is being run by another crmsync server", code="JOB_RUNNING"
            )
        config = self.supervisor.config(CONFIG_WORKFLOW)
        unfinished = None if request.new else self.store.unfinished_run(job.name, found.text)
        if unfinished is not None:
            self.store.log(unfinished.id, job.first_step, "info", "resumed by a new run")
            run_id = unfinished.id
        else:
            variables = {**job.variables, **request.variables}
            run_id = self.store.create_run(
                job.name, str(found.path), found.text, variables, job.first_step
            )
        self._launch(run_id, job.name, config)
        return RunStarted(run_id=run_id, job=job.name, resumed=unfinished is not None)

    async def resume(self, run_id: str, *, by: Actor) -> RunStarted:
        """Continue a failed or interrupted run in the background."""
        with recorded(self.supervisor.engine, by, Action.JOB_RESUME, run_id) as details:
            info = self._info(run_id)
            details["job"] = info.job
            if run_id in self._tasks or info.job in self._running_jobs:
                raise Conflict(f"job '{info.job}' is running already", code="JOB_RUNNING")
            if self.worker is not None and not self.worker.take(job_lease(info.job)):
                raise Conflict(
                    f"job '{info.job}' is being run by another crmsync server",
                    code="JOB_RUNNING",
                )
            if info.status == "succeeded":
                raise Conflict(
                    f"run {run_id} has succeeded: nothing to resume", code="RUN_SUCCEEDED"
                )
            self._launch(run_id, info.job, self.supervisor.config(CONFIG_WORKFLOW))
            return RunStarted(run_id=run_id, job=info.job, resumed=True)

    def _launch(self, run_id: str, job: str, config: Config) -> None:
        self._running_jobs[job] = run_id
        task = asyncio.get_running_loop().create_task(self._drive(run_id, job, config))
        self._tasks[run_id] = task

    async def _drive(self, run_id: str, job: str, config: Config) -> None:
        pool = self._connectors(config)
        try:
            await JobRunner(self.store, self.supervisor.engine, pool).resume(run_id)
        except RunFailed:
            pass  # recorded in the store with the step's error; resumable
        except Exception as exc:  # a run must end recorded, whatever stopped it
            message = exc.message if isinstance(exc, CrmsyncError) else repr(exc)
            logger.error("job run %s failed: %s", run_id, message)
            self.store.finish_run(run_id, "failed", message)
        finally:
            self._tasks.pop(run_id, None)
            self._running_jobs.pop(job, None)
            if self.worker is not None:
                await asyncio.to_thread(self.worker.release, job_lease(job))
            await pool.aclose()

    # -- schedules ------------------------------------------------------------------------------

    async def run_schedules(self, stop: asyncio.Event, tick: float = 1.0) -> None:
        """Run the scheduled jobs at their times, every ``tick`` seconds, until ``stop``."""
        while not stop.is_set():
            try:
                self.tick()
            except Exception as exc:  # the next tick tries again; a schedule must not stop
                logger.error("job schedules: %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), tick)

    def tick(self) -> builtins.list[str]:
        """Start each scheduled job that is due now; the ids of the runs started."""
        started: builtins.list[str] = []
        for found in self._files():
            job = found.job
            if job is None or job.schedule is None:
                continue
            try:
                run_id = self._due(job)
            except Exception as exc:  # one job's trouble must not hold the others back
                logger.error("job %s: the scheduled run could not start: %s", job.name, exc)
                continue
            if run_id is not None:
                started.append(run_id)
        return started

    def _decision_now(self, job: JobFile) -> Decision | None:
        return decide(job, self.now(), self.store.schedule_state(job.name))

    def _due(self, job: JobFile) -> str | None:
        decision = self._decision_now(job)
        if decision is None:
            return None
        slot = decision.slot
        if not decision.run:  # a new or changed schedule: nothing was missed
            self.store.remember_slot(job.name, schedule_key(job), slot, None)
            return None
        # One run at a time: a run under way here or in another server makes the slot wait.
        if job.name in self._running_jobs:
            return None
        lease = job_lease(job.name)
        if self.worker is not None:
            if not self.worker.take(lease):
                return None
            decision = self._decision_now(job)  # again, with the lease: another server ran it?
            if decision is None or not decision.run:
                self.worker.release(lease)
                return None
        try:
            started = self._start(job.name, RunStart())
        except Exception:
            if self.worker is not None:
                self.worker.release(lease)
            raise
        self.store.remember_slot(job.name, schedule_key(job), slot, started.run_id)
        logger.info(
            "job %s: scheduled run %s for %s started", job.name, started.run_id, slot.isoformat()
        )
        return started.run_id

    async def wait(self) -> None:
        """Until every run under way has ended."""
        while self._tasks:
            await asyncio.gather(*self._tasks.values(), return_exceptions=True)

    async def close(self) -> None:
        """Cancel the runs under way (they stay ``running``, resumable)."""
        for task in list(self._tasks.values()):
            task.cancel()
        await self.wait()

    def _info(self, run_id: str) -> RunInfo:
        info = self.store.run(run_id)
        if info is None:
            raise NotFound(f"there is no job run '{run_id}'", code="UNKNOWN_RUN")
        return info

    def runs(self, limit: int = 50) -> builtins.list[RunOut]:
        """The latest runs, newest first."""
        return [_run_out(info) for info in self.store.runs(limit)]

    def run(self, run_id: str) -> RunDetail:
        """A run: its steps with status and counts, variables, reject count, log."""
        info = self._info(run_id)
        steps = tuple(
            StepOut(seq=s.seq, step=s.step, status=s.status, counts=s.counts, error=s.error)
            for s in self.store.steps(run_id)
        )
        log = tuple(
            LogLine(step=step, level=level, message=message)
            for step, level, message in self.store.log_lines(run_id)
        )
        return RunDetail(
            **_run_out(info).model_dump(),
            active=run_id in self._tasks,
            steps=steps,
            variables=self.store.variables(run_id),
            rejects=len(self.store.rejects(run_id)),
            log=log,
        )

    def rejects(self, run_id: str) -> builtins.list[RunReject]:
        self._info(run_id)
        return [RunReject.model_validate(item) for item in self.store.rejects(run_id)]
