"""CRM connectors opened from the configuration's connections, for every workflow.

A connection's settings are the connector's own (:mod:`crmsync.connectors.dataverse.config`,
:mod:`crmsync.connectors.salesforce.config`); secrets are read when a connector opens (environment
variable or file, never the YAML), and a missing one is a
:class:`~crmsync.config.errors.ConfigError` that names its place in the file.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager

import sqlalchemy as sa

from crmsync.config.errors import ConfigError, ConfigIssue
from crmsync.config.models import Config
from crmsync.connectors.base import Connector
from crmsync.connectors.dataverse import DataverseConnectionConfig, DataverseConnector
from crmsync.connectors.salesforce import SalesforceConnectionConfig, SalesforceConnector
from crmsync.connectors.secrets import MissingSecret
from crmsync.errors import ConfigurationError
from crmsync.store import create_engine_for, publish

__all__ = [
    "ConnectorOpener",
    "calls_made",
    "connection_and_store",
    "open_connector",
]

#: :func:`open_connector`'s signature: (connection name, connection, environment) → connector;
#: callers that open connectors take one (tests pass fakes).
ConnectorOpener = Callable[
    [str, DataverseConnectionConfig | SalesforceConnectionConfig, Mapping[str, str] | None],
    Connector,
]


def open_connector(
    name: str,
    connection: DataverseConnectionConfig | SalesforceConnectionConfig,
    environ: Mapping[str, str] | None = None,
) -> Connector:
    """A connector for connection ``name``, its secrets read from ``environ`` (default: the
    process environment) and files; close it with ``aclose()``.

    A secret that cannot be read is a :class:`ConfigError` naming its place in the file
    (``connections.<name>.<setting>``).
    """
    try:
        if isinstance(connection, DataverseConnectionConfig):
            return DataverseConnector(connection, environ=environ)
        return SalesforceConnector(connection, environ=environ)
    except MissingSecret as exc:
        raise ConfigError([ConfigIssue(("connections", name, exc.setting), exc.message)]) from None


def calls_made(connector: Connector) -> int:
    """Requests the connector has sent so far (0 when it does not count them)."""
    counters = getattr(connector, "counters", None)
    if counters is None:
        return 0
    return int(
        getattr(counters, "reads", 0)
        + getattr(counters, "writes", 0)
        + getattr(counters, "batches", 0)
    )


@asynccontextmanager
async def connection_and_store(
    config: Config,
    section: str,
    connection: str | None,
    environ: Mapping[str, str] | None = None,
) -> AsyncIterator[tuple[Connector, sa.Engine]]:
    """What a workflow of ``section`` (``outbound``, ``optinout``) runs on: its CRM connection
    and the Campaign store (resources published); both closed on exit."""
    if connection is None or connection not in config.connections:
        raise ConfigurationError(f"{section}.connection: no such connection", code="invalid_config")
    engine = create_engine_for(config.store.url, schema=config.store.pg_schema)
    connector = open_connector(connection, config.connections[connection], environ)
    try:
        # Schema work may wait for another workflow's: off the event loop.
        await asyncio.to_thread(publish, engine, config.resources)
        yield connector, engine
    finally:
        await connector.aclose()
        engine.dispose()
