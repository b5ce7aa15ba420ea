"""``/openapi.json``, for logged-in users only, and ``/docs``, Swagger UI on it.

Swagger UI's script, style and icon come from the ``fastapi-offline`` package and are served by
the server itself under ``/docs/assets``: the page loads nothing from a CDN, so it works without
internet and sends its users to no third party. The page holds no data: the document it shows is
read with the browser's session (log in first, e.g. to the console) and its *Authorize* button
takes an API token, the two schemes the document declares.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from crmsync.api.auth import Viewer

__all__ = ["ASSETS_URL", "mount_assets", "router"]

router = APIRouter(tags=["system"])

#: Where Swagger UI's files are served.
ASSETS_URL = "/docs/assets"
#: The files: Swagger UI's bundle and style, shipped by ``fastapi-offline``.
_ASSETS = Path(str(files("fastapi_offline") / "static"))


@router.get("/openapi.json", include_in_schema=False)
def openapi(request: Request, _user: Viewer) -> JSONResponse:
    return JSONResponse(request.app.openapi())


@router.get("/docs", include_in_schema=False)
def swagger_ui(request: Request) -> HTMLResponse:
    root = request.scope.get("root_path", "")
    return get_swagger_ui_html(
        openapi_url=f"{root}/openapi.json",
        title=f"{request.app.title} API",
        swagger_js_url=f"{root}{ASSETS_URL}/swagger-ui-bundle.js",
        swagger_css_url=f"{root}{ASSETS_URL}/swagger-ui.css",
        swagger_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
    )


def mount_assets(app: FastAPI) -> None:
    """Serve Swagger UI's files at :data:`ASSETS_URL`."""
    app.mount(ASSETS_URL, StaticFiles(directory=_ASSETS), name="docs-assets")
