"""``POST /services/oauth2/token`` and the session check in front of ``/services/data``.

Grants: ``client_credentials`` (client id and secret) and ``password`` (username, password with
the security token appended, plus the connected app's client id and secret). Any credentials are
accepted unless the emulator is restricted to one client id/secret, and to one user (whose
password must then come with the security token appended). Answers carry the emulator's
own base URL as ``instance_url`` and a ``signature``: base64 HMAC-SHA256 of ``id`` + ``issued_at``
keyed with the client secret, as Salesforce signs them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from crmsync.emulators.common.clock import Clock
from crmsync.emulators.common.tokens import TokenIssuer
from crmsync.emulators.salesforce.config import SalesforceEmulatorSettings
from crmsync.emulators.salesforce.errors import error_body
from crmsync.emulators.salesforce.limits import ApiUsage
from crmsync.emulators.salesforce.store import ORG_ID, USER_ID

__all__ = ["PasswordUser", "SessionGate", "oauth_routes", "supported_version"]

_TOKEN_PREFIX = ORG_ID[:15] + "!"
_VERSION_RE = re.compile(r"^/v(\d{2}\.0)(?:/|$)")


def _oauth_error(error: str, description: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=status)


@dataclass(frozen=True, slots=True)
class PasswordUser:
    """The one user the username-password flow signs in, when the emulator is restricted."""

    username: str
    password: str  # the password with the security token appended

    @classmethod
    def from_settings(cls, settings: SalesforceEmulatorSettings) -> PasswordUser | None:
        if settings.username is None:
            return None
        password = settings.password.get_secret_value() if settings.password else ""
        token = settings.security_token.get_secret_value() if settings.security_token else ""
        return cls(settings.username, password + token)

    def accepts(self, username: str, password: str) -> bool:
        same_user = hmac.compare_digest(username.encode(), self.username.encode())
        return hmac.compare_digest(password.encode(), self.password.encode()) and same_user


def oauth_routes(
    tokens: TokenIssuer, clock: Clock, user: PasswordUser | None = None
) -> list[BaseRoute]:
    """The token endpoint (form-encoded POST, JSON answers); ``user`` restricts the
    username-password flow to one user."""
    signing_fallback = secrets.token_bytes(32)

    async def token(request: Request) -> Response:
        try:
            form = await request.form()
        except Exception:
            return _oauth_error("invalid_request", "invalid request body")
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        grant = fields.get("grant_type", "")
        client_id = fields.get("client_id", "")
        client_secret = fields.get("client_secret")
        if grant not in ("client_credentials", "password"):
            return _oauth_error("unsupported_grant_type", "grant type not supported")
        if not client_id:
            return _oauth_error("invalid_client_id", "client identifier invalid")
        if not tokens.client_allowed(client_id, client_secret) or (
            tokens.restricted and client_secret is None
        ):
            return _oauth_error("invalid_client", "invalid client credentials")
        if grant == "password":
            username, password = fields.get("username", ""), fields.get("password", "")
            if not (username and password) or (
                user is not None and not user.accepts(username, password)
            ):
                return _oauth_error("invalid_grant", "authentication failure")
        if grant == "client_credentials" and not client_secret:
            return _oauth_error("invalid_client", "invalid client credentials")
        access, _ = tokens.issue(fields.get("username") or client_id)
        base = str(request.base_url).rstrip("/")
        identity = f"{base}/id/{ORG_ID}/{USER_ID}"
        issued_at = str(int(clock.now().timestamp() * 1000))
        key = client_secret.encode() if client_secret else signing_fallback
        signature = base64.b64encode(
            hmac.new(key, (identity + issued_at).encode(), hashlib.sha256).digest()
        ).decode()
        return JSONResponse(
            {
                "access_token": _TOKEN_PREFIX + access,
                "instance_url": base,
                "id": identity,
                "token_type": "Bearer",
                "issued_at": issued_at,
                "signature": signature,
            },
            headers={"Cache-Control": "no-cache,must-revalidate,max-age=0,no-store,private"},
        )

    return [Route("/services/oauth2/token", token, methods=["POST"])]


def supported_version(version: str, newest: str) -> bool:
    return 31.0 <= float(version) <= float(newest)


class SessionGate:
    """ASGI middleware in front of ``/services/data``: checks the API version and the bearer
    token, counts the request against the daily budget and adds ``Sforce-Limit-Info``.

    The versions list (``GET /services/data/``) needs no session, as on the real service.
    """

    def __init__(self, app: ASGIApp, tokens: TokenIssuer, usage: ApiUsage, newest: str) -> None:
        self.app = app
        self.tokens = tokens
        self.usage = usage
        self.newest = newest

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        root = scope.get("root_path", "")
        relative = path[len(root) :] if root and path.startswith(root) else path
        if relative in ("", "/"):
            await self.app(scope, receive, send)
            return
        match = _VERSION_RE.match(relative)
        if match is None or not supported_version(match[1], self.newest):
            await _send_error(send, 404)
            return
        if not self._authorized(scope):
            await _send_error(send, 401, {"WWW-Authenticate": "Token"})
            return
        if not self.usage.take():
            await _send_error(send, 403)
            return
        header = self.usage.header().encode()

        async def send_with_usage(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"sforce-limit-info", header))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_usage)

    def _authorized(self, scope: Scope) -> bool:
        for name, value in scope.get("headers", []):
            if name == b"authorization":
                scheme, _, credential = value.decode("latin-1").partition(" ")
                if scheme.lower() not in ("bearer", "oauth"):
                    return False
                credential = credential.strip()
                if credential.startswith(_TOKEN_PREFIX):
                    credential = credential[len(_TOKEN_PREFIX) :]
                return self.tokens.verify(credential) is not None
        return False


async def _send_error(send: Send, status: int, extra: dict[str, str] | None = None) -> None:
    body, content_type = error_body(status)
    headers = [
        (b"content-type", content_type.encode()),
        (b"content-length", str(len(body)).encode()),
    ]
    headers += [(k.lower().encode(), v.encode()) for k, v in (extra or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
