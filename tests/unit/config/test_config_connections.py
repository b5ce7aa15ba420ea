"""A connection in the file is its connector's own settings model: one set of defaults, whichever
way it is built, and keys the connector does not have are refused."""

from __future__ import annotations

import pytest

from crmsync.config import ConfigError, load_config_text
from crmsync.connectors.dataverse import DataverseConnectionConfig
from crmsync.connectors.salesforce import SalesforceConnectionConfig

FILE = """
connections:
  dyn:
    kind: dataverse
    url: https://contoso.crm.dynamics.com
    tenant_id: contoso
    client_id: app
    client_secret_env: DV_SECRET
  org:
    kind: salesforce
    url: https://acme.my.salesforce.com
    client_id: key
    client_secret_env: SF_SECRET
"""


def test_defaults_are_the_same_from_the_file_and_from_python() -> None:
    config = load_config_text(FILE)
    assert config.connections["dyn"] == DataverseConnectionConfig(
        url="https://contoso.crm.dynamics.com",
        tenant_id="contoso",
        client_id="app",
        client_secret_env="DV_SECRET",
    )
    assert config.connections["org"] == SalesforceConnectionConfig(
        url="https://acme.my.salesforce.com", client_id="key", client_secret_env="SF_SECRET"
    )
    dyn, org = config.connections["dyn"], config.connections["org"]
    assert (dyn.timeout_seconds, dyn.max_retries) == (org.timeout_seconds, org.max_retries)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("page_size", "4", None),
        ("batch_size", "10", None),
        ("max_retries", "2", None),
        ("timeout_seconds", "0", "timeout_seconds: Input should be greater than 0"),
        ("api_budget_share", "0.5", "api_budget_share: 'api_budget_share' is not available yet"),
        ("client_secret", "hunter2", "client_secret: secrets must not be written"),
        ("password_env", "PW", "password_env: unknown key"),
    ],
)
def test_dataverse_keys_are_checked_with_their_path(
    key: str, value: str, message: str | None
) -> None:
    text = FILE.replace("    tenant_id: contoso", f"    tenant_id: contoso\n    {key}: {value}")
    if message is None:
        assert getattr(load_config_text(text).connections["dyn"], key) == int(value)
        return
    with pytest.raises(ConfigError) as caught:
        load_config_text(text)
    assert f"connections.dyn.{message}" in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_salesforce_keeps_its_api_budget_share() -> None:
    text = FILE.replace("    client_id: key", "    client_id: key\n    api_budget_share: 0.5")
    assert load_config_text(text).connections["org"].api_budget_share == 0.5
