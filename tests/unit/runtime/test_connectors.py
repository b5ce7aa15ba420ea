"""Connectors built from the configuration's connections: Salesforce with its secret resolved."""

from __future__ import annotations

from pathlib import Path

import pytest

from crmsync.config.errors import ConfigError
from crmsync.config.models import SalesforceConnection
from crmsync.connectors.salesforce import ClientCredentials, SalesforceConnector
from crmsync.runtime.connectors import open_connector, salesforce_settings


def _connection(**overrides: object) -> SalesforceConnection:
    values: dict[str, object] = {
        "kind": "salesforce",
        "url": "https://acme.my.salesforce.com",
        "client_id": "3MVG9-key",
        "client_secret_env": "SF_SECRET",
        **overrides,
    }
    return SalesforceConnection.model_validate(values)


def test_salesforce_settings_carry_the_connection_and_its_secret(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    connection = _connection(api_version="61.0", ca_bundle=ca, timeout_seconds=12)
    settings = salesforce_settings("org", connection, {"SF_SECRET": "s3cret"})
    assert settings.url == "https://acme.my.salesforce.com"
    assert settings.api_version == "v61.0"
    assert settings.ca_bundle == ca
    assert settings.timeout_seconds == 12
    assert isinstance(settings.credentials, ClientCredentials)
    assert settings.credentials.client_id == "3MVG9-key"
    assert settings.credentials.client_secret.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(settings)


async def test_open_connector_gives_a_salesforce_connector() -> None:
    connector = open_connector("org", _connection(), {"SF_SECRET": "s3cret"})
    try:
        assert isinstance(connector, SalesforceConnector)
    finally:
        await connector.aclose()


def test_a_missing_secret_names_the_connection() -> None:
    with pytest.raises(ConfigError) as caught:
        open_connector("org", _connection(), {})
    assert caught.value.issues[0].loc == ("connections", "org", "client_secret_env")


def test_an_http_url_is_refused_with_its_place() -> None:
    with pytest.raises(ConfigError) as caught:
        salesforce_settings("org", _connection(url="http://acme.example"), {"SF_SECRET": "x"})
    issue = caught.value.issues[0]
    assert issue.loc[:2] == ("connections", "org")
    assert "https" in issue.message
