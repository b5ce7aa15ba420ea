"""The Jobs page: job files and their runs (polled), a run's steps, log and rejects; operators
start a run or resume one that did not finish."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse

from crmsync.api.deps import Jobs
from crmsync.api.services.jobs import RunStart
from crmsync.console.session import Operator, Viewer
from crmsync.console.templating import message, render
from crmsync.errors import CrmsyncError

router = APIRouter()

_Name = Annotated[str, Path(max_length=255)]
_RunId = Annotated[str, Path(max_length=64)]


@router.get("/jobs", response_class=HTMLResponse)
def jobs_page(request: Request, caller: Viewer, service: Jobs) -> HTMLResponse:
    return render(
        request, "jobs.html", caller, page="jobs", jobs=service.list(), runs=service.runs()
    )


@router.get("/jobs/runs", response_class=HTMLResponse)
def runs_table(request: Request, caller: Viewer, service: Jobs) -> HTMLResponse:
    """The runs (polled every 2 s by the page)."""
    return render(request, "_runs.html", caller, runs=service.runs())


@router.post("/jobs/{name}/start", response_class=HTMLResponse)
async def start_run(name: _Name, request: Request, caller: Operator, service: Jobs) -> HTMLResponse:
    try:
        started = await service.start(name, RunStart(), by=caller.actor)
    except CrmsyncError as exc:
        return message(request, exc.message, status_code=409, kind="error")
    verb = "resumed" if started.resumed else "started"
    return render(
        request,
        "_runs.html",
        caller,
        runs=service.runs(),
        note=f"run {started.run_id} of '{started.job}' {verb}",
    )


@router.get("/jobs/runs/{run_id}", response_class=HTMLResponse)
def run_page(run_id: _RunId, request: Request, caller: Viewer, service: Jobs) -> HTMLResponse:
    try:
        run = service.run(run_id)
    except CrmsyncError as exc:
        return render(
            request, "not_found.html", caller, status_code=404, page="jobs", text=exc.message
        )
    return render(
        request, "run.html", caller, page="jobs", run=run, rejects=service.rejects(run_id)
    )


@router.post("/jobs/runs/{run_id}/resume", response_class=HTMLResponse)
async def resume_run(
    run_id: _RunId, request: Request, caller: Operator, service: Jobs
) -> HTMLResponse:
    try:
        started = await service.resume(run_id, by=caller.actor)
    except CrmsyncError as exc:
        return message(request, exc.message, status_code=409, kind="error")
    return message(request, f"run {started.run_id} of '{started.job}' resumed: reload to follow it")
