"""The Dataverse Web API (everything under ``/api/data/v9.2/``) as one ASGI application.

Requests are parsed into an :class:`ApiRequest` and answered by :meth:`WebApi.handle`, a plain
synchronous function that ``$batch`` also calls for each inner request (no HTTP round trip).
Every answer carries ``OData-Version: 4.0``; every failure is a Dataverse JSON error, never a
traceback.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol
from urllib.parse import quote, unquote_plus

import orjson
import sqlalchemy as sa
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from crmsync.emulators.dataverse import metadata, writes
from crmsync.emulators.dataverse.config import DataverseEmulatorSettings
from crmsync.emulators.dataverse.errors import (
    JSON_CONTENT_TYPE,
    WebApiError,
    error_body,
    odata_error,
)
from crmsync.emulators.dataverse.formatting import parse_include_annotations
from crmsync.emulators.dataverse.paths import Segment, parse_segment, split_path
from crmsync.emulators.dataverse.query import (
    COUNT_LIMIT,
    SkipTokenCodec,
    collection_body,
    parse_options,
    read_page,
    read_record,
)
from crmsync.emulators.dataverse.readahead import ReadAhead
from crmsync.emulators.dataverse.schema import Table
from crmsync.emulators.dataverse.store import DataverseStore
from crmsync.emulators.dataverse.tracking import TRACKING_PREFIX, check_tracking, read_changes

__all__ = [
    "ApiRequest",
    "ApiResponse",
    "FaultSource",
    "WebApi",
    "control_routes",
    "create_webapi",
    "parse_prefer",
]

logger = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[
    [Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]],
    Awaitable[None],
]
MAX_BODY_BYTES = 64 * 1024 * 1024


class FaultSource(Protocol):
    """The part of the emulator's fault plan the Web API uses (batch item faults)."""

    def take_batch_item(self) -> Any: ...

    def pending(self) -> list[Any]: ...


@dataclass(slots=True)
class ApiRequest:
    """One Web API request, relative to the service root."""

    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes
    base_url: str
    #: Inside a ``$batch`` change set: Content-ID → URL of the record it created.
    content_ids: dict[str, str] = field(default_factory=dict)
    #: Prepare the next page in the background (only for requests from a real client).
    read_ahead: bool = False

    def cache_key(self) -> tuple[str, ...]:
        params = "&".join(f"{k}={v}" for k, v in sorted(self.params.items()))
        return (self.method, self.path, params, self.headers.get("prefer", ""), self.base_url)


@dataclass(slots=True)
class ApiResponse:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    #: The request for the next page, which a paging client is about to send.
    follow_up: ApiRequest | None = None


def json_response(status: int, body: bytes, headers: dict[str, str] | None = None) -> ApiResponse:
    return ApiResponse(status, {"Content-Type": JSON_CONTENT_TYPE, **(headers or {})}, body)


def parse_prefer(value: str) -> dict[str, str]:
    """``Prefer`` preferences by lower-case name (value ``""`` when it has none)."""
    result: dict[str, str] = {}
    for part in value.split(","):
        name, _, argument = part.strip().partition("=")
        if name:
            result[name.strip().lower()] = argument.strip()
    return result


def parse_query(query: str) -> dict[str, str]:
    """Query parameters (``+`` is a space, as clients such as requests and httpx encode it)."""
    params: dict[str, str] = {}
    for pair in query.split("&"):
        if not pair:
            continue
        name, _, value = pair.partition("=")
        params[unquote_plus(name)] = unquote_plus(value)
    return params


_QUERY_SAFE = ",'()$@:*"


def encode_query(params: dict[str, str]) -> str:
    return "&".join(
        f"{quote(name, safe='$@')}={quote(value, safe=_QUERY_SAFE)}"
        for name, value in params.items()
    )


