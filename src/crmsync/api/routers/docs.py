"""``/openapi.json``: the OpenAPI document, for logged-in users only.

No interactive documentation page is served: Swagger UI and ReDoc would load their scripts from
a CDN, and the server must not depend on (nor send its users to) a third party. Load the document
in any OpenAPI viewer instead.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from crmsync.api.auth import Viewer

router = APIRouter(tags=["system"])


@router.get("/openapi.json", include_in_schema=False)
def openapi(request: Request, _user: Viewer) -> JSONResponse:
    return JSONResponse(request.app.openapi())
