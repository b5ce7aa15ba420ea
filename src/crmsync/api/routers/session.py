"""``/api/login``, ``/api/logout``, ``/api/me``: the browser session."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response, status

from crmsync.api.auth import SESSION_COOKIE, LoginLimiter, SessionStore, Viewer
from crmsync.api.models import LoginIn, LoginOut, problem
from crmsync.api.services.users import UserOut
from crmsync.api.users import UserStore

router = APIRouter(prefix="/api", tags=["session"])


@router.post(
    "/login",
    operation_id="login",
    response_model=LoginOut,
    responses={
        401: problem("wrong name or password"),
        429: problem("too many failed logins: wait Retry-After seconds"),
    },
)
def login(body: LoginIn, request: Request, response: Response) -> LoginOut:
    """Open a session (cookie) and hand out its CSRF token."""
    limiter: LoginLimiter = request.app.state.login_limiter
    users: UserStore = request.app.state.users
    sessions: SessionStore = request.app.state.sessions
    address = request.client.host if request.client else "unknown"
    wait = limiter.retry_after(body.name, address)
    if wait is not None:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            detail=f"too many failed logins: try again in {wait:.0f} s",
            headers={"Retry-After": str(int(wait) + 1)},
        )
    user = users.verify(body.name, body.password)
    if user is None:
        limiter.failed(body.name, address)
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail="wrong user name or password")
    limiter.succeeded(body.name, address)
    session_id, session = sessions.open(user)
    response.set_cookie(
        SESSION_COOKIE,
        session_id,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        max_age=int(sessions.lifetime),
    )
    return LoginOut(name=user.name, role=user.role, csrf_token=session.csrf)


@router.post("/logout", operation_id="logout", status_code=status.HTTP_204_NO_CONTENT)
def logout(_user: Viewer, request: Request, response: Response) -> None:
    sessions: SessionStore = request.app.state.sessions
    session_id = request.cookies.get(SESSION_COOKIE)
    if session_id is not None:
        sessions.close(session_id)
    response.delete_cookie(SESSION_COOKIE)


@router.get("/me", operation_id="me", response_model=UserOut)
def me(user: Viewer) -> UserOut:
    return UserOut(name=user.name, role=user.role)
