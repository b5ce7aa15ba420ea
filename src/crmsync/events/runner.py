"""Opening the outbound workflow from a configuration: store, event tables, CRM connection."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

from crmsync.config.models import Config
from crmsync.events.outbound import OutboundWorkflow
from crmsync.runtime.connectors import connection_and_store

__all__ = ["open_outbound"]


@asynccontextmanager
async def open_outbound(
    config: Config, *, environ: Mapping[str, str] | None = None
) -> AsyncIterator[OutboundWorkflow]:
    """The configured workflow, opened (store published, CRM tables checked); closed on exit."""
    async with connection_and_store(config, "outbound", config.outbound.connection, environ) as (
        connector,
        engine,
    ):
        workflow = OutboundWorkflow(config, connector, engine)
        await workflow.open()
        yield workflow
