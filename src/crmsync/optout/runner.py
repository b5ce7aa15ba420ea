"""Opening the opt-in/out workflow from a configuration: store, tables, CRM connection."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

from crmsync.config.models import Config
from crmsync.errors import ConfigurationError
from crmsync.optout.workflow import OptInOutWorkflow
from crmsync.store import create_engine_for, publish
from crmsync.sync.connections import open_connector

__all__ = ["open_optinout"]


@asynccontextmanager
async def open_optinout(
    config: Config, *, environ: Mapping[str, str] | None = None
) -> AsyncIterator[OptInOutWorkflow]:
    """The configured workflow, opened (store published, CRM metadata read); closed on exit."""
    name = config.optinout.connection
    if name is None or name not in config.connections:
        raise ConfigurationError("optinout.connection: no such connection", code="invalid_config")
    engine = create_engine_for(config.store.url, schema=config.store.pg_schema)
    connector = open_connector(name, config.connections[name], environ)
    try:
        publish(engine, config.resources)
        workflow = OptInOutWorkflow(config, connector, engine)
        await workflow.open()
        yield workflow
    finally:
        await connector.aclose()
        engine.dispose()
