"""Connectors for the connections of the configuration file, opened once per job run.

Secrets are resolved by :func:`crmsync.config.resolve_secret`; TLS verification stays on (a
connection's ``ca_bundle`` adds trusted authorities, e.g. an emulator's).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from crmsync.config.errors import ConfigError, ConfigIssue
from crmsync.config.models import Config, DataverseConnection, SalesforceConnection
from crmsync.config.secrets import resolve_secret
from crmsync.connectors.base import Connector
from crmsync.connectors.dataverse import DataverseConnectionConfig, DataverseConnector
from crmsync.connectors.salesforce import SalesforceConnectionConfig, SalesforceConnector
from crmsync.connectors.salesforce.config import ClientCredentials

__all__ = ["ConnectorPool", "Dialect", "open_connector"]

Dialect = Literal["dataverse", "salesforce"]


def open_connector(
    name: str,
    connection: DataverseConnection | SalesforceConnection,
    environ: Mapping[str, str] | None = None,
) -> Connector:
    """A connector for connection ``name`` of the configuration."""
    secret = resolve_secret(name, connection, environ)
    if isinstance(connection, DataverseConnection):
        return DataverseConnector(
            DataverseConnectionConfig(
                url=connection.url,
                tenant_id=connection.tenant_id or "organizations",
                authority=connection.authority,
                client_id=connection.client_id,
                client_secret=secret,
                ca_bundle=connection.ca_bundle,
                timeout_seconds=connection.timeout_seconds,
            )
        )
    return SalesforceConnector(
        SalesforceConnectionConfig(
            url=connection.url,
            credentials=ClientCredentials(client_id=connection.client_id, client_secret=secret),
            api_version=f"v{connection.api_version}",
            ca_bundle=connection.ca_bundle,
        )
    )


class ConnectorPool:
    """One connector per connection name, opened on first use and closed together."""

    def __init__(
        self,
        config: Config,
        environ: Mapping[str, str] | None = None,
        *,
        connectors: Mapping[str, tuple[Dialect, Connector]] | None = None,
    ) -> None:
        self._config = config
        self._environ = environ
        self._open: dict[str, tuple[Dialect, Connector]] = dict(connectors or {})

    def get(self, name: str) -> tuple[Dialect, Connector]:
        found = self._open.get(name)
        if found is not None:
            return found
        connection = self._config.connections.get(name)
        if connection is None:
            raise ConfigError([ConfigIssue(("connections", name), f"no connection named '{name}'")])
        opened = (connection.kind, open_connector(name, connection, self._environ))
        self._open[name] = opened
        return opened

    async def aclose(self) -> None:
        for _, connector in self._open.values():
            await connector.aclose()
        self._open.clear()
