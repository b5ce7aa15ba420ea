"""The console's Jinja2 templates and the answers built from them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from crmsync.console.session import CSRF_FIELD, Caller

__all__ = ["PREFIX", "STATIC", "message", "render"]

#: Where the console lives in the server's URL space.
PREFIX = "/console"
STATIC = Path(__file__).parent / "static"
_TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates")
_TEMPLATES.env.globals.update(prefix=PREFIX, csrf_field=CSRF_FIELD)


def render(
    request: Request,
    template: str,
    caller: Caller | None,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    """The page or fragment ``template`` for ``caller`` (``None`` on the login page)."""
    return _TEMPLATES.TemplateResponse(
        request,
        template,
        {"caller": caller, **context},
        status_code=status_code,
        headers=headers,
    )


def message(
    request: Request, text: str, *, status_code: int = 200, kind: str = "info"
) -> HTMLResponse:
    """A message for the page's status area (``aria-live``); htmx puts it there whatever
    element asked, through ``HX-Retarget``."""
    return render(
        request,
        "_message.html",
        None,
        status_code=status_code,
        headers={"HX-Retarget": "#status", "HX-Reswap": "innerHTML"},
        text=text,
        kind=kind,
    )
