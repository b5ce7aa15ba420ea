from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs

import httpx
import pytest
from sf_fakes import INSTANCE, SECRET, FakeOrg, make_config

from crmsync.connectors.salesforce import OAuthSessionProvider
from crmsync.errors import AuthenticationError, ConfigurationError


async def _provider(
    org: FakeOrg, **config: object
) -> tuple[OAuthSessionProvider, httpx.AsyncClient]:
    http = httpx.AsyncClient(transport=httpx.MockTransport(org))
    return OAuthSessionProvider(make_config(**config), http), http


async def test_client_credentials_sign_in(org: FakeOrg) -> None:
    provider, http = await _provider(org)
    async with http:
        session = await provider.session()
        assert session.access_token == "token-1"
        assert session.instance_url == INSTANCE
        assert session.issued_at == 1767225600000
        assert session.user_id == "005000000000001AAA"  # from the identity URL
        assert await provider.session() is session  # reused until refused
    (request,) = org.requests
    assert str(request.url) == "https://acme.my.salesforce.com/services/oauth2/token"
    form = parse_qs(request.content.decode())
    assert form == {
        "grant_type": ["client_credentials"],
        "client_id": ["consumer-key"],
        "client_secret": [SECRET],
    }
    assert "token-1" not in repr(session)


async def test_password_flow_appends_the_security_token(
    org: FakeOrg, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SF_PASSWORD", "pass-word")
    token_file = tmp_path / "token"
    token_file.write_text("TOKEN\n")
    provider, http = await _provider(
        org,
        flow="password",
        username="me@example.com",
        password_env="SF_PASSWORD",
        security_token_file=token_file,
    )
    assert "pass-word" not in repr(provider)
    async with http:
        await provider.session()
    form = parse_qs(org.requests[0].content.decode())
    assert form["grant_type"] == ["password"]
    assert form["username"] == ["me@example.com"]
    assert form["password"] == ["pass-wordTOKEN"]
    assert form["client_secret"] == [SECRET]


async def test_force_refresh_signs_in_again(org: FakeOrg) -> None:
    provider, http = await _provider(org)
    async with http:
        first = await provider.session()
        second = await provider.session(force_refresh=True)
    assert first is not second
    assert org.tokens_issued == 2


@pytest.mark.parametrize(
    ("answer", "hint"),
    [
        (
            {"error": "invalid_client", "error_description": "invalid client secret"},
            "client secret is wrong",
        ),
        (
            {"error": "invalid_grant", "error_description": "authentication failure"},
            "user name, password or security token",
        ),
        (
            {"error": "invalid_client_id", "error_description": "client identifier invalid"},
            "check client_id",
        ),
        (
            {"error": "unsupported_grant_type", "error_description": "grant type not supported"},
            "flow is not enabled",
        ),
    ],
)
async def test_refusals_say_what_to_fix_without_secrets(
    org: FakeOrg, answer: dict[str, str], hint: str
) -> None:
    answer = {**answer, "error_description": answer["error_description"] + f" ({SECRET})"}
    org.token_answer = httpx.Response(400, json=answer)
    provider, http = await _provider(org)
    async with http:
        with pytest.raises(AuthenticationError, match=hint) as caught:
            await provider.session()
    assert caught.value.code == answer["error"]
    assert SECRET not in str(caught.value)
    assert "***" in str(caught.value)


async def test_non_json_refusal(org: FakeOrg) -> None:
    org.token_answer = httpx.Response(500, text="<html>down</html>")
    provider, http = await _provider(org)
    async with http:
        with pytest.raises(AuthenticationError, match="HTTP 500"):
            await provider.session()


@pytest.mark.parametrize("instance", [None, "ftp://x", "not a url", 5])
async def test_unusable_instance_url(org: FakeOrg, instance: object) -> None:
    org.token_answer = httpx.Response(200, json={"access_token": "t", "instance_url": instance})
    provider, http = await _provider(org)
    async with http:
        with pytest.raises(AuthenticationError, match="instance_url"):
            await provider.session()


async def test_http_instance_url_refused_unless_allowed(org: FakeOrg) -> None:
    org.token_answer = httpx.Response(
        200, json={"access_token": "t", "instance_url": "http://insecure.example.com"}
    )
    provider, http = await _provider(org)
    async with http:
        with pytest.raises(ConfigurationError, match="unencrypted"):
            await provider.session()


async def test_unreachable_token_endpoint(org: FakeOrg) -> None:
    def drop(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    http = httpx.AsyncClient(transport=httpx.MockTransport(drop))
    provider = OAuthSessionProvider(make_config(), http)
    async with http:
        with pytest.raises(AuthenticationError, match="cannot reach the token endpoint"):
            await provider.session()
