"""``GET query?q=…``, ``GET queryAll?q=…`` and their continuations ``query/{locator}``."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from crmsync.emulators.salesforce.context import ApiContext, endpoint, json_response, version_of
from crmsync.emulators.salesforce.errors import ApiError
from crmsync.emulators.salesforce.query import batch_size_option, retention_cutoff

__all__ = ["query_routes"]


def query_routes(ctx: ApiContext) -> list[BaseRoute]:
    settings = ctx.settings

    def run(request: Request, all_rows: bool) -> Response:
        soql = request.query_params.get("q")
        if soql is None or not soql.strip():
            raise ApiError(400, "MALFORMED_QUERY", "A query string has to be specified")
        batch = batch_size_option(
            request.headers.get("sforce-query-options"), settings.query_batch_size
        )
        cutoff = retention_cutoff(ctx.clock, settings.deleted_retention_days)
        result = ctx.queries.start(
            soql, version=version_of(request), all_rows=all_rows, batch=batch, purge_before=cutoff
        )
        return json_response(result)

    @endpoint
    async def query(request: Request) -> Response:
        return run(request, False)

    @endpoint
    async def query_all(request: Request) -> Response:
        return run(request, True)

    @endpoint
    async def more(request: Request) -> Response:
        locator = request.path_params["locator"]
        return json_response(ctx.queries.more(locator, version=version_of(request)))

    return [
        Route("/query", query, methods=["GET"]),
        Route("/query/", query, methods=["GET"]),
        Route("/queryAll", query_all, methods=["GET"]),
        Route("/queryAll/", query_all, methods=["GET"]),
        Route("/query/{locator}", more, methods=["GET"]),
        Route("/queryAll/{locator}", more, methods=["GET"]),
    ]