class WebApi:
    """Answers Web API requests from a :class:`DataverseStore`."""

    def __init__(
        self,
        store: DataverseStore,
        settings: DataverseEmulatorSettings,
        faults: FaultSource | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.faults = faults
        self.codec = SkipTokenCodec(store.secret("skiptoken"))
        self.read_ahead: ReadAhead[ApiResponse] = ReadAhead()

    # --- dispatch -----------------------------------------------------------------------------

    def handle(self, request: ApiRequest) -> ApiResponse:
        """Answer one request; failures become Dataverse error answers."""
        try:
            response = self._dispatch(request)
        except WebApiError as error:
            response = json_response(error.status, error.body(), error.headers)
        except Exception:  # the emulator must answer, never drop the connection
            logger.exception("Unexpected failure answering %s %s", request.method, request.path)
            body, content_type = error_body(500)
            response = ApiResponse(500, {"Content-Type": content_type}, body)
        response.headers["OData-Version"] = "4.0"
        return response

    def _dispatch(self, request: ApiRequest) -> ApiResponse:
        from crmsync.emulators.dataverse import batch  # batch calls back into handle()

        segments = split_path(request.path)
        method = request.method
        if not segments:
            self._allow(method, "GET")
            return json_response(200, metadata.service_document(self.store, request.base_url))
        if segments == ["$metadata"]:
            self._allow(method, "GET")
            return ApiResponse(200, {"Content-Type": "application/xml"}, metadata.csdl(self.store))
        if segments == ["$batch"]:
            self._allow(method, "POST")
            return batch.handle_batch(self, request)
        first = parse_segment(segments[0])
        if first.name == "EntityDefinitions":
            self._allow(method, "GET")
            return json_response(
                200, metadata.entity_definitions(self.store, first, segments[1:], request)
            )
        table = self.store.schema.by_entity_set.get(first.name)
        if table is None:
            raise odata_error(f"Resource not found for the segment '{first.name}'.", 404)
        if len(segments) == 1 and first.key is None:
            if method == "GET":
                return self._read_collection(request, table)
            if method == "POST":
                return writes.create(self, request, table)
            raise self._not_allowed(method)
        if len(segments) == 1:
            if method == "GET":
                return self._read_one(request, table, first)
            if method in ("PATCH", "PUT"):
                return writes.patch(self, request, table, first)
            if method == "DELETE":
                return writes.delete(self, request, table, first)
            raise self._not_allowed(method)
        if len(segments) == 2 and segments[1] == "$count" and first.key is None:
            self._allow(method, "GET")
            return self._count(request, table)
        if len(segments) == 2 and first.key is not None:
            self._allow(method, "GET")
            return self._read_property(request, table, first, segments[1])
        raise odata_error(f"Resource not found for the segment '{segments[-1]}'.", 404)

    def _allow(self, method: str, allowed: str) -> None:
        if method != allowed:
            raise self._not_allowed(method)

    def _not_allowed(self, method: str) -> WebApiError:
        return WebApiError(
            405, "0x80060888", f"The requested resource does not support http method '{method}'."
        )

    # --- reads --------------------------------------------------------------------------------

    def _read_collection(self, request: ApiRequest, table: Table) -> ApiResponse:
        prefer = parse_prefer(request.headers.get("prefer", ""))
        if "odata.track-changes" in prefer or "$deltatoken" in request.params:
            check_tracking(self.store, table, request.params)
        options = parse_options(table, request.params)
        annotations, annotation_pref = parse_include_annotations(request.headers.get("prefer", ""))
        applied: list[str] = []
        page_size = self.settings.max_page_size
        max_page = prefer.get("odata.maxpagesize")
        if max_page is not None:
            try:
                asked = int(max_page)
            except ValueError:
                asked = 0
            if asked > 0:
                page_size = min(asked, self.settings.max_page_size)
                applied.append(f"odata.maxpagesize={page_size}")
        if annotation_pref:
            applied.append(annotation_pref)
        context = f"{request.base_url}/$metadata#{table.entity_set}"
        if options.select_names:
            context += f"({','.join(options.select_names)})"
        tracked = (
            "odata.track-changes" in prefer
            or options.deltatoken is not None
            or (options.skiptoken or "").startswith(TRACKING_PREFIX)
        )
        if tracked:
            return self._read_tracked(request, table, options, page_size, annotations, applied)
        paged = True
        if options.top is not None and max_page is None:
            # $top without odata.maxpagesize: one page of at most $top rows.
            page_size, paged = min(options.top, page_size), False
        after = None
        if options.skiptoken is not None:
            after = self.codec.decode(self._scope(table, request.params), options.skiptoken)
        page = read_page(
            self.store, table, options, page_size=page_size, after=after, annotations=annotations
        )
        next_link = None
        if paged and page.next_values is not None:
            params = {k: v for k, v in request.params.items() if k != "$skiptoken"}
            params["$skiptoken"] = self.codec.encode(
                self._scope(table, request.params), page.next_values
            )
            next_link = f"{request.base_url}/{table.entity_set}?{encode_query(params)}"
            follow_up = replace(request, params=params, read_ahead=False)
        body = collection_body(context, page.rows, count=page.count, next_link=next_link)
        headers = {"Preference-Applied": ",".join(applied)} if applied else {}
        response = json_response(200, body, headers)
        if next_link is not None:
            response.follow_up = follow_up
        return response

    def _read_tracked(
        self,
        request: ApiRequest,
        table: Table,
        options: Any,
        page_size: int,
        annotations: Any,
        applied: list[str],
    ) -> ApiResponse:
        result = read_changes(
            self.store,
            table,
            options,
            self.codec,
            page_size=page_size,
            retention_days=self.settings.change_tracking_retention_days,
            base_url=request.base_url,
            annotations=annotations,
        )
        applied.insert(0, "odata.track-changes")
        context = f"{request.base_url}/$metadata#{table.entity_set}"
        if options.select_names:
            context += f"({','.join(options.select_names)})"
        if result.is_delta:
            context += "/$delta"
        base_params = {}
        if "$select" in request.params:
            base_params["$select"] = request.params["$select"]
        next_link = delta_link = None
        if result.next_token is not None:
            params = {**base_params, "$skiptoken": result.next_token}
            next_link = f"{request.base_url}/{table.entity_set}?{encode_query(params)}"
        if result.delta_token is not None:
            params = {**base_params, "$deltatoken": result.delta_token}
            delta_link = f"{request.base_url}/{table.entity_set}?{encode_query(params)}"
        body = collection_body(
            context,
            result.rows,
            next_link=next_link,
            delta_link=delta_link,
            extra_rows=result.deleted,
        )
        return json_response(200, body, {"Preference-Applied": ",".join(applied)})

    def _prepare(self, request: ApiRequest) -> None:
        """Compute the answer to ``request`` in the background (see :mod:`.readahead`)."""

        def compute() -> tuple[int, ApiResponse]:
            with self.store.reading():
                return self.store.generation, self.handle(request)

        self.read_ahead.schedule(request.cache_key(), compute)

    async def answer(self, request: ApiRequest) -> ApiResponse:
        """Answer a request from a client, using a page prepared in advance when still valid."""
        response = None
        if request.method == "GET":
            prepared = self.read_ahead.take(request.cache_key())
            if prepared is not None:
                generation, response = await asyncio.wrap_future(prepared)
                assert isinstance(response, ApiResponse)
                if generation != self.store.generation:
                    response = None
        if response is None:
            response = self.handle(request)
        if response.follow_up is not None and request.read_ahead:
            self._prepare(response.follow_up)
        return response

    def _scope(self, table: Table, params: dict[str, str]) -> str:
        """What a skip token is bound to: the table, filter and order of the query."""
        text = f"{table.logical_name}|{params.get('$filter', '')}|{params.get('$orderby', '')}"
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def key_condition(self, table: Table, segment: Segment) -> Any:
        """The SQL condition selecting the record named by ``segment``'s key."""
        sa_table = self.store.sa_table(table)
        key = segment.key
        if isinstance(key, str):
            return sa_table.c[table.primary_id] == key
        assert key is not None
        if set(key) == {table.primary_id} and isinstance(key[table.primary_id], str):
            return sa_table.c[table.primary_id] == str(key[table.primary_id]).lower()
        for alternate in table.alternate_keys:
            if set(alternate.attributes) == set(key):
                return sa.and_(*(sa_table.c[name] == key[name] for name in alternate.attributes))
        names = ",".join(key)
        raise WebApiError(
            400,
            "0x80060888",
            f"The key '{names}' is not a valid key of entity '{table.logical_name}'.",
        )

    def describe_key(self, table: Table, segment: Segment) -> str:
        key = segment.key
        if isinstance(key, str):
            return key
        assert key is not None
        return ",".join(f"{name}:{value}" for name, value in key.items())

    def _read_one(self, request: ApiRequest, table: Table, segment: Segment) -> ApiResponse:
        options = parse_options(table, request.params)
        annotations, annotation_pref = parse_include_annotations(request.headers.get("prefer", ""))
        row = read_record(
            self.store, table, options.select, self.key_condition(table, segment), annotations
        )
        if row is None:
            from crmsync.emulators.dataverse.errors import not_found_record

            raise not_found_record(table.logical_name, self.describe_key(table, segment))
        context = f"{request.base_url}/$metadata#{table.entity_set}"
        if options.select_names:
            context += f"({','.join(options.select_names)})"
        body = b'{"@odata.context":' + orjson.dumps(context + "/$entity") + b"," + row[1:].encode()
        headers = {"Preference-Applied": annotation_pref} if annotation_pref else {}
        headers["ETag"] = str(orjson.loads(row)["@odata.etag"])
        return json_response(200, body, headers)

    def _read_property(
        self, request: ApiRequest, table: Table, segment: Segment, name: str
    ) -> ApiResponse:
        attribute = table.by_wire_name.get(name)
        if attribute is None:
            raise odata_error(f"Resource not found for the segment '{name}'.", 404)
        row = read_record(self.store, table, [attribute], self.key_condition(table, segment))
        if row is None:
            from crmsync.emulators.dataverse.errors import not_found_record

            raise not_found_record(table.logical_name, self.describe_key(table, segment))
        value = orjson.loads(row).get(name)
        if value is None:
            return ApiResponse(204)
        key = self.describe_key(table, segment)
        context = f"{request.base_url}/$metadata#{table.entity_set}({key})/{name}"
        return json_response(200, orjson.dumps({"@odata.context": context, "value": value}))

    def _count(self, request: ApiRequest, table: Table) -> ApiResponse:
        options = parse_options(table, request.params)
        from crmsync.emulators.dataverse.filters import compile_filter

        sa_table = self.store.sa_table(table)
        inner: sa.Select[Any] = sa.select(sa.literal_column("1")).select_from(sa_table)
        if options.filter is not None:
            inner = inner.where(compile_filter(table, sa_table.c, options.filter))
        counted = inner.limit(COUNT_LIMIT).subquery()
        with self.store.reading() as conn:
            count = conn.execute(sa.select(sa.func.count()).select_from(counted)).scalar_one()
        return ApiResponse(200, {"Content-Type": "text/plain"}, str(count).encode())

    # --- ASGI ---------------------------------------------------------------------------------

    async def __call__(
        self,
        scope: Scope,
        receive: Callable[[], Awaitable[Message]],
        send: Callable[[Message], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http":
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                body, content_type = error_body(413)
                await _send(send, ApiResponse(413, {"Content-Type": content_type}, body))
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        headers = {
            name.decode("latin-1").lower(): value.decode("latin-1")
            for name, value in scope.get("headers", [])
        }
        root = scope.get("root_path", "")
        path = scope.get("path", "")
        if root and path.startswith(root):
            path = path[len(root) :]
        scheme = scope.get("scheme", "http")
        host = headers.get("host") or "localhost"
        request = ApiRequest(
            method=scope["method"].upper(),
            path=path,
            params=parse_query(scope.get("query_string", b"").decode("latin-1")),
            headers=headers,
            body=b"".join(chunks),
            base_url=f"{scheme}://{host}{root}",
            read_ahead=True,
        )
        await _send(send, await self.answer(request))


async def _send(send: Callable[[Message], Awaitable[None]], response: ApiResponse) -> None:
    headers = [
        (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in response.headers.items()
    ]
    headers.append((b"content-length", str(len(response.body)).encode()))
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": response.body})


def create_webapi(
    store: DataverseStore, settings: DataverseEmulatorSettings, faults: FaultSource
) -> ASGIApp:
    """The Web API as an ASGI app, to mount at ``/api/data/v9.2``."""
    return WebApi(store, settings, faults)


def control_routes(store: DataverseStore) -> list[BaseRoute]:
    """Emulator-specific control operations (to mount under ``/_emulator``).

    - ``POST /system-change`` ``{"table": "contact", "id": "<guid>"}``: a system update of the
      record (new version and ``modifiedon``, same data), as a workflow would cause.
    - ``POST /tables/{name}/change-tracking`` ``{"enabled": false}``: switch change tracking.
    """

    async def _json(request: Request) -> dict[str, Any]:
        try:
            value = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            raise ValueError("the body must be a JSON object") from None
        if not isinstance(value, dict):
            raise ValueError("the body must be a JSON object")
        return value

    async def system_change(request: Request) -> Response:
        try:
            body = await _json(request)
            table = store.schema.by_logical_name.get(str(body.get("table")))
            if table is None:
                raise ValueError(f"unknown table {body.get('table')!r}")
            record_id = str(body.get("id", "")).lower()
        except ValueError as exc:
            return JSONResponse({"detail": str(exc)}, status_code=422)
        if not store.system_change(table, record_id):
            return JSONResponse({"detail": "no such record"}, status_code=404)
        return JSONResponse(
            {"table": table.logical_name, "id": record_id, "version": store.current_version}
        )

    async def change_tracking(request: Request) -> Response:
        table = store.schema.by_logical_name.get(request.path_params["name"])
        if table is None:
            return JSONResponse({"detail": "unknown table"}, status_code=404)
        try:
            body = await _json(request)
            enabled = body.get("enabled")
            if not isinstance(enabled, bool):
                raise ValueError("'enabled' must be true or false")
        except ValueError as exc:
            return JSONResponse({"detail": str(exc)}, status_code=422)
        store.set_tracking(table, enabled)
        return JSONResponse({"table": table.logical_name, "enabled": enabled})

    return [
        Route("/system-change", system_change, methods=["POST"]),
        Route("/tables/{name}/change-tracking", change_tracking, methods=["POST"]),
    ]
