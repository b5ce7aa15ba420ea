from __future__ import annotations

import asyncio
import re
import ssl
import time
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
from dv_fakes import SECRET, make_config

from crmsync.connectors.config import ssl_context
from crmsync.connectors.dataverse import auth
from crmsync.connectors.dataverse.auth import AccessToken, MsalTokenProvider
from crmsync.connectors.secrets import MissingSecret
from crmsync.emulators.common.tls import generate
from crmsync.errors import AuthenticationError, ConfigurationError

KEY = "-----BEGIN PRIVATE KEY-----\nMIIkey\n-----END PRIVATE KEY-----"
CERT = "-----BEGIN CERTIFICATE-----\nMIIcert\n-----END CERTIFICATE-----"
ENCRYPTED_KEY = "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIenc\n-----END ENCRYPTED PRIVATE KEY-----"


class FakeMsal:
    """Stands in for ``msal.ConfidentialClientApplication``; answers are scripted."""

    instances: ClassVar[list[FakeMsal]] = []
    answers: ClassVar[list[Any]] = []
    construct_error: Exception | None = None

    def __init__(self, client_id: str, **kwargs: Any) -> None:
        if FakeMsal.construct_error is not None:
            raise FakeMsal.construct_error
        self.client_id = client_id
        self.kwargs = kwargs
        self.acquired: list[list[str]] = []
        self.removed = 0
        FakeMsal.instances.append(self)

    def acquire_token_for_client(self, scopes: list[str]) -> Any:
        self.acquired.append(scopes)
        time.sleep(0.01)  # MSAL blocks; concurrent callers must not all get here
        answer = FakeMsal.answers.pop(0) if FakeMsal.answers else _token("t")
        if isinstance(answer, Exception):
            raise answer
        return answer

    def remove_tokens_for_client(self) -> None:
        self.removed += 1


def _token(value: str, expires_in: int = 3599) -> dict[str, Any]:
    return {"access_token": value, "token_type": "Bearer", "expires_in": expires_in}


@pytest.fixture(autouse=True)
def fake_msal(monkeypatch: pytest.MonkeyPatch) -> type[FakeMsal]:
    FakeMsal.instances = []
    FakeMsal.answers = []
    FakeMsal.construct_error = None
    monkeypatch.setattr(auth.msal, "ConfidentialClientApplication", FakeMsal)
    return FakeMsal


async def test_secret_flow_with_microsoft_authority() -> None:
    provider = MsalTokenProvider(make_config())
    assert await provider.token() == "t"
    (app,) = FakeMsal.instances
    assert app.client_id == "client"
    assert app.kwargs["client_credential"] == SECRET
    assert app.kwargs["authority"] == "https://login.microsoftonline.com/tenant"
    assert app.kwargs["instance_discovery"] is True
    client = app.kwargs["http_client"].client
    assert isinstance(client, httpx.Client)
    assert client.timeout == httpx.Timeout(make_config().timeout_seconds)
    assert app.acquired == [["https://org.example.com/.default"]]


