"""Salesforce-specific control operations, mounted under ``/_emulator`` next to the shared ones.

- ``POST /system-change`` ``{"object": "Contact", "ids": ["003…"]}``: a system update of those
  records (``SystemModstamp`` moves, ``LastModifiedDate`` does not), as automation would cause.
- ``GET /usage``: the daily API requests counted so far and the budget.
"""

from __future__ import annotations

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from crmsync.emulators.salesforce.ids import normalize_id
from crmsync.emulators.salesforce.limits import ApiUsage
from crmsync.emulators.salesforce.store import SalesforceStore

__all__ = ["control_routes"]

_MAX_IDS = 10_000


def _problem(message: str, status: int = 422) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def control_routes(store: SalesforceStore, usage: ApiUsage) -> list[BaseRoute]:
    async def system_change(request: Request) -> Response:
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return _problem("the body is not valid JSON")
        if not isinstance(body, dict):
            return _problem('expected {"object": "Contact", "ids": ["003…"]}')
        obj = store.schema.get(str(body.get("object", "")))
        if obj is None:
            return _problem(f"unknown object {str(body.get('object'))[:80]!r}")
        raw = body.get("ids")
        if not isinstance(raw, list) or not raw or len(raw) > _MAX_IDS:
            return _problem(f"'ids' must be a list of 1 to {_MAX_IDS} record ids")
        ids = [normalize_id(i) if isinstance(i, str) else None for i in raw]
        if any(i is None for i in ids):
            return _problem("'ids' holds a value that is not a Salesforce id")
        changed = store.system_change(obj, [i for i in ids if i is not None])
        return JSONResponse({"object": obj.name, "changed": changed})

    async def usage_route(request: Request) -> Response:
        return JSONResponse({"used": usage.used, "limit": usage.limit})

    return [
        Route("/system-change", system_change, methods=["POST"]),
        Route("/usage", usage_route, methods=["GET"]),
    ]
