"""Connectors opened from the configuration's connections, their secrets read on opening."""

from __future__ import annotations

import pytest

from crmsync.config import Config
from crmsync.config.errors import ConfigError
from crmsync.connectors.dataverse import DataverseConnectionConfig, DataverseConnector
from crmsync.connectors.salesforce import SalesforceConnectionConfig, SalesforceConnector
from crmsync.runtime.connectors import open_connector


def _config() -> Config:
    """Both kinds of connection, as the configuration holds them."""
    salesforce = SalesforceConnectionConfig(
        url="https://acme.my.salesforce.com",
        client_id="3MVG9-key",
        client_secret_env="SF_SECRET",
        flow="password",
        username="me@example.com",
        password_env="SF_PASSWORD",
    )
    dataverse = DataverseConnectionConfig(
        url="https://contoso.crm.dynamics.com",
        tenant_id="contoso",
        client_id="app",
        client_secret_env="DV_SECRET",
    )
    return Config(connections={"org": salesforce, "dyn": dataverse})


async def test_each_kind_opens_its_connector() -> None:
    config = _config()
    env = {"SF_SECRET": "s3cret", "SF_PASSWORD": "pw", "DV_SECRET": "d3cret"}
    salesforce = open_connector("org", config.connections["org"], env)
    dataverse = open_connector("dyn", config.connections["dyn"], env)
    try:
        assert isinstance(salesforce, SalesforceConnector)
        assert isinstance(dataverse, DataverseConnector)
        assert salesforce.config is config.connections["org"]
    finally:
        await salesforce.aclose()
        await dataverse.aclose()


@pytest.mark.parametrize(
    ("name", "env", "setting"),
    [
        ("org", {"SF_PASSWORD": "pw"}, "client_secret_env"),
        ("org", {"SF_SECRET": "s3cret"}, "password_env"),
        ("dyn", {}, "client_secret_env"),
    ],
)
def test_a_missing_secret_names_its_place_in_the_file(
    name: str, env: dict[str, str], setting: str
) -> None:
    config = _config()
    with pytest.raises(ConfigError) as caught:
        open_connector(name, config.connections[name], env)
    (issue,) = caught.value.issues
    assert issue.loc == ("connections", name, setting)
    assert "is not set" in issue.message
