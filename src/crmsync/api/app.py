"""The API application: ``create_app(supervisor, users)``, nothing built at import time."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from crmsync import __version__, console
from crmsync.api.auth import LoginLimiter, SessionStore
from crmsync.api.errors import Conflict, NotFound
from crmsync.api.models import problem
from crmsync.api.routers import (
    crm,
    docs,
    events,
    jobs,
    mappings,
    optinout,
    rejects,
    resources,
    revisions,
    session,
    system,
    workflows,
)
from crmsync.api.routers import users as user_routes
from crmsync.api.services.crm import ConnectorOpener, CrmService
from crmsync.api.services.events import EventService
from crmsync.api.services.jobs import JobService
from crmsync.api.services.mappings import MappingNotFound, MappingService
from crmsync.api.services.optinout import OptInOutService
from crmsync.api.services.resources import ResourceService
from crmsync.api.services.users import UserService
from crmsync.api.services.workflows import WorkflowService
from crmsync.api.users import UserStore
from crmsync.config import ConfigError
from crmsync.config.models import Config
from crmsync.errors import ConfigurationError, CrmsyncError
from crmsync.jobs import ConnectorPool
from crmsync.sync.connections import open_connector
from crmsync.sync.state import DEFAULT_REPLAY_LIMIT
from crmsync.workflows.supervisor import Supervisor

__all__ = ["create_app"]

logger = logging.getLogger(__name__)

_NOT_FOUND = {"UNKNOWN_WORKFLOW", "UNKNOWN_MAPPING"}
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
) -> FastAPI:
    """The API over ``supervisor``'s workflows, with ``users`` allowed in.

    ``connector_opener`` opens the CRM connectors of the metadata routes and ``job_connectors``
    those of job runs (tests pass fakes); ``metadata_ttl`` is how long CRM metadata is kept, in
    seconds; ``jobs_folder`` holds the job files the server knows (default ``jobs/`` of the
    working directory). The OpenAPI document is served to logged-in users only.
    """

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        await job_service.close()

    app = FastAPI(
        title="crmsync",
        version=__version__,
        description="Workflows, mappings, resources, events, opt-in/out, jobs, users, "
        "revisions, rejects and metrics of a crmsync server.",
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    job_service = JobService(supervisor, jobs_folder, connectors=job_connectors)
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
    routers = (system, docs, session, workflows, mappings, resources, events, optinout, jobs)
    for module in (*routers, revisions, rejects, crm, user_routes):
        app.include_router(module.router, responses=_ERRORS)
    console.install(app)
    _add_error_handlers(app)
    app.add_middleware(_RefuseNul)
    return app


class _RefuseNul:
    """A NUL character in a request's path or query is refused (422) before any route runs:
    no name, filter or id of crmsync holds one, and PostgreSQL's text cannot."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            query = scope["query_string"].lower()
            where = "path" if "\x00" in scope["path"] else None
            if b"%00" in query or b"\x00" in query:
                where = "query"
            if where is not None:
                answer = _invalid([{"loc": where, "message": "a NUL character is not allowed"}])
                await answer(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _invalid(issues: list[dict[str, str]]) -> JSONResponse:
    """The 422 answer of a request that is not valid, listing every problem with its place."""
    where = "; ".join(f"{i['loc']}: {i['message']}" for i in issues)
    return JSONResponse({"detail": f"invalid request: {where}", "issues": issues}, 422)


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid_body(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return _invalid(
            [
                {
                    "loc": ".".join(str(part) for part in error.get("loc", ())),
                    "message": str(error.get("msg", "invalid")),
                }
                for error in exc.errors()
            ]
        )

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        # A JSON body that is not UTF-8 is as malformed as one with a syntax error: 422 like
        # it (FastAPI answers 400 "There was an error parsing the body" for it alone).
        if exc.status_code == 400 and isinstance(exc.__cause__, UnicodeDecodeError):
            return _invalid([{"loc": "body", "message": "JSON decode error (not UTF-8)"}])
        return await http_exception_handler(request, exc)

    @app.exception_handler(ConfigError)
    async def invalid_config(_request: Request, exc: ConfigError) -> JSONResponse:
        issues = [{"loc": issue.path, "message": issue.message} for issue in exc.issues]
        return JSONResponse({"detail": str(exc), "issues": issues}, 422)

    @app.exception_handler(CrmsyncError)
    async def refused(_request: Request, exc: CrmsyncError) -> JSONResponse:
        return JSONResponse({"detail": exc.message, "code": exc.code}, _status(exc))

    @app.exception_handler(Exception)
    async def failed(request: Request, exc: Exception) -> JSONResponse:
        """A defect, never an answer a request is meant to get: logged with its traceback under
        a reference the answer gives, and answered as JSON like every other error."""
        reference = uuid.uuid4().hex[:12]
        logger.error(
            "%s %s failed (reference %s)",
            request.method,
            request.url.path,
            reference,
            exc_info=exc,
        )
        detail = f"internal error (reference {reference} in the server's log)"
        return JSONResponse({"detail": detail, "code": "internal_error"}, 500)


def _status(exc: CrmsyncError) -> int:
    """404 for what does not exist, 409 for what the state or the configuration refuses, 502
    when the CRM or the store failed (not the caller's fault, and not a crash of the server)."""
    if isinstance(exc, NotFound | MappingNotFound) or exc.code in _NOT_FOUND:
        return 404
    if isinstance(exc, Conflict | ConfigurationError):
        return 409
    return 502
