"""The emulated identity platform: discovery document, token grants and AAD-shaped errors."""

from __future__ import annotations

import base64
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import jwt as pyjwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette

from crmsync.emulators.common.clock import Clock
from crmsync.emulators.common.tls import ApplicationCertificate
from crmsync.emulators.common.tokens import TokenIssuer
from crmsync.emulators.dataverse.oauth import (
    CLIENT_ASSERTION_TYPE,
    RegisteredCertificate,
    oauth_routes,
)

SCOPE = "https://org.example/.default"


def client_for(tokens: TokenIssuer) -> httpx.AsyncClient:
    app = Starlette(routes=oauth_routes(tokens))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://emu:8443")


@pytest.fixture
async def open_client() -> AsyncIterator[tuple[TokenIssuer, httpx.AsyncClient]]:
    tokens = TokenIssuer(Clock())
    async with client_for(tokens) as client:
        yield tokens, client


@pytest.fixture
async def restricted() -> AsyncIterator[tuple[TokenIssuer, httpx.AsyncClient]]:
    tokens = TokenIssuer(Clock(), client_id="app-1", client_secret="s3cret")
    async with client_for(tokens) as client:
        yield tokens, client


async def test_discovery_document_uses_the_request_host(
    open_client: tuple[TokenIssuer, httpx.AsyncClient],
) -> None:
    _, client = open_client
    response = await client.get("/mytenant/v2.0/.well-known/openid-configuration")
    assert response.status_code == 200
    doc = response.json()
    assert doc["issuer"] == "https://emu:8443/mytenant/v2.0"
    assert doc["token_endpoint"] == "https://emu:8443/mytenant/oauth2/v2.0/token"
    assert doc["authorization_endpoint"] == "https://emu:8443/mytenant/oauth2/v2.0/authorize"
    assert doc["jwks_uri"] == "https://emu:8443/mytenant/discovery/v2.0/keys"
    for key in (
        "token_endpoint_auth_methods_supported",
        "response_types_supported",
        "subject_types_supported",
        "id_token_signing_alg_values_supported",
    ):
        assert doc[key]
    assert (await client.get(doc["jwks_uri"])).json() == {"keys": []}


async def test_client_secret_grant_issues_a_verifiable_token(
    restricted: tuple[TokenIssuer, httpx.AsyncClient],
) -> None:
    tokens, client = restricted
    response = await client.post(
        "/t/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "app-1",
            "client_secret": "s3cret",
            "scope": SCOPE,
        },
    )
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == body["ext_expires_in"] == 3599
    assert tokens.verify(body["access_token"]) == "app-1"
    assert response.headers["cache-control"].startswith("no-store")


async def test_basic_authentication_is_accepted(
    restricted: tuple[TokenIssuer, httpx.AsyncClient],
) -> None:
    _, client = restricted
    response = await client.post(
        "/t/oauth2/v2.0/token",
        data={"grant_type": "client_credentials", "scope": SCOPE},
        auth=("app-1", "s3cret"),
    )
    assert response.status_code == 200


