"""Connectors for the connections of the configuration file, opened once per job run.

Each is opened by :func:`crmsync.runtime.connectors.open_connector`, the one place that turns a
configured connection into a connector (secrets resolved, TLS verification on).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from crmsync.config.errors import ConfigError, ConfigIssue
from crmsync.config.models import Config
from crmsync.connectors.base import Connector
from crmsync.runtime.connectors import open_connector

__all__ = ["ConnectorPool", "Dialect"]

Dialect = Literal["dataverse", "salesforce"]


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
