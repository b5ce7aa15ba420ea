"""How the API answers what goes wrong: every error as a JSON problem with its status.

- invalid requests (body, path, query; a body that is not UTF-8 JSON; a NUL character in the path
  or the query) → 422 listing every problem with its place;
- configurations the checks refuse → 422 with each issue's path;
- errors the services raise (:mod:`crmsync.api.errors`, :class:`~crmsync.errors.CrmsyncError`)
  → 404, 409 or 502;
- anything else is a defect: 500 with a reference to the server's log, where its traceback is.
"""

from __future__ import annotations

import logging
import uuid

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from crmsync.api.errors import Conflict, NotFound
from crmsync.api.services.mappings import MappingNotFound
from crmsync.config import ConfigError
from crmsync.errors import ConfigurationError, CrmsyncError

__all__ = ["install_error_answers"]

logger = logging.getLogger(__name__)

_NOT_FOUND = {"UNKNOWN_WORKFLOW", "UNKNOWN_MAPPING"}


def install_error_answers(app: FastAPI) -> None:
    """Answer every error of ``app``'s requests as described above."""
    _add_error_handlers(app)
    app.add_middleware(_RefuseNul)


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
