"""The emulated identity platform: discovery document, token grants and AAD-shaped errors."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette

from crmsync.emulators.common.clock import Clock
from crmsync.emulators.common.tokens import TokenIssuer
from crmsync.emulators.dataverse.oauth import CLIENT_ASSERTION_TYPE, oauth_routes

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


def jwt(header: object, claims: object) -> str:
    def part(value: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part(header)}.{part(claims)}.c2lnbmF0dXJl"


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


async def test_client_assertion_grant(restricted: tuple[TokenIssuer, httpx.AsyncClient]) -> None:
    tokens, client = restricted
    form = {
        "grant_type": "client_credentials",
        "client_id": "app-1",
        "client_assertion_type": CLIENT_ASSERTION_TYPE,
        "client_assertion": jwt({"alg": "RS256", "x5t": "abc"}, {"iss": "app-1", "sub": "app-1"}),
        "scope": SCOPE,
    }
    response = await client.post("/t/oauth2/v2.0/token", data=form)
    assert response.status_code == 200
    assert tokens.verify(response.json()["access_token"]) == "app-1"

    form["client_assertion"] = jwt({"alg": "RS256"}, {"iss": "other", "sub": "other"})
    mismatch = await client.post("/t/oauth2/v2.0/token", data=form)
    assert (mismatch.status_code, mismatch.json()["error_codes"]) == (401, [700021])

    form["client_assertion"] = "not-a-jwt"
    malformed = await client.post("/t/oauth2/v2.0/token", data=form)
    assert (malformed.status_code, malformed.json()["error_codes"]) == (400, [50027])


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
