"""Microsoft's MSAL library gets tokens from the emulated identity platform over HTTPS, trusting
the emulator's generated CA: with a client secret, with a certificate, and is refused a wrong
secret with the AADSTS code."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msal
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from starlette.applications import Starlette

from crmsync.emulators.common.clock import Clock
from crmsync.emulators.common.server import BackgroundServer
from crmsync.emulators.common.tls import TlsFiles, generate
from crmsync.emulators.common.tokens import TokenIssuer
from crmsync.emulators.dataverse.oauth import oauth_routes

CLIENT_ID = "11111111-2222-3333-4444-555555555555"
SECRET = "correct horse battery staple"


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
    with BackgroundServer(Starlette(routes=oauth_routes(tokens)), tls=tls) as server:
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


def test_certificate_credential(
    emulator: tuple[BackgroundServer, TokenIssuer], tls: TlsFiles, tmp_path: Path
) -> None:
    server, tokens = emulator
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "crmsync test client")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    thumbprint = hashlib.sha1(cert.public_bytes(serialization.Encoding.DER)).hexdigest()  # noqa: S324
    credential = {"private_key": pem, "thumbprint": thumbprint}
    result = acquire(server, tls, credential)
    assert "access_token" in result, result
    assert tokens.verify(result["access_token"]) == CLIENT_ID


def test_wrong_secret_is_refused_with_the_aadsts_code(
    emulator: tuple[BackgroundServer, TokenIssuer], tls: TlsFiles
) -> None:
    server, _ = emulator
    result = acquire(server, tls, "wrong")
    assert "access_token" not in result
    assert result["error"] == "invalid_client"
    assert 7000215 in result["error_codes"]
    assert result["error_description"].startswith("AADSTS7000215:")
