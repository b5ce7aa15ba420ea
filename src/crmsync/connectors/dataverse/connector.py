"""The Dataverse connector the engine uses: metadata, reads, change tracking and writes.

Composes the token provider, the raw client, the metadata cache, the reader and the writer::

    async with DataverseConnector(config) as crm:
        info = await crm.describe("contact")
        async for page in crm.track_changes("contact", None, cursor=None):
            ...
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence

import httpx

from crmsync.connectors.base import ChangePage, Record
from crmsync.connectors.composed import ComposedConnector
from crmsync.connectors.dataverse.auth import MsalTokenProvider, TokenProvider
from crmsync.connectors.dataverse.client import CallCounters, DataverseClient
from crmsync.connectors.dataverse.config import DataverseConnectionConfig
from crmsync.connectors.dataverse.metadata import DataverseMetadata
from crmsync.connectors.dataverse.reader import DataverseReader
from crmsync.connectors.dataverse.writer import DataverseWriter

__all__ = ["DataverseConnector"]


class DataverseConnector(ComposedConnector[CallCounters]):
    """A connection to one Dataverse organisation: a :class:`~crmsync.connectors.base.Connector`.

    Its secrets are read from ``environ`` (default: the process environment) and files.
    ``transport``, ``tokens``, ``sleep`` and ``clock`` replace the network, MSAL and time in
    tests.
    """

    client: DataverseClient
    metadata: DataverseMetadata
    _writer: DataverseWriter

    def __init__(
        self,
        config: DataverseConnectionConfig,
        *,
        environ: Mapping[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        tokens: TokenProvider | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self._own_tokens: MsalTokenProvider | None = None
        if tokens is None:
            tokens = self._own_tokens = MsalTokenProvider(config, environ)
        self.client = DataverseClient(
            config,
            tokens,
            transport=transport,
            sleep=sleep,
            clock=clock,
        )
        self.metadata = DataverseMetadata(self.client)
        self._reader = DataverseReader(self.client, self.metadata, page_size=config.page_size)
        self._writer = DataverseWriter(
            self.client,
            self.metadata,
            batch_size=config.batch_size,
            max_concurrency=config.max_concurrency,
            max_retries=config.max_retries,
        )

    def __repr__(self) -> str:
        return f"DataverseConnector(url={self.config.url!r})"

    def read_all(
        self,
        table: str,
        fields: Sequence[str] | None = None,
        *,
        where: str | None = None,
        formatted: bool = True,
    ) -> AsyncIterator[list[Record]]:
        """See :meth:`DataverseReader.read_all`; ``formatted=False``: no display labels."""
        return self._reader.read_all(table, fields, where=where, formatted=formatted)

    def track_changes(
        self,
        table: str,
        fields: Sequence[str] | None,
        cursor: str | None,
        *,
        formatted: bool = True,
    ) -> AsyncIterator[ChangePage]:
        """See :meth:`DataverseReader.track_changes`; ``formatted=False``: no display labels."""
        return self._reader.track_changes(table, fields, cursor, formatted=formatted)

    async def aclose(self) -> None:
        await super().aclose()
        if self._own_tokens is not None:
            self._own_tokens.close()
