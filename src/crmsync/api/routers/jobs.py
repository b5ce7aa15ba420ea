"""``/api/jobs`` and ``/api/runs``: the server's job files, runs started in the background, their
steps, log and rejects."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, status

from crmsync.api.auth import Viewer, acting
from crmsync.api.deps import Jobs
from crmsync.api.models import problem
from crmsync.api.services.jobs import JobOut, RunDetail, RunOut, RunReject, RunStart, RunStarted
from crmsync.api.users import Role
from crmsync.audit import Action, Actor

router = APIRouter(tags=["jobs"])

JobName = Annotated[str, Path(pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,62}$")]
RunId = Annotated[str, Path(max_length=64)]
_NO_RUN: dict[int | str, dict[str, Any]] = {404: problem("no such run")}


@router.get("/api/jobs", operation_id="list_jobs", response_model=list[JobOut])
def list_jobs(_user: Viewer, service: Jobs) -> list[JobOut]:
    """The job files of the server's jobs folder, valid or not (with their problems)."""
    return service.list()


@router.post(
    "/api/jobs/{name}/runs",
    operation_id="start_job",
    response_model=RunStarted,
    status_code=status.HTTP_202_ACCEPTED,
    responses={
        404: problem("no valid job of that name"),
        409: problem("the job is running already"),
    },
)
async def start_job(
    name: JobName,
    by: Annotated[Actor, acting(Role.OPERATOR, Action.JOB_RUN)],
    service: Jobs,
    request: Annotated[RunStart | None, Body()] = None,
) -> RunStarted:
    """Start a run in the background (or resume the job file's unfinished run)."""
    return await service.start(name, request or RunStart(), by=by)


@router.get("/api/runs", operation_id="list_runs", response_model=list[RunOut])
def list_runs(
    _user: Viewer, service: Jobs, limit: Annotated[int, Query(ge=1, le=1000)] = 50
) -> list[RunOut]:
    """Newest first."""
    return service.runs(limit)


@router.get(
    "/api/runs/{run_id}", operation_id="get_run", response_model=RunDetail, responses=_NO_RUN
)
def get_run(run_id: RunId, _user: Viewer, service: Jobs) -> RunDetail:
    """Steps with status and counts, variables, reject count, log lines."""
    return service.run(run_id)


@router.get(
    "/api/runs/{run_id}/rejects",
    operation_id="list_run_rejects",
    response_model=list[RunReject],
    responses=_NO_RUN,
)
def list_run_rejects(run_id: RunId, _user: Viewer, service: Jobs) -> list[RunReject]:
    """The rejected records with errorSymbol and errorMessage."""
    return service.rejects(run_id)


@router.post(
    "/api/runs/{run_id}/resume",
    operation_id="resume_run",
    response_model=RunStarted,
    status_code=status.HTTP_202_ACCEPTED,
    responses={**_NO_RUN, 409: problem("running already, or succeeded")},
)
async def resume_run(
    run_id: RunId,
    by: Annotated[Actor, acting(Role.OPERATOR, Action.JOB_RESUME)],
    service: Jobs,
) -> RunStarted:
    """Continue a failed or interrupted run in the background."""
    return await service.resume(run_id, by=by)
