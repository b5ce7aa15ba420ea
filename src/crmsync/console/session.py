"""Who is looking at the console, and may they: the API's session cookie, CSRF and roles.

The console uses the session of ``POST /api/login`` (the same cookie and CSRF token). htmx sends
the CSRF token in the ``X-CSRF-Token`` header on every request (``hx-headers`` on the page's
body); plain HTML forms carry it in a hidden ``csrf_token`` field, copied to the header here so
that :func:`crmsync.api.auth.current_user` checks both the same way.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status

from crmsync.api.auth import CSRF_HEADER, SESSION_COOKIE, SessionStore, current_user
from crmsync.api.users import Role, User
from crmsync.audit import Actor, Face

__all__ = [
    "Admin",
    "Caller",
    "ConsoleDenied",
    "LoginRequired",
    "Operator",
    "Viewer",
]

CSRF_FIELD = "csrf_token"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class LoginRequired(Exception):
    """No valid session: the page sends the browser to the login page."""


class ConsoleDenied(Exception):
    """The caller may not do this (403) or sent no valid CSRF token; shown as a message."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class Caller:
    """The logged-in user and the CSRF token the page hands to htmx and forms."""

    user: User
    csrf: str

    @property
    def can_operate(self) -> bool:
        return self.user.role.allows(Role.OPERATOR)

    @property
    def can_admin(self) -> bool:
        return self.user.role.allows(Role.ADMIN)

    @property
    def actor(self) -> Actor:
        """The caller as the audit trail records them."""
        return Actor(self.user.name, Face.CONSOLE)


async def _with_form_token(request: Request) -> Request:
    """``request``, with the form's CSRF field as the header when only the form carries it."""
    if request.method in _SAFE_METHODS or CSRF_HEADER in request.headers:
        return request
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        return request
    token = (await request.form()).get(CSRF_FIELD)
    if not isinstance(token, str):
        return request
    scope = dict(request.scope)
    scope["headers"] = [*request.scope["headers"], (CSRF_HEADER.lower().encode(), token.encode())]
    return Request(scope, request.receive)


async def caller(request: Request) -> Caller:
    """The logged-in caller (:class:`LoginRequired` when there is no valid session)."""
    checked = await _with_form_token(request)
    try:
        user = current_user(checked)
    except HTTPException as exc:
        if exc.status_code == status.HTTP_401_UNAUTHORIZED:
            raise LoginRequired from None
        raise ConsoleDenied(str(exc.detail)) from None
    sessions: SessionStore = request.app.state.sessions
    session = sessions.get(request.cookies.get(SESSION_COOKIE, ""))
    if session is None:  # an API token: the console is for browsers
        raise LoginRequired
    return Caller(user, session.csrf)


def _allowed(role: Role) -> Callable[..., Awaitable[Caller]]:
    async def check(found: Annotated[Caller, Depends(caller)]) -> Caller:
        if not found.user.role.allows(role):
            raise ConsoleDenied(
                f"this needs the {role.value} role; '{found.user.name}' is {found.user.role.value}"
            )
        return found

    return check


Viewer = Annotated[Caller, Depends(_allowed(Role.VIEWER))]
Operator = Annotated[Caller, Depends(_allowed(Role.OPERATOR))]
Admin = Annotated[Caller, Depends(_allowed(Role.ADMIN))]