def _application(name: str) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    made = ApplicationCertificate.create(name)
    key = serialization.load_pem_private_key(made.key_pem, password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key, x509.load_pem_x509_certificate(made.cert_pem)


APP_KEY, APP_CERTIFICATE = _application("app-1")
OTHER_KEY, OTHER_CERTIFICATE = _application("other")
TOKEN_URL = "https://emu:8443/t/oauth2/v2.0/token"


def _assertion(
    key: rsa.RSAPrivateKey = APP_KEY,
    certificate: x509.Certificate = APP_CERTIFICATE,
    algorithm: str = "PS256",
    **claims: Any,
) -> str:
    thumbprint = certificate.fingerprint(hashes.SHA256())
    now = int(time.time())
    body = {"iss": "app-1", "sub": "app-1", "aud": TOKEN_URL, "exp": now + 600, "nbf": now - 5}
    return pyjwt.encode(
        body | claims,
        key,
        algorithm=algorithm,
        headers={"x5t#S256": base64.urlsafe_b64encode(thumbprint).decode().rstrip("=")},
    )


@pytest.fixture
async def with_certificate() -> AsyncIterator[tuple[TokenIssuer, httpx.AsyncClient]]:
    tokens = TokenIssuer(Clock(), client_id="app-1", client_secret="s3cret")
    pem = APP_CERTIFICATE.public_bytes(serialization.Encoding.PEM)
    app = Starlette(routes=oauth_routes(tokens, RegisteredCertificate.from_pem(pem)))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://emu:8443") as client:
        yield tokens, client


def _assertion_form(assertion: str) -> dict[str, str]:
    return {
        "grant_type": "client_credentials",
        "client_id": "app-1",
        "client_assertion_type": CLIENT_ASSERTION_TYPE,
        "client_assertion": assertion,
        "scope": SCOPE,
    }


@pytest.mark.parametrize("algorithm", ["PS256", "RS256"])
async def test_an_assertion_signed_by_the_registered_certificate_gets_a_token(
    with_certificate: tuple[TokenIssuer, httpx.AsyncClient], algorithm: str
) -> None:
    tokens, client = with_certificate
    form = _assertion_form(_assertion(algorithm=algorithm))
    response = await client.post("/t/oauth2/v2.0/token", data=form)
    assert response.status_code == 200, response.text
    assert tokens.verify(response.json()["access_token"]) == "app-1"


@pytest.mark.parametrize(
    ("assertion", "status", "code"),
    [
        # Signed by another key, though naming the registered certificate.
        (lambda: _assertion(key=OTHER_KEY), 401, 700027),
        # Another certificate, not registered on the application.
        (lambda: _assertion(OTHER_KEY, OTHER_CERTIFICATE), 401, 700027),
        (lambda: _assertion(iss="other", sub="other"), 401, 700021),
        (lambda: _assertion(aud="https://elsewhere/t/oauth2/v2.0/token"), 401, 700016),
        (lambda: _assertion(exp=int(time.time()) - 600), 401, 700024),
        (lambda: "not-a-jwt", 400, 50027),
    ],
)
async def test_assertions_are_checked_like_entra_id(
    with_certificate: tuple[TokenIssuer, httpx.AsyncClient],
    assertion: Callable[[], str],
    status: int,
    code: int,
) -> None:
    _, client = with_certificate
    response = await client.post("/t/oauth2/v2.0/token", data=_assertion_form(assertion()))
    assert (response.status_code, response.json()["error_codes"]) == (status, [code])


async def test_without_a_registered_certificate_assertions_are_refused(
    restricted: tuple[TokenIssuer, httpx.AsyncClient],
) -> None:
    _, client = restricted
    response = await client.post("/t/oauth2/v2.0/token", data=_assertion_form(_assertion()))
    assert (response.status_code, response.json()["error_codes"]) == (401, [700027])


@pytest.mark.parametrize(
    ("form", "status", "error", "code"),
    [
        (
            {"client_id": "app-1", "client_secret": "wrong"},
            401,
            "invalid_client",
            7000215,
        ),
        ({"client_id": "nobody", "client_secret": "s3cret"}, 400, "unauthorized_client", 700016),
        ({"client_id": "app-1"}, 401, "invalid_client", 7000218),
        ({"client_secret": "s3cret"}, 400, "invalid_request", 900144),
        (
            {"client_id": "app-1", "client_secret": "s3cret", "grant_type": "password"},
            400,
            "unsupported_grant_type",
            70003,
        ),
        (
            {"client_id": "app-1", "client_secret": "s3cret", "scope": "https://org.example/x"},
            400,
            "invalid_scope",
            1002012,
        ),
        (
            {"client_id": "app-1", "client_secret": "s3cret", "scope": "openid"},
            400,
            "invalid_scope",
            70011,
        ),
        (
            {"client_id": "app-1", "client_secret": "s3cret", "scope": ""},
            400,
            "invalid_request",
            900144,
        ),
    ],
)
async def test_refusals_have_the_aad_shape(
    restricted: tuple[TokenIssuer, httpx.AsyncClient],
    form: dict[str, str],
    status: int,
    error: str,
    code: int,
) -> None:
    _, client = restricted
    data = {"grant_type": "client_credentials", "scope": SCOPE, **form}
    response = await client.post("/t/oauth2/v2.0/token", data=data)
    assert response.status_code == status
    body = response.json()
    assert body["error"] == error
    assert body["error_codes"] == [code]
    assert body["error_description"].startswith(f"AADSTS{code}: ")
    assert {"timestamp", "trace_id", "correlation_id"} <= body.keys()
    assert "s3cret" not in response.text


async def test_unrestricted_issuer_accepts_any_client(
    open_client: tuple[TokenIssuer, httpx.AsyncClient],
) -> None:
    tokens, client = open_client
    response = await client.post(
        "/any/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "x",
            "client_secret": "y",
            "scope": SCOPE,
        },
    )
    assert tokens.verify(response.json()["access_token"]) == "x"


async def test_non_form_body_is_refused(
    open_client: tuple[TokenIssuer, httpx.AsyncClient],
) -> None:
    _, client = open_client
    response = await client.post("/t/oauth2/v2.0/token", json={"grant_type": "client_credentials"})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
