"""Opening the opt-in/out workflow from a configuration: store, tables, CRM connection."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

from crmsync.config.models import Config
from crmsync.optout.workflow import OptInOutWorkflow
from crmsync.runtime.connectors import connection_and_store

__all__ = ["open_optinout"]


@asynccontextmanager
async def open_optinout(
    config: Config, *, environ: Mapping[str, str] | None = None
) -> AsyncIterator[OptInOutWorkflow]:
    """The configured workflow, opened (store published, CRM metadata read); closed on exit."""
    async with connection_and_store(config, "optinout", config.optinout.connection, environ) as (
        connector,
        engine,
    ):
        workflow = OptInOutWorkflow(config, connector, engine)
        await workflow.open()
        yield workflow
