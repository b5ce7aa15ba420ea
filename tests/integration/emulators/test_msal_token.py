"""Microsoft's MSAL library gets tokens from the emulated identity platform over HTTPS, trusting
the emulator's generated CA: with a client secret, with the registered certificate (by its
thumbprint, or by the certificate itself), and is refused a wrong secret or an unregistered
certificate with the AADSTS code."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import msal
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from starlette.applications import Starlette

from crmsync.emulators.common.clock import Clock
from crmsync.emulators.common.server import BackgroundServer
from crmsync.emulators.common.tls import ApplicationCertificate, TlsFiles, generate
from crmsync.emulators.common.tokens import TokenIssuer
from crmsync.emulators.dataverse.oauth import RegisteredCertificate, oauth_routes

CLIENT_ID = "11111111-2222-3333-4444-555555555555"
SECRET = "correct horse battery staple"
REGISTERED = ApplicationCertificate.create("crmsync test client")


@pytest.fixture(autouse=True)
def _no_ca_bundle_override(monkeypatch: pytest.MonkeyPatch) -> None:
    # requests lets these variables override a session's `verify` (the one MSAL sets), so a
    # machine-wide bundle would hide the emulator's CA.
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return generate([]).write(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def emulator(tls: TlsFiles) -> Iterator[tuple[BackgroundServer, TokenIssuer]]:
    tokens = TokenIssuer(Clock(), client_id=CLIENT_ID, client_secret=SECRET)
    routes = oauth_routes(tokens, RegisteredCertificate.from_pem(REGISTERED.cert_pem))
    with BackgroundServer(Starlette(routes=routes), tls=tls) as server:
        yield server, tokens


def acquire(server: BackgroundServer, tls: TlsFiles, credential: object) -> dict[str, Any]:
    """A token for the emulator's resource, through a fresh MSAL application."""
    app = msal.ConfidentialClientApplication(
        CLIENT_ID,
        client_credential=credential,
        authority=f"{server.url}/mytenant",
        instance_discovery=False,
        verify=str(tls.ca),
    )
    try:
        result: dict[str, Any] = app.acquire_token_for_client(scopes=[f"{server.url}/.default"])
    finally:
        app.http_client.close()  # an idle keep-alive TLS connection would delay server shutdown
    return result


def test_client_secret(emulator: tuple[BackgroundServer, TokenIssuer], tls: TlsFiles) -> None:
    server, tokens = emulator
    result = acquire(server, tls, SECRET)
    assert "access_token" in result, result
    assert result["token_type"] == "Bearer"
    assert tokens.verify(result["access_token"]) == CLIENT_ID


def _sha1_thumbprint(made: ApplicationCertificate) -> str:
    cert = x509.load_pem_x509_certificate(made.cert_pem)
    return hashlib.sha1(cert.public_bytes(serialization.Encoding.DER)).hexdigest()  # noqa: S324


@pytest.mark.parametrize("by", ["thumbprint", "certificate"])
def test_certificate_credential(
    emulator: tuple[BackgroundServer, TokenIssuer], tls: TlsFiles, by: str
) -> None:
    server, tokens = emulator
    credential = {"private_key": REGISTERED.key_pem.decode()}
    if by == "thumbprint":  # SHA-1 x5t, RS256
        credential["thumbprint"] = _sha1_thumbprint(REGISTERED)
    else:  # SHA-256 x5t#S256, PS256
        credential["public_certificate"] = REGISTERED.cert_pem.decode()
    result = acquire(server, tls, credential)
    assert "access_token" in result, result
    assert tokens.verify(result["access_token"]) == CLIENT_ID


def test_an_unregistered_certificate_is_refused(
    emulator: tuple[BackgroundServer, TokenIssuer], tls: TlsFiles
) -> None:
    server, _ = emulator
    other = ApplicationCertificate.create("someone else")
    credential = {
        "private_key": other.key_pem.decode(),
        "public_certificate": other.cert_pem.decode(),
    }
    result = acquire(server, tls, credential)
    assert "access_token" not in result
    assert result["error_codes"] == [700027]


def test_wrong_secret_is_refused_with_the_aadsts_code(
    emulator: tuple[BackgroundServer, TokenIssuer], tls: TlsFiles
) -> None:
    server, _ = emulator
    result = acquire(server, tls, "wrong")
    assert "access_token" not in result
    assert result["error"] == "invalid_client"
    assert 7000215 in result["error_codes"]
    assert result["error_description"].startswith("AADSTS7000215:")
