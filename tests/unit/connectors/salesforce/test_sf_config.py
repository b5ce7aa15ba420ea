from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError
from sf_fakes import SECRET, make_config

from crmsync.connectors.salesforce import ClientCredentials, PasswordCredentials


def test_client_credentials_flow_and_defaults() -> None:
    config = make_config()
    assert isinstance(config.credentials, ClientCredentials)
    assert config.token_url == "https://acme.my.salesforce.com/services/oauth2/token"
    assert config.api_root("https://x.my.salesforce.com/") == (
        "https://x.my.salesforce.com/services/data/v62.0/"
    )
    assert config.cursor_field == "SystemModstamp"
    assert config.api_budget_share == 0.8
    assert SECRET not in repr(config)


def test_password_flow_is_its_own_class() -> None:
    config = make_config(
        credentials={
            "flow": "password",
            "client_id": "key",
            "client_secret": "secret",
            "username": "user@example.com",
            "password": "pw",
            "security_token": "tok",
        }
    )
    assert isinstance(config.credentials, PasswordCredentials)
    assert "pw" not in repr(config.credentials)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"url": "http://acme.my.salesforce.com"}, "must use https"),
        ({"url": "https://acme.my.salesforce.com/services"}, "no path"),
        ({"url": "https://user:pw@acme.my.salesforce.com"}, "credentials"),
        ({"url": "acme.my.salesforce.com"}, "absolute https URL"),
        ({"batch_size": 100}, "greater than or equal to 200"),
        ({"collection_size": 201}, "less than or equal to 200"),
        ({"cursor_field": "CreatedDate"}, "SystemModstamp"),
        ({"api_version": "62.0"}, "pattern"),
        ({"api_budget_share": 0}, "greater than 0"),
        (
            {
                "credentials": {
                    "flow": "password",
                    "client_id": "k",
                    "client_secret": "s",
                    "username": "u",
                }
            },
            "password",
        ),
        (
            {"credentials": {"flow": "client_credentials", "client_id": "k", "username": "u"}},
            "client_secret",
        ),
        ({"credentials": {"flow": "jwt", "client_id": "k"}}, "flow"),
    ],
)
def test_invalid_settings_say_what_is_wrong(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        make_config(**overrides)


def test_http_only_for_local_tests() -> None:
    config = make_config(url="http://127.0.0.1:8443", allow_insecure_http=True)
    assert config.url == "http://127.0.0.1:8443"
