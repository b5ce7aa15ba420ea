"""The Microsoft identity platform endpoints a Dataverse client talks to before the Web API.

``GET /{tenant}/v2.0/.well-known/openid-configuration`` (what MSAL reads to find the token
endpoint) and ``POST /{tenant}/oauth2/v2.0/token`` for the client-credentials grant, with a client
secret or a certificate-signed client assertion. Answers and errors have the shapes of
``login.microsoftonline.com``: errors carry the ``AADSTS`` code in ``error_description`` and
``error_codes``. Any tenant name is accepted; URLs are built from the request's own
``scheme://host:port`` so the emulator works on any port.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from crmsync.emulators.common.tokens import TokenIssuer

__all__ = ["CLIENT_ASSERTION_TYPE", "oauth_routes", "openid_configuration"]

CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
_OIDC_SCOPES = frozenset({"openid", "profile", "email", "offline_access"})
_NO_STORE = {"Cache-Control": "no-store, no-cache", "Pragma": "no-cache"}


def openid_configuration(base_url: str, tenant: str) -> dict[str, Any]:
    """The OpenID Connect discovery document of ``tenant`` served at ``base_url``."""
    root = f"{base_url}/{tenant}"
    return {
        "issuer": f"{root}/v2.0",
        "authorization_endpoint": f"{root}/oauth2/v2.0/authorize",
        "token_endpoint": f"{root}/oauth2/v2.0/token",
        "device_authorization_endpoint": f"{root}/oauth2/v2.0/devicecode",
        "end_session_endpoint": f"{root}/oauth2/v2.0/logout",
        "jwks_uri": f"{root}/discovery/v2.0/keys",
        "token_endpoint_auth_methods_supported": [
            "client_secret_post",
            "private_key_jwt",
            "client_secret_basic",
        ],
        "response_modes_supported": ["query", "fragment", "form_post"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "tid", "oid", "name"],
        "request_uri_parameter_supported": False,
        "tenant_region_scope": None,
        "cloud_instance_name": "microsoftonline.com",
    }


class _AadError(Exception):
    """A token request refused the way Microsoft Entra ID refuses it."""

    def __init__(self, status: int, error: str, code: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.code = code
        self.description = description


def _missing(parameter: str) -> _AadError:
    return _AadError(
        400,
        "invalid_request",
        900144,
        f"The request body must contain the following parameter: '{parameter}'.",
    )


def _error_response(error: _AadError, base_url: str) -> JSONResponse:
    now = datetime.now(UTC)
    trace_id, correlation_id = str(uuid.uuid4()), str(uuid.uuid4())
    stamp = now.strftime("%Y-%m-%d %H:%M:%SZ")
    description = (
        f"AADSTS{error.code}: {error.description} Trace ID: {trace_id} "
        f"Correlation ID: {correlation_id} Timestamp: {now.strftime('%Y-%m-%d %H:%M:%S.%fZ')}"
    )
    body = {
        "error": error.error,
        "error_description": description,
        "error_codes": [error.code],
        "timestamp": stamp,
        "trace_id": trace_id,
        "correlation_id": correlation_id,
        "error_uri": f"{base_url}/error?code={error.code}",
    }
    return JSONResponse(body, status_code=error.status, headers=_NO_STORE)


def _base_url(request: Request) -> str:
    return f"{request.url.scheme}://{request.url.netloc}"


def _b64url_json(segment: str) -> Any:
    padded = segment + "=" * (-len(segment) % 4)
    return json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))


def _assertion_client(assertion: str) -> tuple[str | None, str | None]:
    """``(iss, sub)`` of a client-assertion JWT; raises ``_AadError`` when it is malformed.

    The signature is not checked: the emulator has no registered certificate to check it with.
    """
    parts = assertion.split(".")
    try:
        if len(parts) != 3 or not all(parts):
            raise ValueError("not three segments")
        header, claims = _b64url_json(parts[0]), _b64url_json(parts[1])
        if not isinstance(header, dict) or not isinstance(claims, dict):
            raise ValueError("segments are not JSON objects")
        if not str(header.get("alg", "")).upper().startswith(("RS", "PS", "ES")):
            raise ValueError("unsupported alg")
    except (ValueError, UnicodeError, binascii.Error):
        raise _AadError(
            400, "invalid_request", 50027, "JWT token is invalid or malformed."
        ) from None
    iss, sub = claims.get("iss"), claims.get("sub")
    return (iss if isinstance(iss, str) else None, sub if isinstance(sub, str) else None)


def _basic_credentials(request: Request) -> tuple[str, str] | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        client_id, sep, secret = base64.b64decode(value, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise _AadError(
            401, "invalid_client", 7000218, "The client credentials are malformed."
        ) from None
    return (client_id, secret) if sep else None


def _check_scope(scope: str | None) -> None:
    if not scope:
        raise _missing("scope")
    resources = [s for s in scope.split() if s not in _OIDC_SCOPES]
    for item in resources:
        if not item.endswith("/.default"):
            raise _AadError(
                400,
                "invalid_scope",
                1002012,
                f"The provided value for scope {item} is not valid. Client credential flows "
                "must have a scope value with /.default suffixed to the resource identifier "
                "(application ID URI).",
            )
    if not resources:
        raise _AadError(
            400,
            "invalid_scope",
            70011,
            f"The provided value for the input parameter 'scope' is not valid. The scope "
            f"{scope} is not valid.",
        )


def _authenticate(tokens: TokenIssuer, form: Mapping[str, Any], request: Request) -> str:
    """Check a client-credentials token request; the client id, or raise ``_AadError``."""
    grant_type = form.get("grant_type")
    if not grant_type:
        raise _missing("grant_type")
    if grant_type != "client_credentials":
        raise _AadError(
            400,
            "unsupported_grant_type",
            70003,
            f"The app requested an unsupported grant type '{str(grant_type)[:60]}'.",
        )
    basic = _basic_credentials(request)
    client_id = form.get("client_id") or (basic[0] if basic else None)
    if not client_id:
        raise _missing("client_id")
    client_id = str(client_id)
    _check_scope(form.get("scope"))
    if not tokens.client_known(client_id):
        raise _AadError(
            400,
            "unauthorized_client",
            700016,
            f"Application with identifier '{client_id[:80]}' was not found in the directory. "
            "This can happen if the application has not been installed by the administrator "
            "of the tenant.",
        )
    secret = form.get("client_secret") or (basic[1] if basic else None)
    assertion = form.get("client_assertion")
    if secret:
        if not tokens.client_allowed(client_id, str(secret)):
            raise _AadError(
                401,
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the request is "
                f"the client secret value, not the client secret ID, for a secret added to app "
                f"'{client_id[:80]}'.",
            )
        return client_id
    if assertion:
        if form.get("client_assertion_type") != CLIENT_ASSERTION_TYPE:
            raise _AadError(
                400,
                "invalid_request",
                50027,
                f"Invalid client_assertion_type: expected '{CLIENT_ASSERTION_TYPE}'.",
            )
        iss, sub = _assertion_client(str(assertion))
        if iss != client_id or sub != client_id:
            raise _AadError(
                401,
                "invalid_client",
                700021,
                "Client assertion application identifier doesn't match 'client_id' parameter.",
            )
        return client_id
    raise _AadError(
        401,
        "invalid_client",
        7000218,
        "The request body must contain the following parameter: 'client_assertion' or "
        "'client_secret'.",
    )


def oauth_routes(tokens: TokenIssuer) -> list[BaseRoute]:
    """The identity-platform routes, to mount at the root of the emulator."""

    async def discovery(request: Request) -> Response:
        tenant = request.path_params["tenant"]
        return JSONResponse(openid_configuration(_base_url(request), tenant))

    async def keys(request: Request) -> Response:
        return JSONResponse({"keys": []})

    async def token(request: Request) -> Response:
        base = _base_url(request)
        content_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
        if content_type != "application/x-www-form-urlencoded":
            error = _AadError(
                400,
                "invalid_request",
                900144,
                "The request body must be form-encoded (application/x-www-form-urlencoded) "
                "and contain the following parameter: 'grant_type'.",
            )
            return _error_response(error, base)
        try:
            form: FormData = await request.form(max_files=0, max_fields=50)
        except Exception:  # the parser raises several types for hostile bodies
            return _error_response(_missing("grant_type"), base)
        try:
            client_id = _authenticate(tokens, form, request)
        except _AadError as error:
            return _error_response(error, base)
        access_token, expires_in = tokens.issue(client_id)
        body = {
            "token_type": "Bearer",
            "expires_in": expires_in,
            "ext_expires_in": expires_in,
            "access_token": access_token,
        }
        return JSONResponse(body, headers=_NO_STORE)

    return [
        Route("/{tenant}/v2.0/.well-known/openid-configuration", discovery, methods=["GET"]),
        Route("/{tenant}/discovery/v2.0/keys", keys, methods=["GET"]),
        Route("/{tenant}/oauth2/v2.0/token", token, methods=["POST"]),
    ]
