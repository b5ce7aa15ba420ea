"""CRM metadata for the mapping editors: the tables of a connection and the fields of a table.

Metadata comes from the connector's discovery (``list_tables``, ``describe``), through a
connector opened for the call and closed after it. Answers are kept for ``ttl`` seconds per
connection, so an editor that asks again and again does not load the CRM.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from pydantic import BaseModel, ConfigDict

from crmsync.api.errors import CrmFailed, NotFound
from crmsync.config.names import crm_name_problem
from crmsync.connectors.base import Connector, CrmType, FieldInfo, TableInfo
from crmsync.errors import CrmsyncError
from crmsync.runtime.connectors import ConnectorOpener, open_connector
from crmsync.workflows.supervisor import Supervisor

__all__ = [
    "CrmField",
    "CrmOption",
    "CrmService",
    "CrmTable",
    "CrmTableDetail",
]

#: Tables described at the same time when the table list is built.
_PARALLEL_DESCRIBES = 8

T = TypeVar("T")


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class CrmTable(_Out):
    name: str
    label: str
    #: ``None`` when the table's metadata could not be read (the list still shows it).
    change_tracking: bool | None


class CrmOption(_Out):
    """One picklist value: the technical value stored in the CRM and its display label."""

    value: int | str
    label: str


class CrmField(_Out):
    name: str
    label: str
    type: CrmType
    #: The table's primary key.
    primary_key: bool
    #: Part of an alternate (external id) key.
    alternate_key: bool
    required: bool
    read_only: bool
    options: tuple[CrmOption, ...]
    lookup_targets: tuple[str, ...]


class CrmTableDetail(_Out):
    name: str
    label: str
    connection: str
    primary_key: str
    primary_name: str | None
    change_tracking: bool
    modified_field: str | None
    alternate_keys: tuple[tuple[str, ...], ...]
    fields: tuple[CrmField, ...]


def _field(info: FieldInfo, table: TableInfo) -> CrmField:
    return CrmField(
        name=info.name,
        label=info.label,
        type=info.type,
        primary_key=info.name == table.primary_key,
        alternate_key=any(info.name in key for key in table.alternate_keys),
        required=info.required,
        read_only=info.read_only,
        options=tuple(CrmOption(value=o.value, label=o.label) for o in info.options),
        lookup_targets=info.lookup_targets,
    )


def table_detail(connection: str, table: TableInfo) -> CrmTableDetail:
    """The API's view of ``table``'s metadata, fields sorted by name."""
    return CrmTableDetail(
        name=table.name,
        label=table.label,
        connection=connection,
        primary_key=table.primary_key,
        primary_name=table.primary_name,
        change_tracking=table.change_tracking,
        modified_field=table.modified_field,
        alternate_keys=table.alternate_keys,
        fields=tuple(_field(f, table) for _, f in sorted(table.fields.items())),
    )


@dataclass
class _Cache:
    ttl: float
    clock: Callable[[], float]
    _entries: dict[tuple[str, ...], tuple[float, object]] = field(default_factory=dict)

    def get(self, key: tuple[str, ...]) -> object | None:
        found = self._entries.get(key)
        if found is None or found[0] <= self.clock():
            self._entries.pop(key, None)
            return None
        return found[1]

    def put(self, key: tuple[str, ...], value: object) -> None:
        self._entries[key] = (self.clock() + self.ttl, value)


class CrmService:
    """Tables and fields of the configured CRM connections (of ``inbound``'s latest revision)."""

    def __init__(
        self,
        supervisor: Supervisor,
        *,
        opener: ConnectorOpener = open_connector,
        ttl: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.supervisor = supervisor
        self.opener = opener
        self._cache = _Cache(ttl, clock)

    def connections(self) -> list[str]:
        return sorted(self.supervisor.config("inbound", latest=True).connections)

    async def _call(self, connection: str, work: Callable[[Connector], Awaitable[T]]) -> T:
        settings = self.supervisor.config("inbound", latest=True).connections.get(connection)
        if settings is None:
            known = ", ".join(self.connections()) or "none"
            raise NotFound(
                f"there is no connection '{connection}' (connections: {known})",
                code="UNKNOWN_CONNECTION",
            )
        try:
            connector = self.opener(connection, settings, self.supervisor.environ)
        except CrmsyncError as exc:
            raise CrmFailed(f"connection '{connection}': {exc.message}", code=exc.code) from exc
        try:
            return await work(connector)
        except CrmsyncError as exc:
            if exc.status == 404:
                raise NotFound(exc.message, code="UNKNOWN_TABLE", table=exc.table) from exc
            raise CrmFailed(
                f"connection '{connection}': {exc.message}", code=exc.code, status=exc.status
            ) from exc
        finally:
            await connector.aclose()

    async def tables(self, connection: str) -> list[CrmTable]:
        """Every table of the connection, with its change tracking (each table described)."""
        cached = self._cache.get(("tables", connection))
        if isinstance(cached, list):
            return cached

        async def load(connector: Connector) -> list[CrmTable]:
            names = await connector.list_tables()
            gate = asyncio.Semaphore(_PARALLEL_DESCRIBES)

            async def one(name: str) -> CrmTable:
                async with gate:
                    try:
                        info = await connector.describe(name)
                    except CrmsyncError:
                        return CrmTable(name=name, label="", change_tracking=None)
                self._cache.put(("table", connection, name), info)
                return CrmTable(name=name, label=info.label, change_tracking=info.change_tracking)

            return list(await asyncio.gather(*(one(name) for name in names)))

        found = await self._call(connection, load)
        self._cache.put(("tables", connection), found)
        return found

    async def table(self, connection: str, table: str) -> CrmTableDetail:
        """The fields of ``table``: types, key and required flags, picklist values."""
        return table_detail(connection, await self.table_info(connection, table))

    async def table_info(self, connection: str, table: str) -> TableInfo:
        """The connector's metadata of ``table`` (what the configuration checks take). A name
        that cannot be a CRM table's is not asked for (:class:`NotFound`)."""
        problem = crm_name_problem(table)
        if problem is not None:
            raise NotFound(f"there is no CRM table of that name: {problem}", code="UNKNOWN_TABLE")
        cached = self._cache.get(("table", connection, table))
        if isinstance(cached, TableInfo):
            return cached

        async def load(connector: Connector) -> TableInfo:
            return await connector.describe(table)

        found = await self._call(connection, load)
        self._cache.put(("table", connection, table), found)
        return found
