"""The Salesforce connector the engine uses: metadata, reads, change tracking and writes.

Composes the session provider, the raw REST client, the metadata cache, the reader and the
writer::

    async with SalesforceConnector(config) as crm:
        info = await crm.describe("Contact")
        async for page in crm.track_changes("Contact", None, cursor=None):
            ...
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import httpx

from crmsync.connectors.base import (
    ChangePage,
    Deletion,
    Record,
)
from crmsync.connectors.composed import ComposedConnector
from crmsync.connectors.salesforce.auth import SessionProvider
from crmsync.connectors.salesforce.client import CallCounters, SalesforceClient
from crmsync.connectors.salesforce.config import SalesforceConnectionConfig
from crmsync.connectors.salesforce.created import CreatedRecords, Known, Settled
from crmsync.connectors.salesforce.metadata import SalesforceMetadata
from crmsync.connectors.salesforce.reader import SalesforceReader
from crmsync.connectors.salesforce.writer import SalesforceWriter

__all__ = ["SalesforceConnector"]


class SalesforceConnector(ComposedConnector[CallCounters]):
    """A connection to one Salesforce org: a :class:`~crmsync.connectors.base.Connector`.

    Its secrets are read from ``environ`` (default: the process environment) and files.
    ``transport``, ``sessions``, ``sleep`` and ``clock`` replace the network, the sign-in and
    time in tests.
    """

    client: SalesforceClient
    metadata: SalesforceMetadata
    _writer: SalesforceWriter

    def __init__(
        self,
        config: SalesforceConnectionConfig,
        *,
        environ: Mapping[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sessions: SessionProvider | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.client = SalesforceClient(
            config, sessions, environ=environ, transport=transport, sleep=sleep, clock=clock
        )
        self.metadata = SalesforceMetadata(self.client, cursor_field=config.cursor_field)
        self._reader = SalesforceReader(
            self.client,
            self.metadata,
            batch_size=config.page_size,
            cursor_field=config.cursor_field,
            overlap_seconds=config.overlap_seconds,
        )
        self._created = CreatedRecords(self.client, self.metadata, self._reader, sleep)
        self._writer = SalesforceWriter(
            self.client,
            self.metadata,
            self._created,
            collection_size=config.batch_size,
            max_retries=config.max_retries,
        )

    def __repr__(self) -> str:
        return f"SalesforceConnector(url={self.config.url!r})"

    def read_all(
        self, table: str, fields: Sequence[str] | None = None, *, where: str | None = None
    ) -> AsyncIterator[list[Record]]:
        return self._reader.read_all(table, fields, where=where)

    def track_changes(
        self,
        table: str,
        fields: Sequence[str] | None,
        cursor: str | None,
        *,
        formatted: bool = True,
    ) -> AsyncIterator[ChangePage]:
        """``formatted`` is accepted for the interface: Salesforce sends no display labels."""
        return self._reader.track_changes(table, fields, cursor)

    def server_now(self) -> datetime:
        """The org's current time (from the ``Date`` header of its latest answer)."""
        return self.client.server_now()

    async def settle_creates(
        self,
        table: str,
        records: Sequence[Mapping[str, Any]],
        sent_at: datetime,
        known: Known,
    ) -> Settled:
        """What became of ``records`` (values as sent in a create call sent at ``sent_at``,
        whose answer was lost): created, not created, or in doubt (see
        :mod:`~crmsync.connectors.salesforce.created`)."""
        return await self._created.settle(table, records, sent_at, known)

    async def deleted(self, table: str, start: datetime, end: datetime) -> list[Deletion]:
        """Records of ``table`` deleted between ``start`` and ``end`` (aware datetimes)."""
        return await self._reader.deleted(table, start, end)
