"""CRM connectors built from the configuration's connections: the one place that knows how.

Secrets are resolved here (environment variable or file, never the YAML), and every problem is a
:class:`~crmsync.config.errors.ConfigError` that names the connection's place in the file.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

import sqlalchemy as sa
from pydantic import ValidationError

from crmsync.config.errors import ConfigError, ConfigIssue
from crmsync.config.models import Config, DataverseConnection, SalesforceConnection
from crmsync.config.secrets import resolve_secret
from crmsync.connectors.base import Connector
from crmsync.connectors.dataverse import DataverseConnectionConfig, DataverseConnector
from crmsync.connectors.salesforce import (
    ClientCredentials,
    SalesforceConnectionConfig,
    SalesforceConnector,
)
from crmsync.errors import ConfigurationError
from crmsync.store import create_engine_for, publish

__all__ = [
    "calls_made",
    "connection_and_store",
    "dataverse_settings",
    "open_connector",
    "salesforce_settings",
]


def dataverse_settings(
    name: str, connection: DataverseConnection, environ: Mapping[str, str] | None = None
) -> DataverseConnectionConfig:
    """The connector settings of Dataverse connection ``name`` (secret resolved)."""
    secret = resolve_secret(name, connection, environ)
    try:
        return DataverseConnectionConfig(
            url=connection.url,
            tenant_id=connection.tenant_id or "organizations",
            authority=connection.authority,
            client_id=connection.client_id,
            client_secret=secret,
            ca_bundle=connection.ca_bundle,
            timeout_seconds=connection.timeout_seconds,
        )
    except ValidationError as exc:
        raise _config_error(name, exc) from None


def salesforce_settings(
    name: str, connection: SalesforceConnection, environ: Mapping[str, str] | None = None
) -> SalesforceConnectionConfig:
    """The connector settings of Salesforce connection ``name`` (secret resolved).

    The OAuth client-credentials flow signs in as the connected app's run-as user; the change
    cursor follows ``SystemModstamp`` (it also moves on system changes).
    """
    secret = resolve_secret(name, connection, environ)
    try:
        return SalesforceConnectionConfig(
            url=connection.url,
            credentials=ClientCredentials(client_id=connection.client_id, client_secret=secret),
            api_version=f"v{connection.api_version}",
            ca_bundle=connection.ca_bundle,
            timeout_seconds=connection.timeout_seconds,
        )
    except ValidationError as exc:
        raise _config_error(name, exc) from None


def _config_error(name: str, exc: ValidationError) -> ConfigError:
    return ConfigError(
        [
            ConfigIssue(("connections", name, *map(str, error["loc"])), error["msg"])
            for error in exc.errors()
        ]
    )


def open_connector(
    name: str,
    connection: DataverseConnection | SalesforceConnection,
    environ: Mapping[str, str] | None = None,
) -> Connector:
    """A connector for connection ``name``; close it with ``aclose()``."""
    if isinstance(connection, DataverseConnection):
        return DataverseConnector(dataverse_settings(name, connection, environ))
    return SalesforceConnector(salesforce_settings(name, connection, environ))


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
