"""The Microsoft identity platform endpoints a Dataverse client talks to before the Web API.

``GET /{tenant}/v2.0/.well-known/openid-configuration`` (what MSAL reads to find the token
endpoint) and ``POST /{tenant}/oauth2/v2.0/token`` for the client-credentials grant, with a client
secret or a certificate-signed client assertion. As Entra ID does, an assertion is accepted only
when it is signed by the key of the certificate registered for the client (its ``x5t#S256`` or
``x5t`` thumbprint names it), is addressed to this token endpoint, names the client as issuer and
subject, and is within its validity. Answers and errors have the shapes of
``login.microsoftonline.com``: errors carry the ``AADSTS`` code in ``error_description`` and
``error_codes``. Any tenant name is accepted; URLs are built from the request's own
``scheme://host:port`` so the emulator works on any port.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from crmsync.emulators.common.tokens import TokenIssuer

__all__ = [
    "CLIENT_ASSERTION_TYPE",
    "RegisteredCertificate",
    "oauth_routes",
    "openid_configuration",
    "registered_certificate",
]

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


@dataclass(frozen=True, slots=True)
class RegisteredCertificate:
    """A certificate registered on the application: its public key and thumbprints."""

    certificate: x509.Certificate
    thumbprints: frozenset[str]

    @classmethod
    def from_pem(cls, pem: bytes) -> RegisteredCertificate:
        certificate = x509.load_pem_x509_certificate(pem)
        thumbprints = frozenset(
            base64.urlsafe_b64encode(certificate.fingerprint(algorithm)).decode().rstrip("=")
            for algorithm in (hashes.SHA256(), hashes.SHA1())  # noqa: S303 - x5t is SHA-1
        )
        return cls(certificate, thumbprints)


def registered_certificate(path: Path | None) -> RegisteredCertificate | None:
    """The certificate of the emulator's settings, read once at start-up."""
    return None if path is None else RegisteredCertificate.from_pem(path.read_bytes())


_SIGNATURE_REFUSED = _AadError(
    401,
    "invalid_client",
    700027,
    "Client assertion failed signature validation, or the certificate used to sign it is not "
    "registered on the application.",
)


def _check_assertion(
    assertion: str, client_id: str, audience: str, registered: RegisteredCertificate | None
) -> None:
    """Raise ``_AadError`` unless ``assertion`` is a valid client assertion of ``client_id``."""
    try:
        header = jwt.get_unverified_header(assertion)
    except jwt.PyJWTError:
        raise _AadError(
            400, "invalid_request", 50027, "JWT token is invalid or malformed."
        ) from None
    thumbprint = str(header.get("x5t#S256") or header.get("x5t") or "").rstrip("=")
    if registered is None or thumbprint not in registered.thumbprints:
        raise _SIGNATURE_REFUSED
    try:
        claims = jwt.decode(
            assertion,
            registered.certificate.public_key(),  # type: ignore[arg-type]
            algorithms=["RS256", "PS256"],
            audience=audience,
            options={"require": ["exp", "aud", "iss", "sub"]},
        )
    except (jwt.ExpiredSignatureError, jwt.ImmatureSignatureError):
        raise _AadError(
            401, "invalid_client", 700024, "Client assertion is not within its valid time range."
        ) from None
    except jwt.InvalidAudienceError:
        raise _AadError(
            401, "invalid_client", 700016, f"The audience of the assertion must be {audience}."
        ) from None
    except jwt.InvalidSignatureError:
        raise _SIGNATURE_REFUSED from None
    except jwt.PyJWTError:
        raise _AadError(
            400, "invalid_request", 50027, "JWT token is invalid or malformed."
        ) from None
    if claims.get("iss") != client_id or claims.get("sub") != client_id:
        raise _AadError(
            401,
            "invalid_client",
            700021,
            "Client assertion application identifier doesn't match 'client_id' parameter.",
        )


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


def _authenticate(
    tokens: TokenIssuer,
    form: Mapping[str, Any],
    request: Request,
    registered: RegisteredCertificate | None,
) -> str:
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
        audience = f"{_base_url(request)}{request.url.path}"
        _check_assertion(str(assertion), client_id, audience, registered)
        return client_id
    raise _AadError(
        401,
        "invalid_client",
        7000218,
        "The request body must contain the following parameter: 'client_assertion' or "
        "'client_secret'.",
    )


def oauth_routes(
    tokens: TokenIssuer, certificate: RegisteredCertificate | None = None
) -> list[BaseRoute]:
    """The identity-platform routes, to mount at the root of the emulator; ``certificate`` is the
    one registered for the client (certificate sign-in is refused without one)."""

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
            client_id = _authenticate(tokens, form, request, certificate)
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
