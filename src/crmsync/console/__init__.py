"""The admin web console (SPEC §9): server-rendered pages with htmx, under ``/console``.

``install(app)`` adds the pages, their static files (CSS, the vendored htmx) and the answers to
a missing login or a refused action to the API application.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from crmsync.console.routes import router
from crmsync.console.session import ConsoleDenied, LoginRequired
from crmsync.console.templating import PREFIX, STATIC, message, render

__all__ = ["install", "router"]


def install(app: FastAPI) -> None:
    """Serve the console from ``app`` (created by :func:`crmsync.api.create_app`)."""
    app.include_router(router)
    app.mount(f"{PREFIX}/static", StaticFiles(directory=STATIC), name="console-static")

    @app.exception_handler(LoginRequired)
    async def login_first(request: Request, _exc: LoginRequired) -> Response:
        login = f"{PREFIX}/login"
        if request.headers.get("HX-Request"):
            return Response(status_code=204, headers={"HX-Redirect": login})
        return RedirectResponse(login, status_code=303)

    @app.exception_handler(ConsoleDenied)
    async def denied(request: Request, exc: ConsoleDenied) -> Response:
        if request.headers.get("HX-Request"):
            return message(request, exc.message, status_code=403, kind="error")
        return render(request, "denied.html", None, status_code=403, text=exc.message)
