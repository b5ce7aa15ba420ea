"""The API application: ``create_app(supervisor, users)``, nothing built at import time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from crmsync import __version__, console
from crmsync.api.auth import LoginLimiter, SessionStore
from crmsync.api.error_answers import install_error_answers
from crmsync.api.models import problem
from crmsync.api.routers import (
    audit,
    crm,
    docs,
    events,
    jobs,
    mappings,
    optinout,
    privacy,
    rejects,
    resources,
    revisions,
    session,
    system,
    workers,
    workflows,
)
from crmsync.api.routers import users as user_routes
from crmsync.api.services.audit import AuditService
from crmsync.api.services.crm import CrmService
from crmsync.api.services.events import EventService
from crmsync.api.services.jobs import JobService
from crmsync.api.services.mappings import MappingService
from crmsync.api.services.optinout import OptInOutService
from crmsync.api.services.privacy import PrivacyApiService
from crmsync.api.services.resources import ResourceService
from crmsync.api.services.users import UserService
from crmsync.api.services.workflows import WorkflowService
from crmsync.api.users import UserStore
from crmsync.config.models import Config
from crmsync.jobs import ConnectorPool
from crmsync.runtime.connectors import ConnectorOpener, open_connector
from crmsync.runtime.workers import Worker
from crmsync.state.replays import DEFAULT_REPLAY_LIMIT
from crmsync.workflows.supervisor import Supervisor

__all__ = ["create_app"]

#: Error answers every route may give, declared with their body in the OpenAPI document.
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: problem("not logged in"),
    403: problem("role too low, or CSRF token missing"),
    422: problem("invalid request: every problem with its place"),
}


def create_app(
    supervisor: Supervisor,
    users: UserStore,
    *,
    login_limiter: LoginLimiter | None = None,
    sessions: SessionStore | None = None,
    replay_limit: int = DEFAULT_REPLAY_LIMIT,
    connector_opener: ConnectorOpener = open_connector,
    metadata_ttl: float = 60.0,
    jobs_folder: Path = Path("jobs"),
    job_connectors: Callable[[Config], ConnectorPool] | None = None,
    worker: Worker | None = None,
    schedule_tick: float = 1.0,
) -> FastAPI:
    """The API over ``supervisor``'s workflows, with ``users`` allowed in.

    ``connector_opener`` opens the CRM connectors of the metadata routes and ``job_connectors``
    those of job runs (tests pass fakes); ``metadata_ttl`` is how long CRM metadata is kept, in
    seconds; ``jobs_folder`` holds the job files the server knows (default ``jobs/`` of the
    working directory). With ``worker`` (``crmsync serve``'s registration), runs hold the job's
    lease and the scheduled jobs run at their times, checked every ``schedule_tick`` seconds.
    The OpenAPI document is served to logged-in users only; ``/docs`` shows
    it in Swagger UI, served from the server's own files.
    """

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        stop = asyncio.Event()
        schedules = (
            asyncio.create_task(job_service.run_schedules(stop, schedule_tick))
            if worker is not None
            else None
        )
        try:
            yield
        finally:
            stop.set()
            if schedules is not None:
                await schedules
            await job_service.close()

    app = FastAPI(
        title="crmsync",
        version=__version__,
        description="Workflows, mappings, resources, events, opt-in/out, jobs, users, "
        "revisions, rejects, privacy deletes, the audit trail and metrics of a crmsync server.",
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    job_service = JobService(supervisor, jobs_folder, connectors=job_connectors, worker=worker)
    app.state.supervisor = supervisor
    app.state.users = users
    app.state.sessions = sessions or SessionStore()
    app.state.login_limiter = login_limiter or LoginLimiter()
    app.state.workflow_service = WorkflowService(supervisor)
    crm_service = CrmService(supervisor, opener=connector_opener, ttl=metadata_ttl)
    app.state.crm_service = crm_service
    app.state.mapping_service = MappingService(supervisor, crm_service, replay_limit=replay_limit)
    app.state.optinout_service = OptInOutService(supervisor, crm_service)
    app.state.resource_service = ResourceService(supervisor)
    app.state.event_service = EventService(supervisor)
    app.state.user_service = UserService(users)
    app.state.job_service = job_service
    app.state.audit_service = AuditService(supervisor.engine)
    app.state.privacy_service = PrivacyApiService(supervisor, opener=connector_opener)
    routers = (system, docs, session, workflows, mappings, resources, events, optinout, jobs)
    for module in (*routers, workers, revisions, rejects, crm, user_routes, audit, privacy):
        app.include_router(module.router, responses=_ERRORS)
    docs.mount_assets(app)
    console.install(app)
    install_error_answers(app)
    return app
