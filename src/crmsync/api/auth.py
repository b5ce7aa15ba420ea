"""Who is calling, and may they: bearer API tokens, browser sessions with CSRF, roles.

- ``Authorization: Bearer <token>``: an API token made by ``crmsync user token``.
- The session cookie set by ``POST /api/login``: state-changing requests (anything but GET, HEAD,
  OPTIONS) must also send the session's CSRF token in ``X-CSRF-Token``, which a page of another
  site cannot read.
- Failed logins are limited per user name and client address, and per address trying many
  names (``LoginLimiter``).

Sessions live in the server's memory: a restart logs everybody out, which is acceptable for the
one-process server and keeps session secrets out of the database.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, Security, status
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer

from crmsync.api.users import Role, User, UserStore
from crmsync.audit import Action, Actor, Face, Outcome, record

__all__ = [
    "CSRF_HEADER",
    "SESSION_COOKIE",
    "LoginLimiter",
    "Session",
    "SessionStore",
    "acting",
    "current_user",
    "require",
]

SESSION_COOKIE = "crmsync_session"
CSRF_HEADER = "X-CSRF-Token"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True, slots=True)
class Session:
    user: User
    csrf: str
    expires_at: float


@dataclass
class SessionStore:
    """Browser sessions by their secret id, expiring after ``lifetime`` seconds."""

    lifetime: float = 8 * 3600
    clock: Callable[[], float] = time.monotonic
    _sessions: dict[str, Session] = field(default_factory=dict)

    def open(self, user: User) -> tuple[str, Session]:
        session_id = secrets.token_urlsafe(32)
        session = Session(user, secrets.token_urlsafe(32), self.clock() + self.lifetime)
        self._sessions[session_id] = session
        return session_id, session

    def get(self, session_id: str) -> Session | None:
        session = self._sessions.get(session_id)
        if session is not None and session.expires_at <= self.clock():
            del self._sessions[session_id]
            return None
        return session

    def close(self, session_id: str) -> None:
        self._sessions.pop(session_id, None)


@dataclass
class LoginLimiter:
    """Failed logins in the last ``window`` seconds, counted per (user name, client address).

    - ``attempts`` failures for one user name from one address hold that pair back, and only
      that pair: another user behind the same address (an office's NAT, a shared host) still
      logs in, and the user still logs in from elsewhere.
    - ``accounts`` user names failing from one address hold back every login from that address:
      one address trying many names is guessing, not mistyping. One user's mistakes count once
      here, so they never hold back another user.

    A success clears the pair's failures.
    """

    attempts: int = 5
    accounts: int = 10
    window: float = 300.0
    clock: Callable[[], float] = time.monotonic
    _failures: dict[tuple[str, str], deque[float]] = field(default_factory=dict)

    def _forget_old(self) -> None:
        """Drop failures older than the window, and pairs left with none (memory stays bounded
        by the failures of the last window)."""
        since = self.clock() - self.window
        for key, failures in list(self._failures.items()):
            while failures and failures[0] <= since:
                failures.popleft()
            if not failures:
                del self._failures[key]

    def retry_after(self, name: str, address: str) -> float | None:
        """Seconds to wait before ``name`` may try again from ``address``, else ``None``."""
        self._forget_old()
        ends = []
        failures = self._failures.get((name, address), ())
        if len(failures) >= self.attempts:
            ends.append(failures[-self.attempts] + self.window)
        # The last failure of each user name failing from the address, oldest first.
        names = sorted(
            times[-1] for (_, source), times in self._failures.items() if source == address
        )
        if len(names) >= self.accounts:
            ends.append(names[-self.accounts] + self.window)
        return max(ends) - self.clock() if ends else None

    def failed(self, name: str, address: str) -> None:
        self._failures.setdefault((name, address), deque()).append(self.clock())

    def succeeded(self, name: str, address: str) -> None:
        self._failures.pop((name, address), None)


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"}
    )


def current_user(request: Request) -> User:
    """The caller, from a bearer token or the session cookie (401 when neither holds)."""
    users: UserStore = request.app.state.users
    sessions: SessionStore = request.app.state.sessions
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _unauthorized("the Authorization header must be 'Bearer <API token>'")
        user = users.by_token(token.strip())
        if user is None:
            raise _unauthorized("unknown or revoked API token")
        return user
    session_id = request.cookies.get(SESSION_COOKIE)
    if session_id is None:
        raise _unauthorized("log in (POST /api/login) or send an API token")
    session = sessions.get(session_id)
    if session is None:
        raise _unauthorized("the session has expired: log in again")
    if request.method not in _SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(sent.encode(), session.csrf.encode()):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                detail=f"missing or wrong {CSRF_HEADER} header (given at login)",
            )
    # The role may have changed since login: read it again.
    fresh = users.get(session.user.name)
    if fresh is None:
        raise _unauthorized("the user no longer exists")
    return fresh


#: The two ways in, as the OpenAPI document declares them (``securitySchemes``): generated
#: clients and API testers send either. They read nothing :func:`current_user` does not check.
API_TOKEN = HTTPBearer(
    scheme_name="apiToken",
    description="An API token made by `crmsync user token`, as `Authorization: Bearer <token>`.",
    auto_error=False,
)
SESSION = APIKeyCookie(
    name=SESSION_COOKIE,
    scheme_name="session",
    description="The session cookie set by `POST /api/login`; requests other than GET, HEAD "
    f"and OPTIONS also send the login answer's `csrf_token` as `{CSRF_HEADER}`.",
    auto_error=False,
)


def _caller(
    request: Request,
    _token: Annotated[HTTPAuthorizationCredentials | None, Security(API_TOKEN)],
    _session: Annotated[str | None, Security(SESSION)],
) -> User:
    """:func:`current_user`, as the dependency that declares its schemes to OpenAPI."""
    return current_user(request)


def _refusal(user: User, role: Role) -> HTTPException:
    return HTTPException(
        status.HTTP_403_FORBIDDEN,
        detail=f"this needs the {role.value} role; '{user.name}' is {user.role.value}",
    )


def require(role: Role) -> Callable[..., User]:
    """A dependency: the caller, when their role allows ``role`` (403 otherwise)."""

    def check(user: Annotated[User, Depends(_caller)]) -> User:
        if not user.role.allows(role):
            raise _refusal(user, role)
        return user

    return check


def acting(role: Role, action: Action) -> Any:
    """A dependency for a route that does ``action`` (recorded in the audit trail by the service
    it calls): the caller as an :class:`~crmsync.audit.Actor` of the API when their role allows
    ``role``; otherwise the refusal is recorded, on the names of the request's path, and 403."""

    def check(request: Request, user: Annotated[User, Depends(_caller)]) -> Actor:
        by = Actor(user.name, Face.API, token="Authorization" in request.headers)
        if not user.role.allows(role):
            record(
                request.app.state.supervisor.engine,
                actor=by.name,
                face=by.face,
                action=action,
                target="/".join(str(value) for value in request.path_params.values()),
                outcome=Outcome.REFUSED,
                details={"role": user.role.value, "needed": role.value},
            )
            raise _refusal(user, role)
        return by

    return Depends(check)


Viewer = Annotated[User, Depends(require(Role.VIEWER))]
Operator = Annotated[User, Depends(require(Role.OPERATOR))]
Admin = Annotated[User, Depends(require(Role.ADMIN))]
