"""Connection secrets: read from the environment or a file, never shown, missing ones named."""

from __future__ import annotations

from pathlib import Path

import pytest

from crmsync.connectors.salesforce import SalesforceConnectionConfig
from crmsync.connectors.secrets import MissingSecret, missing_secrets, read_secret

SECRET = "s3cr3t-value-xyz"


def _settings(**secret: object) -> SalesforceConnectionConfig:
    return SalesforceConnectionConfig.model_validate(
        {"url": "https://x.my.salesforce.com", "client_id": "app"} | secret
    )


def test_secret_from_the_environment_is_hidden() -> None:
    settings = _settings(client_secret_env="SF_SECRET")
    secret = read_secret(settings, "client_secret", {"SF_SECRET": SECRET})
    assert secret is not None
    assert secret.get_secret_value() == SECRET
    assert SECRET not in repr(secret)
    assert SECRET not in str(secret)


def test_secret_from_a_file_without_its_line_end(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    path.write_text(SECRET + "\n", encoding="utf-8")
    secret = read_secret(_settings(client_secret_file=path), "client_secret", {})
    assert secret is not None
    assert secret.get_secret_value() == SECRET


def test_no_source_named_is_no_secret() -> None:
    assert read_secret(_settings(client_secret_env="SF_SECRET"), "security_token", {}) is None


def test_missing_environment_variable_names_the_setting() -> None:
    with pytest.raises(MissingSecret) as caught:
        read_secret(_settings(client_secret_env="SF_SECRET"), "client_secret", {})
    assert caught.value.setting == "client_secret_env"
    assert "'SF_SECRET' is not set" in caught.value.message


def test_unreadable_or_empty_file(tmp_path: Path) -> None:
    with pytest.raises(MissingSecret, match="cannot read secret file"):
        read_secret(_settings(client_secret_file=tmp_path / "none"), "client_secret", {})
    empty = tmp_path / "empty"
    empty.write_text("\n", encoding="utf-8")
    with pytest.raises(MissingSecret, match="is empty") as caught:
        read_secret(_settings(client_secret_file=empty), "client_secret", {})
    assert caught.value.setting == "client_secret_file"


def test_every_missing_secret_is_listed() -> None:
    settings = _settings(
        client_secret_env="SF_SECRET",
        flow="password",
        username="me@example.com",
        password_env="SF_PASSWORD",
        security_token_env="SF_TOKEN",
    )
    missing = missing_secrets(settings, settings.secrets, {"SF_PASSWORD": "pw"})
    assert [m.setting for m in missing] == ["client_secret_env", "security_token_env"]
