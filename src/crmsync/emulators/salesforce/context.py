"""What the REST handlers share: the services they call and the way they answer."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from crmsync.emulators.common.clock import Clock
from crmsync.emulators.common.faults import FaultPlan
from crmsync.emulators.salesforce.config import SalesforceEmulatorSettings
from crmsync.emulators.salesforce.errors import ApiError, RecordError, error_body
from crmsync.emulators.salesforce.query import QueryService
from crmsync.emulators.salesforce.schema import SObject
from crmsync.emulators.salesforce.store import SalesforceStore
from crmsync.emulators.salesforce.writes import Writer

__all__ = ["JSON_TYPE", "ApiContext", "endpoint", "json_response", "read_json"]

JSON_TYPE = "application/json;charset=UTF-8"
_log = logging.getLogger("crmsync.emulators.salesforce")


@dataclass(slots=True)
class ApiContext:
    settings: SalesforceEmulatorSettings
    clock: Clock
    store: SalesforceStore
    writer: Writer
    queries: QueryService
    #: Read by the collections handler (``batch_item`` faults); ``None``: no fault injection.
    faults: FaultPlan | None = None

    def sobject(self, name: str) -> SObject:
        """The object called ``name`` (any case), or the 404 Salesforce answers."""
        obj = self.store.schema.get(name)
        if obj is None:
            raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
        return obj


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(data), status, headers=headers, media_type=JSON_TYPE)


def version_of(request: Request) -> str:
    """The API version of the request path (``62.0``), checked by the session gate."""
    return str(request.path_params.get("version", ""))


#: Largest request body read (the REST API refuses bodies over 50 MB).
MAX_BODY_BYTES = 50 * 1024 * 1024


async def read_json(request: Request) -> Any:
    """The request body as JSON, or the 400 ``JSON_PARSER_ERROR`` Salesforce answers."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise ApiError(413, "REQUEST_ENTITY_TOO_LARGE", "The request body is larger than 50 MB")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise ApiError(413, "REQUEST_ENTITY_TOO_LARGE", "The request body is larger than 50 MB")
        chunks.append(chunk)
    body = b"".join(chunks)
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise ApiError(
            400,
            "JSON_PARSER_ERROR",
            f"Unexpected character in the request body at [line:{error.lineno}, "
            f"column:{error.colno}]",
        ) from None


Handler = Callable[[Request], Awaitable[Response]]


def endpoint(handler: Handler) -> Handler:
    """Answers :class:`ApiError` as Salesforce does, and anything unexpected as a plain 500
    (logged here, never sent to the client)."""

    @functools.wraps(handler)
    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except ApiError as error:
            return Response(error.body(), error.status, error.headers, media_type=JSON_TYPE)
        except RecordError as error:
            api = error.to_api_error()
            return Response(api.body(), api.status, media_type=JSON_TYPE)
        except Exception:
            _log.exception("unexpected failure answering %s %s", request.method, request.url.path)
            body, content_type = error_body(500)
            return Response(body, 500, media_type=content_type)

    return wrapped
