"""Reading records: full reads page by page, and change tracking rounds with delta links.

Pages are yielded as they arrive and never kept: memory holds one page (at most 5,000 records)
whatever the table's size. Rows become :class:`Record` s with as little work per row as possible,
since a full read of a large table is millions of them.

Record values are keyed by wire name (:attr:`FieldInfo.wire_name`: ``_x_value`` for lookups), as
are the formatted values.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Iterable, Mapping, Sequence
from typing import Any

from crmsync.connectors.base import (
    INVALID_TEXT,
    ChangePage,
    CrmType,
    Deletion,
    FieldInfo,
    Record,
    TableInfo,
    row_id,
    without_nul,
)
from crmsync.connectors.dataverse.client import DataverseClient
from crmsync.connectors.dataverse.metadata import DataverseMetadata
from crmsync.errors import ChangeTrackingExpired, ConfigurationError, ProtocolError

__all__ = ["DataverseReader", "RowShape", "reconcile_deletions"]

logger = logging.getLogger(__name__)

FORMATTED = "@OData.Community.Display.V1.FormattedValue"
_INCLUDE_FORMATTED = 'odata.include-annotations="OData.Community.Display.V1.FormattedValue"'
_DELETED_ENTITY = "$deletedEntity"
#: The key of a page's rows.
_ROWS = "value"
# Types whose formatted value says nothing the raw value does not.
_UNFORMATTED = frozenset({CrmType.STRING, CrmType.MEMO, CrmType.UNIQUEIDENTIFIER})


class RowShape:
    """How to turn one Web API row of a table into a :class:`Record`, precomputed once per read.

    A row parsed from a page is owned by the reader, so it becomes the record's ``values`` once
    its annotations and etag are taken out: no copy when it holds exactly the selected fields,
    as Dataverse answers hold them.
    """

    __slots__ = (
        "_formatted",
        "_primary_key",
        "_version",
        "_wire_set",
        "_wires",
        "select",
    )

    def __init__(
        self, info: TableInfo, fields: Sequence[str] | None, *, formatted: bool = True
    ) -> None:
        chosen = _choose_fields(info, fields)
        wires = [f.wire_name for f in chosen]
        for extra in (info.primary_key, info.version_field):
            if extra and extra not in wires:
                wires.append(extra)
        self._primary_key = info.primary_key
        self._version = info.version_field
        self._wires = tuple(wires)
        self._wire_set = frozenset(wires)
        #: (field, its annotation) of the fields with display labels, when they are asked for.
        self._formatted = tuple(
            (f.wire_name, f.wire_name + FORMATTED)
            for f in chosen
            if formatted and f.type not in _UNFORMATTED
        )
        #: The ``$select`` value.
        self.select = ",".join(self._wires)

    def record(self, row: dict[str, Any]) -> Record:
        """The record of ``row``, which it consumes (its annotations are removed from it).

        A row without its primary key becomes a record whose id is empty, and one with text
        noted invalid keeps the note (:data:`INVALID_TEXT`): the writer rejects them, and the
        rest of the page goes on."""
        record_id = row_id(row, self._primary_key)
        pop = row.pop
        etag = pop("@odata.etag", None)
        formatted = {
            wire: label for wire, key in self._formatted if (label := pop(key, None)) is not None
        }
        values = row
        if row.keys() != self._wire_set:
            # Fields missing, or more than were selected: exactly the selected ones.
            get = row.get
            values = {wire: get(wire) for wire in self._wires}
            if INVALID_TEXT in row:
                values[INVALID_TEXT] = row[INVALID_TEXT]
        version = values.get(self._version) if self._version else None
        if version is None:
            version = _etag_version(etag)
        return Record(id=record_id, values=values, formatted=formatted, version=_as_int(version))

    def records(self, rows: Iterable[dict[str, Any]]) -> list[Record]:
        return [self.record(row) for row in rows]


class DataverseReader:
    """Full reads and change tracking over one :class:`DataverseClient`."""

    def __init__(
        self, client: DataverseClient, metadata: DataverseMetadata, *, page_size: int
    ) -> None:
        self._client = client
        self._metadata = metadata
        self._page_size = page_size

    def _prefer(self, formatted: bool) -> str:
        prefer = f"odata.maxpagesize={self._page_size}"
        return f"{prefer},{_INCLUDE_FORMATTED}" if formatted else prefer

    async def read_all(
        self,
        table: str,
        fields: Sequence[str] | None = None,
        *,
        where: str | None = None,
        formatted: bool = True,
    ) -> AsyncIterator[list[Record]]:
        """Every record of ``table`` (optionally an OData ``$filter``), one list per page.

        ``formatted=False`` leaves out the display labels (:attr:`Record.formatted` is empty):
        pages are about half the size and read about twice as fast.
        """
        info = await self._metadata.describe(table)
        shape = RowShape(info, fields, formatted=formatted)
        params = {"$select": shape.select}
        if where:
            params["$filter"] = where
        prefer = self._prefer(formatted)
        first = self._client.get_json(
            info.collection, params, {"Prefer": prefer}, table=table, rows=_ROWS
        )
        async for rows, _, _ in self._pages(first, prefer, table):
            yield shape.records(rows)

    async def track_changes(
        self,
        table: str,
        fields: Sequence[str] | None,
        cursor: str | None,
        *,
        formatted: bool = True,
    ) -> AsyncIterator[ChangePage]:
        """Changes since ``cursor``; a snapshot (``snapshot=True`` pages) when there is none.

        The last page of every round carries the next cursor. An expired cursor starts a new
        snapshot, after which the consumer reconciles deletions by key set. ``formatted`` as
        in :meth:`read_all`.
        """
        info = await self._metadata.describe(table)
        if not info.change_tracking:
            raise ConfigurationError(
                f"change tracking is not enabled on table {table!r}: turn on 'Track changes' "
                "in its table settings (EntityMetadata.ChangeTrackingEnabled) to sync it",
                table=table,
            )
        shape = RowShape(info, fields, formatted=formatted)
        prefer = self._prefer(formatted)
        if cursor is not None:
            link = self._client.resolve_link(cursor)
            try:
                first = await self._client.get_url(
                    link, {"Prefer": prefer}, table=table, rows=_ROWS
                )
            except ChangeTrackingExpired as exc:
                logger.warning(
                    "change tracking token of %s expired (%s): reading the table in full",
                    table,
                    exc.code or exc.status,
                )
            else:
                pages = self._changes(_ready(first), prefer, table, shape, snapshot=False)
                del first  # the page is the generator's now: it must not outlive it
                async for page in pages:
                    yield page
                return
        prefer = f"odata.track-changes,{prefer}"
        snapshot = self._client.get_json(
            info.collection, {"$select": shape.select}, {"Prefer": prefer}, table=table, rows=_ROWS
        )
        async for page in self._changes(snapshot, prefer, table, shape, snapshot=True):
            yield page

    async def _changes(
        self,
        first: Awaitable[dict[str, Any]],
        prefer: str,
        table: str,
        shape: RowShape,
        *,
        snapshot: bool,
    ) -> AsyncIterator[ChangePage]:
        async for rows, next_link, delta_link in self._pages(first, prefer, table):
            if next_link is None and delta_link is None:
                raise ProtocolError(
                    f"the last change-tracking page of {table!r} carries no @odata.deltaLink",
                    table=table,
                )
            records: list[Record] = []
            deletions: list[Deletion] = []
            for row in rows:
                context = row.get("@odata.context")
                if isinstance(context, str) and _DELETED_ENTITY in context:
                    deleted_id = row.get("id")
                    if not isinstance(deleted_id, str) or not deleted_id:
                        raise ProtocolError(
                            f"a deleted-entity row of {table!r} has no id", table=table
                        )
                    deletions.append(Deletion(id=without_nul(deleted_id)))
                else:
                    records.append(shape.record(row))
            yield ChangePage(
                records=records,
                deletions=deletions,
                cursor=self._cursor(delta_link) if next_link is None else None,
                snapshot=snapshot,
            )

    async def _pages(
        self, first: Awaitable[dict[str, Any]], prefer: str, table: str
    ) -> AsyncIterator[tuple[list[dict[str, Any]], str | None, str | None]]:
        """``(rows, nextLink, deltaLink)`` per page (the first page awaited from ``first``),
        following nextLinks as given.

        Only the page being handed out is referenced here: each is released before the next is
        fetched, so memory holds one page (plus the one its consumer still holds) at a time.
        """
        headers = {"Prefer": prefer}
        answer = await first
        del first
        while True:
            rows: list[dict[str, Any]] = answer.pop(_ROWS)  # checked by the client
            next_link = _link(answer, "@odata.nextLink", table)
            delta_link = _link(answer, "@odata.deltaLink", table)
            del answer
            yield rows, next_link, delta_link
            del rows
            if next_link is None:
                return
            answer = await self._client.get_url(next_link, headers, table=table, rows=_ROWS)

    def _cursor(self, delta_link: str | None) -> str | None:
        """The delta link relative to the service root, so a cursor survives a host alias."""
        if delta_link is None:
            return None
        absolute = self._client.resolve_link(delta_link)
        root = self._client.service_root
        return absolute[len(root) :] if absolute.startswith(root) else absolute


async def _ready(value: dict[str, Any]) -> dict[str, Any]:
    return value


def reconcile_deletions(snapshot_ids: Iterable[str], known_ids: Iterable[str]) -> list[Deletion]:
    """Records the consumer holds (``known_ids``) that a complete snapshot no longer contains.

    GUIDs compare case-insensitively and without braces, as Dataverse treats them.
    """
    seen = {_normal_id(i) for i in snapshot_ids}
    return [Deletion(id=i) for i in known_ids if _normal_id(i) not in seen]


def _choose_fields(info: TableInfo, fields: Sequence[str] | None) -> list[FieldInfo]:
    if fields is None:
        return list(info.fields.values())
    by_wire = {f.wire_name: f for f in info.fields.values()}
    chosen = []
    for name in fields:
        found = info.fields.get(name) or by_wire.get(name)
        if found is None:
            raise ConfigurationError(f"table {info.name!r} has no field {name!r}", table=info.name)
        chosen.append(found)
    return chosen


def _link(answer: Mapping[str, Any], key: str, table: str) -> str | None:
    link = answer.get(key)
    if link is None or isinstance(link, str):
        return link
    raise ProtocolError(f"{key} of a page of {table!r} is not a string", table=table)


def _etag_version(etag: Any) -> str | None:
    if isinstance(etag, str) and etag.startswith('W/"') and etag.endswith('"'):
        inner = etag[3:-1]
        return inner if inner.isdigit() else None
    return None


def _normal_id(record_id: str) -> str:
    return record_id.strip().strip("{}").lower()


def _as_int(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None
