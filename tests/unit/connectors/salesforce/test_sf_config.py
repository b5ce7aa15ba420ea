from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from sf_fakes import SECRET, make_config


def test_client_credentials_flow_and_defaults() -> None:
    config = make_config(page_size=2000)
    assert config.flow == "client_credentials"
    assert config.token_url == "https://acme.my.salesforce.com/services/oauth2/token"
    assert config.api_root("https://x.my.salesforce.com/") == (
        "https://x.my.salesforce.com/services/data/v62.0/"
    )
    assert config.cursor_field == "SystemModstamp"
    assert config.api_budget_share == 0.8
    assert (config.page_size, config.batch_size) == (2000, 200)
    assert config.timeout_seconds == 120.0
    assert SECRET not in repr(config)


def test_password_flow_names_its_secrets() -> None:
    config = make_config(
        flow="password",
        username="user@example.com",
        password_file=Path("/run/secrets/sf-password"),
        security_token_env="SF_TOKEN",
    )
    assert config.username == "user@example.com"
    assert config.has_secret("password")


def test_api_version_as_salesforce_writes_it() -> None:
    assert make_config(api_version="61.0").api_version == "v61.0"
    assert make_config(api_version="v61.0").api_version == "v61.0"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"url": "http://acme.my.salesforce.com"}, "must use https"),
        ({"url": "https://acme.my.salesforce.com/services"}, "no path"),
        ({"url": "https://user:pw@acme.my.salesforce.com"}, "credentials"),
        ({"url": "acme.my.salesforce.com"}, "absolute https URL"),
        ({"page_size": 100}, "greater than or equal to 200"),
        ({"batch_size": 201}, "less than or equal to 200"),
        ({"cursor_field": "CreatedDate"}, "SystemModstamp"),
        ({"api_version": "62"}, "pattern"),
        ({"api_budget_share": 0}, "greater than 0"),
        ({"client_secret_env": None}, "give the connected app's secret"),
        ({"flow": "password", "password_env": "SF_PASSWORD"}, "needs 'username'"),
        ({"flow": "password", "username": "u"}, "needs 'password_env' or 'password_file'"),
        ({"username": "u"}, "'username' goes with 'flow: password'"),
        ({"security_token_env": "T"}, "'security_token_env' goes with 'flow: password'"),
        ({"flow": "jwt"}, "flow"),
        ({"password": "pw"}, "secrets must not be written"),
        ({"password_env": "A", "password_file": Path("p"), "flow": "password"}, "not both"),
    ],
)
def test_invalid_settings_say_what_is_wrong(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        make_config(**overrides)


def test_http_only_for_local_tests() -> None:
    config = make_config(url="http://127.0.0.1:8443", allow_insecure_http=True)
    assert config.url == "http://127.0.0.1:8443"