async def test_emulator_authority_skips_instance_discovery(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    contexts: list[ssl.SSLContext] = []

    def recorded(ca_bundle: Path | None) -> ssl.SSLContext:
        contexts.append(ssl_context(ca_bundle))
        return contexts[-1]

    monkeypatch.setattr(auth, "ssl_context", recorded)
    tls = generate([]).write(tmp_path)
    config = make_config(authority="https://127.0.0.1:9443/mytenant", ca_bundle=tls.ca)
    await MsalTokenProvider(config).token()
    (app,) = FakeMsal.instances
    assert app.kwargs["instance_discovery"] is False
    assert isinstance(app.kwargs["http_client"].client, httpx.Client)
    (context,) = contexts  # the token client's trust
    subjects = [dict(x[0] for x in c["subject"]).get("commonName") for c in context.get_ca_certs()]
    assert len(subjects) > 10  # the public CAs stay trusted...
    assert any("crmsync" in (s or "").lower() for s in subjects)  # ...and the bundle adds its CA


async def test_unreadable_ca_bundle_is_a_configuration_error(tmp_path: Path) -> None:
    config = make_config(ca_bundle=tmp_path / "missing.pem")
    with pytest.raises(ConfigurationError, match="cannot load ca_bundle"):
        await MsalTokenProvider(config).token()


async def test_tokens_are_reused_until_close_to_expiry() -> None:
    FakeMsal.answers = [_token("a"), _token("b", expires_in=120), _token("c")]
    provider = MsalTokenProvider(make_config())
    assert [await provider.token() for _ in range(3)] == ["a", "a", "a"]
    assert len(FakeMsal.instances[0].acquired) == 1


async def test_token_about_to_expire_is_refreshed() -> None:
    FakeMsal.answers = [_token("a", expires_in=120), _token("b")]
    provider = MsalTokenProvider(make_config())
    assert await provider.token() == "a"
    assert await provider.token() == "b"


async def test_force_refresh_drops_msal_cache() -> None:
    FakeMsal.answers = [_token("a"), _token("b")]
    provider = MsalTokenProvider(make_config())
    await provider.token()
    assert await provider.token(force_refresh=True) == "b"
    assert FakeMsal.instances[0].removed == 1


async def test_concurrent_refreshes_are_serialized() -> None:
    provider = MsalTokenProvider(make_config())
    tokens = await asyncio.gather(*(provider.token() for _ in range(8)))
    assert set(tokens) == {"t"}
    assert len(FakeMsal.instances[0].acquired) == 1


async def test_concurrent_forced_refreshes_refresh_once() -> None:
    FakeMsal.answers = [_token("a"), _token("b"), _token("c")]
    provider = MsalTokenProvider(make_config())
    await provider.token()
    tokens = await asyncio.gather(*(provider.token(force_refresh=True) for _ in range(5)))
    assert set(tokens) == {"b"}
    assert len(FakeMsal.instances[0].acquired) == 2


@pytest.mark.parametrize(
    ("answer", "fragments"),
    [
        (
            {
                "error": "invalid_client",
                "error_description": f"AADSTS7000215: Invalid client secret ({SECRET}).\r\n"
                "Trace ID: 1",
                "error_codes": [7000215],
            },
            ["invalid_client", "AADSTS7000215", "client secret is wrong"],
        ),
        (
            {
                "error": "invalid_request",
                "error_description": "AADSTS90002: Tenant 'x' not found.",
                "error_codes": [90002],
            },
            ["unknown tenant", "tenant_id"],
        ),
        (
            {
                "error": "invalid_scope",
                "error_description": "AADSTS70011: bad",
                "error_codes": [70011],
            },
            ["scope", "check url"],
        ),
        ({"error": "weird"}, ["weird"]),
    ],
)
async def test_refusals_say_what_to_fix_without_the_secret(
    answer: dict[str, Any], fragments: list[str]
) -> None:
    FakeMsal.answers = [answer]
    with pytest.raises(AuthenticationError) as caught:
        await MsalTokenProvider(make_config()).token()
    message = caught.value.message
    for fragment in fragments:
        assert fragment in message
    assert SECRET not in message
    assert "Trace ID" not in message


async def test_unreachable_authority() -> None:
    FakeMsal.construct_error = ValueError(f"Unable to get authority configuration {SECRET}")
    with pytest.raises(AuthenticationError, match="cannot use the token authority") as caught:
        await MsalTokenProvider(make_config()).token()
    assert SECRET not in caught.value.message


@pytest.mark.parametrize(
    "error", [httpx.ConnectError("connection refused"), ConnectionError("connection refused")]
)
async def test_connection_error_while_acquiring(error: Exception) -> None:
    FakeMsal.answers = [error]
    with pytest.raises(AuthenticationError, match="refused"):
        await MsalTokenProvider(make_config()).token()


def _certificate(tmp_path: Path, *contents: str, **settings: Any) -> MsalTokenProvider:
    pem = tmp_path / "app.pem"
    pem.write_text("\n".join(contents) + "\n")
    config = make_config(client_secret_env=None, certificate_file=pem, **settings)
    return MsalTokenProvider(config, {"KEY_PASSWORD": "key-pass-123"})


async def test_certificate_and_key_in_one_file(tmp_path: Path) -> None:
    await _certificate(tmp_path, CERT, KEY).token()
    assert FakeMsal.instances[0].kwargs["client_credential"] == {
        "private_key": KEY,
        "public_certificate": CERT,
    }


async def test_key_in_its_own_file_with_its_password(tmp_path: Path) -> None:
    key = tmp_path / "app.key"
    key.write_text(ENCRYPTED_KEY)
    provider = _certificate(
        tmp_path, CERT, private_key_file=key, private_key_password_env="KEY_PASSWORD"
    )
    await provider.token()
    assert FakeMsal.instances[0].kwargs["client_credential"] == {
        "private_key": ENCRYPTED_KEY,
        "public_certificate": CERT,
        "passphrase": "key-pass-123",
    }
    assert "key-pass-123" not in repr(provider)
    assert "MIIenc" not in repr(provider)


@pytest.mark.parametrize(
    ("contents", "settings", "fragment"),
    [
        ((CERT,), {}, "holds no PEM private key (give it in private_key_file)"),
        ((KEY,), {}, "holds no PEM certificate"),
        ((CERT, ENCRYPTED_KEY), {}, "is encrypted: name its password"),
        ((CERT, KEY), {"private_key_file": Path("/nonexistent/app.key")}, "cannot read"),
        ((CERT, KEY), {"private_key_password_env": "UNSET"}, "'UNSET' is not set"),
    ],
)
def test_unusable_certificate_says_which_setting(
    tmp_path: Path, contents: tuple[str, ...], settings: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(MissingSecret, match=re.escape(fragment)) as caught:
        _certificate(tmp_path, *contents, **settings)
    assert caught.value.setting in (
        "certificate_file",
        "private_key_file",
        "private_key_password_env",
    )


def test_get_token_is_token_credential_shaped() -> None:
    provider = MsalTokenProvider(make_config())
    token = provider.get_token("https://other.example.com/.default")
    assert isinstance(token, AccessToken)
    assert token.token == "t"
    assert token.expires_on > time.time() + 3000
    assert FakeMsal.instances[0].acquired == [["https://other.example.com/.default"]]


def test_repr_hides_credentials() -> None:
    assert SECRET not in repr(MsalTokenProvider(make_config()))


def test_form_values_msal_hands_as_bytes_are_sent_as_text() -> None:
    """A certificate's client assertion comes from MSAL as bytes: sent as its text, never as
    ``b'…'``."""
    seen: list[bytes] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.content)
        return httpx.Response(200, json={})

    client = auth._MsalHttpClient(httpx.Client(transport=httpx.MockTransport(answer)))
    client.post("https://login.example/token", data={"client_assertion": b"a.b.c", "n": "1"})
    assert seen == [b"client_assertion=a.b.c&n=1"]
