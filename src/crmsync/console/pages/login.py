"""Login and logout: the API's session login, from an HTML form."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from crmsync.api.auth import SESSION_COOKIE, SessionStore
from crmsync.api.models import LoginIn
from crmsync.api.routers.session import login as api_login
from crmsync.console.session import Viewer
from crmsync.console.templating import PREFIX, render

router = APIRouter()

_Text = Annotated[str, Form(max_length=1024)]


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request) -> HTMLResponse:
    return render(request, "login.html", None, error=None, name="")


@router.post("/login", response_model=None)
def login(request: Request, name: _Text = "", password: _Text = "") -> Response:
    """Open the session as ``POST /api/login`` does (same limits), then show the workflows."""
    if not name or not password:
        return render(
            request,
            "login.html",
            None,
            status_code=422,
            error="give a name and a password",
            name=name,
        )
    page = RedirectResponse(f"{PREFIX}/workflows", status_code=303)
    try:
        api_login(LoginIn(name=name, password=password), request, page)
    except HTTPException as exc:
        return render(
            request, "login.html", None, status_code=exc.status_code, error=exc.detail, name=name
        )
    return page


@router.post("/logout")
def logout(_caller: Viewer, request: Request) -> RedirectResponse:
    sessions: SessionStore = request.app.state.sessions
    sessions.close(request.cookies.get(SESSION_COOKIE, ""))
    page = RedirectResponse(f"{PREFIX}/login", status_code=303)
    page.delete_cookie(SESSION_COOKIE)
    return page
