"""Running a job: steps in transition order, every execution recorded, resumable after a crash.

The run is a queue of step executions kept in the store (``crmsync_job_steps``). Running one
execution and enqueueing its successors (``next`` with its rows, ``on_reject`` with its rejects,
``on_error`` with the error) happen in one transaction, so a run stopped at any point resumes
with exactly the executions that had not finished (:func:`resume_job`). A step that fails with
``process_errors`` off fails the run; the run can then be resumed once the cause is fixed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime

import sqlalchemy as sa

from crmsync.errors import ConfigurationError, CrmsyncError
from crmsync.jobs.connectors import ConnectorPool
from crmsync.jobs.context import Progress, Row, StepContext, StepResult
from crmsync.jobs.loader import load_job_text
from crmsync.jobs.models import CrmStep, JobFile
from crmsync.jobs.steps import run_step
from crmsync.jobs.store import JobStore

__all__ = ["JobRunner", "RunFailed"]

#: Called when a step execution starts: (step name, progress callback to use).
StepStarted = Callable[[str], Progress]


class RunFailed(CrmsyncError):
    """The run stopped on an error; ``run_id`` can be resumed."""

    def __init__(self, message: str, run_id: str) -> None:
        super().__init__(message, code="job_failed")
        self.run_id = run_id


def _now() -> datetime:
    return datetime.now(UTC)


class JobRunner:
    """Runs and resumes jobs against one Campaign store and the configured CRM connections."""

    def __init__(
        self,
        store: JobStore,
        campaign: sa.Engine,
        connectors: ConnectorPool,
        *,
        now: Callable[[], datetime] = _now,
        on_step: StepStarted | None = None,
    ) -> None:
        self.store = store
        self.campaign = campaign
        self.connectors = connectors
        self.now = now
        self.on_step = on_step

    async def run(
        self,
        job: JobFile,
        job_text: str,
        *,
        source: str = "<job>",
        variables: Mapping[str, str] | None = None,
        continue_unfinished: bool = True,
    ) -> str:
        """Run ``job`` from its first step; return the run id (:class:`RunFailed` on error).

        When an earlier run of the same job file did not finish (it failed or was killed) and
        ``continue_unfinished`` is on, that run is resumed instead, so that re-running a job after
        a crash exports nothing twice. A job must not run twice at the same time.
        """
        unfinished = self.store.unfinished_run(job.name, job_text) if continue_unfinished else None
        if unfinished is not None:
            self.store.log(unfinished.id, job.first_step, "info", "resumed by a new run")
            return await self.resume(unfinished.id)
        merged = {**job.variables, **(variables or {})}
        run_id = self.store.create_run(job.name, source, job_text, merged, job.first_step)
        await self._drive(run_id, job)
        return run_id

    async def resume(self, run_id: str) -> str:
        """Continue run ``run_id`` where it stopped."""
        info = self.store.run(run_id)
        if info is None:
            raise ConfigurationError(f"no job run '{run_id}'")
        if info.status == "succeeded":
            return run_id
        job = load_job_text(info.job_text, source=info.source)
        with self.store.engine.begin() as conn:
            steps = self.store.t.steps
            conn.execute(
                steps.update()
                .where(steps.c.run_id == run_id, steps.c.status == "failed")
                .values(status="pending")
            )
        self.store.reopen_run(run_id)
        await self._drive(run_id, job)
        return run_id

    async def _drive(self, run_id: str, job: JobFile) -> None:
        while True:
            pending = self.store.pending_steps(run_id)
            if not pending:
                self.store.finish_run(run_id, "succeeded")
                return
            execution = pending[0]
            step = job.steps[execution.step]
            variables = self.store.variables(run_id)
            progress = self.on_step(execution.step) if self.on_step else None
            ctx = StepContext(
                run_id=run_id,
                seq=execution.seq,
                name=execution.step,
                job=job,
                store=self.store,
                campaign=self.campaign,
                connectors=self.connectors,
                variables=variables,
                now=self.now,
            )
            if progress is not None:
                ctx.progress = progress
            self.store.start_step(run_id, execution.seq)
            try:
                result = await run_step(ctx, step, execution.rows)
            except CrmsyncError as exc:
                if isinstance(step, CrmStep) and step.process_errors and step.on_error:
                    error_row: Row = {
                        "step": execution.step,
                        "errorSymbol": exc.code or type(exc).__name__,
                        "errorMessage": exc.message,
                        "status": exc.status,
                    }
                    self.store.log(run_id, execution.step, "error", f"{exc.code}: {exc.message}")
                    self._finish(
                        ctx,
                        step,
                        StepResult(),
                        "failed",
                        exc.message,
                        [(step.on_error, [error_row])],
                    )
                    continue
                self.store.log(run_id, execution.step, "error", f"{exc.code}: {exc.message}")
                self.store.finish_step(
                    run_id,
                    execution.seq,
                    status="failed",
                    counts={},
                    error=exc.message,
                    enqueue=[],
                    variables={},
                    options={},
                )
                self.store.finish_run(run_id, "failed", f"{execution.step}: {exc.message}")
                raise RunFailed(f"step '{execution.step}' failed: {exc.message}", run_id) from exc
            self._finish(ctx, step, result, "done", None, None)

    def _finish(
        self,
        ctx: StepContext,
        step: object,
        result: StepResult,
        status: str,
        error: str | None,
        extra: list[tuple[str, list[Row]]] | None,
    ) -> None:
        enqueue: list[tuple[str, list[Row]]] = list(extra or [])
        if result.goto is not None:
            enqueue += result.goto
        elif status == "done":
            next_step = getattr(step, "next", None)
            if next_step:
                enqueue.append((next_step, result.rows))
        if result.rejects:
            self.store.add_rejects(ctx.run_id, ctx.seq, ctx.name, result.rejects)
            if isinstance(step, CrmStep) and step.process_rejects and step.on_reject:
                enqueue.append((step.on_reject, result.rejects))
            else:
                for item in result.rejects:
                    ctx.warn(f"reject {item['errorSymbol']}: {item['errorMessage']}")
        counts = dict(result.counts)
        if result.rejects:
            counts.setdefault("rejected", len(result.rejects))
        self.store.finish_step(
            ctx.run_id,
            ctx.seq,
            status=status,
            counts=counts,
            error=error,
            enqueue=enqueue,
            variables=result.variables,
            options=result.options,
            seen=result.seen,
        )
