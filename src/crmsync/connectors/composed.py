"""What every CRM connector does the same way once composed of a client, metadata and a writer.

The Dataverse and Salesforce connectors differ in how they build those parts and how they read;
closing, the async context, the call counters, the CRM's clock, the metadata calls and writing are
the same and live here.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from types import TracebackType
from typing import Generic, Protocol, Self, TypeVar

from crmsync.connectors.base import TableInfo, WriteOp, WriteResult

__all__ = ["ComposedConnector"]

C = TypeVar("C")
C_co = TypeVar("C_co", covariant=True)


class _Counters(Protocol[C_co]):
    def snapshot(self) -> C_co: ...


class _Client(Protocol[C_co]):
    @property
    def counters(self) -> _Counters[C_co]: ...

    def server_time(self) -> datetime | None: ...

    async def aclose(self) -> None: ...


class _Metadata(Protocol):
    async def list_tables(self) -> list[str]: ...

    async def describe(self, table: str) -> TableInfo: ...


class _Writer(Protocol):
    async def write(self, ops: Sequence[WriteOp], *, batch: bool = True) -> list[WriteResult]: ...


class ComposedConnector(Generic[C]):
    """Mixin for a connector with ``client``, ``metadata`` and ``_writer`` attributes; ``C`` is
    the client's call counters type."""

    client: _Client[C]
    metadata: _Metadata
    _writer: _Writer

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    @property
    def counters(self) -> C:
        """Requests made so far, as the client counts them (a copy)."""
        return self.client.counters.snapshot()

    def server_time(self) -> datetime | None:
        """The CRM's current time, from the ``Date`` of its latest answer (``None`` before
        one)."""
        return self.client.server_time()

    async def list_tables(self) -> list[str]:
        return await self.metadata.list_tables()

    async def describe(self, table: str) -> TableInfo:
        return await self.metadata.describe(table)

    async def write(self, ops: Sequence[WriteOp], *, batch: bool = True) -> list[WriteResult]:
        return await self._writer.write(ops, batch=batch)

    async def aclose(self) -> None:
        await self.client.aclose()
