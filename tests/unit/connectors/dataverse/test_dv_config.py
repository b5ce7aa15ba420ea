from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from dv_fakes import SECRET, make_config
from pydantic import ValidationError


def test_defaults_and_derived_urls() -> None:
    config = make_config(url="https://Org.Example.com/")
    assert config.url == "https://Org.Example.com"
    assert config.service_root == "https://Org.Example.com/api/data/v9.2/"
    assert config.scope == "https://Org.Example.com/.default"
    assert config.authority_url == "https://login.microsoftonline.com/tenant"
    assert config.batch_size == 1000
    assert config.api_version == "v9.2"


def test_secrets_never_in_repr_or_str() -> None:
    config = make_config()
    assert SECRET not in repr(config)
    assert SECRET not in str(config)
    assert SECRET not in str(config.model_dump())


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"url": "http://org.example.com"}, "https"),
        ({"url": "https://org.example.com/api/data"}, "base URL only"),
        ({"url": "https://user:pw@org.example.com"}, "credentials"),
        ({"url": "ftp://org.example.com"}, "absolute https"),
        ({"client_secret_env": None}, "give one credential"),
        ({"certificate_file": Path("c.pem")}, "give one credential"),
        ({"client_secret_file": Path("s.txt")}, "not both"),
        ({"private_key_file": Path("k.pem")}, "'private_key_file' goes with 'certificate_file'"),
        ({"client_secret": SECRET}, "secrets must not be written"),
        ({"private_key": "KEY"}, "'private_key_file'"),
        ({"tenant_id": None}, "give 'tenant_id' or 'authority'"),
        ({"api_budget_share": 0.5}, "not available yet"),
        ({"timeout_seconds": 0}, "timeout_seconds"),
        ({"authority": "http://login.example.com/t"}, "authority"),
        ({"authority": "https://login.example.com"}, "tenant path"),
        ({"page_size": 5001}, "page_size"),
        ({"page_size": 0}, "page_size"),
        ({"batch_size": 1001}, "batch_size"),
        ({"api_version": "9.2"}, "api_version"),
        ({"unknown": 1}, "unknown"),
    ],
)
def test_invalid_configurations_say_what_is_wrong(overrides: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ValidationError) as caught:
        make_config(**overrides)
    assert fragment in str(caught.value)
    assert SECRET not in str(caught.value)


def test_http_allowed_only_when_asked() -> None:
    config = make_config(url="http://127.0.0.1:8080", allow_insecure_http=True)
    assert config.service_root == "http://127.0.0.1:8080/api/data/v9.2/"


def test_certificate_credentials_accepted() -> None:
    config = make_config(
        client_secret_env=None,
        certificate_file=Path("app.pem"),
        private_key_file=Path("app.key"),
        private_key_password_env="KEY_PASSWORD",
    )
    assert config.private_key_file == Path("app.key")


def test_an_authority_alone_names_the_tenant() -> None:
    config = make_config(tenant_id=None, authority="https://login.example.com/contoso")
    assert config.authority_url == "https://login.example.com/contoso"


def test_custom_authority_is_kept() -> None:
    config = make_config(authority="https://127.0.0.1:8443/mytenant/")
    assert config.authority_url == "https://127.0.0.1:8443/mytenant"
