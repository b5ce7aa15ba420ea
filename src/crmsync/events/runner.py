"""Opening the outbound workflow from a configuration: store, event tables, CRM connection."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

from crmsync.config.models import Config
from crmsync.errors import ConfigurationError
from crmsync.events.outbound import OutboundWorkflow
from crmsync.store import create_engine_for, publish
from crmsync.sync.connections import open_connector

__all__ = ["open_outbound"]


@asynccontextmanager
async def open_outbound(
    config: Config, *, environ: Mapping[str, str] | None = None
) -> AsyncIterator[OutboundWorkflow]:
    """The configured workflow, opened (store published, CRM tables checked); closed on exit."""
    name = config.outbound.connection
    if name is None or name not in config.connections:
        raise ConfigurationError("outbound.connection: no such connection", code="invalid_config")
    engine = create_engine_for(config.store.url, schema=config.store.pg_schema)
    connector = open_connector(name, config.connections[name], environ)
    try:
        publish(engine, config.resources)
        workflow = OutboundWorkflow(config, connector, engine)
        await workflow.open()
        yield workflow
    finally:
        await connector.aclose()
        engine.dispose()
