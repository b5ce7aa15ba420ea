"""sObject metadata from ``sobjects/`` and ``sobjects/{Object}/describe`` → :class:`TableInfo`.

Field types map onto crmsync's CRM types; external-id fields become alternate keys (upserts go
through them); ``replicateable`` objects support change tracking through the cursor field
(``SystemModstamp`` by default). Compound fields (``address``, ``location``) are left out: their
parts (``MailingStreet``, ``MailingCity``…) are fields of their own. Results are cached per object
for the life of the connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from typing import Any

from crmsync.connectors.base import CrmType, FieldInfo, Option, TableInfo
from crmsync.connectors.salesforce.client import SalesforceClient
from crmsync.connectors.salesforce.soql import check_name
from crmsync.errors import ConfigurationError, FatalError, ProtocolError

__all__ = ["SalesforceMetadata", "field_from_describe", "table_from_describe"]

PRIMARY_KEY = "Id"
_TYPES: dict[str, CrmType] = {
    "id": CrmType.UNIQUEIDENTIFIER,
    "string": CrmType.STRING,
    "email": CrmType.STRING,
    "phone": CrmType.STRING,
    "url": CrmType.STRING,
    "combobox": CrmType.STRING,
    "encryptedstring": CrmType.STRING,
    "textarea": CrmType.MEMO,
    "boolean": CrmType.BOOLEAN,
    "int": CrmType.INTEGER,
    "long": CrmType.BIGINT,
    "double": CrmType.DOUBLE,
    "percent": CrmType.DOUBLE,
    "currency": CrmType.MONEY,
    "date": CrmType.DATE,
    "datetime": CrmType.DATETIME,
    "picklist": CrmType.PICKLIST,
    "multipicklist": CrmType.PICKLIST,
    "reference": CrmType.LOOKUP,
}
_COMPOUND_TYPES = frozenset({"address", "location"})
# Short text areas (up to 255 characters) hold what a string field holds.
_SHORT_TEXT = 255


def field_from_describe(field: Mapping[str, Any]) -> FieldInfo | None:
    """One ``fields[]`` entry of a describe as a :class:`FieldInfo`; ``None`` to leave it out."""
    name = field.get("name")
    if not isinstance(name, str) or not name:
        raise ProtocolError(f"a describe field has no name: {dict(field)!r:.200}")
    kind = str(field.get("type") or "")
    if kind in _COMPOUND_TYPES:
        return None
    crm_type = _TYPES.get(kind, CrmType.OTHER)
    length = field.get("length")
    if kind == "textarea" and isinstance(length, int) and 0 < length <= _SHORT_TEXT:
        crm_type = CrmType.STRING
    createable, updateable = field.get("createable") is True, field.get("updateable") is True
    options: tuple[Option, ...] = ()
    if crm_type is CrmType.PICKLIST:
        options = tuple(
            Option(str(entry["value"]), str(entry.get("label") or entry["value"]))
            for entry in field.get("picklistValues") or ()
            if isinstance(entry, Mapping) and isinstance(entry.get("value"), str)
        )
    targets = field.get("referenceTo") or ()
    return FieldInfo(
        name=name,
        type=crm_type,
        label=str(field.get("label") or ""),
        required=createable
        and field.get("nillable") is False
        and field.get("defaultedOnCreate") is not True,
        read_only=not (createable or updateable),
        options=options,
        lookup_targets=tuple(str(t) for t in targets) if crm_type is CrmType.LOOKUP else (),
    )


def table_from_describe(describe: Mapping[str, Any], cursor_field: str) -> TableInfo:
    """A describe answer as a :class:`TableInfo` whose version field is ``cursor_field``."""
    name = describe.get("name")
    raw_fields = describe.get("fields")
    if not isinstance(name, str) or not isinstance(raw_fields, list):
        raise ProtocolError("a describe answer lacks its name or its fields list")
    fields: dict[str, FieldInfo] = {}
    keys: list[tuple[str, ...]] = []
    primary_name = None
    for raw in raw_fields:
        if not isinstance(raw, Mapping):
            raise ProtocolError(f"describe of {name}: a field entry is not an object")
        info = field_from_describe(raw)
        if info is None:
            continue
        fields[info.name] = info
        if raw.get("externalId") is True:
            keys.append((info.name,))
        if raw.get("nameField") is True and primary_name is None:
            primary_name = info.name
    if PRIMARY_KEY not in fields:
        raise ProtocolError(f"describe of {name} has no Id field")
    cursor = cursor_field if cursor_field in fields else None
    return TableInfo(
        name=name,
        collection=name,
        primary_key=PRIMARY_KEY,
        primary_name=primary_name,
        change_tracking=describe.get("replicateable") is True and cursor is not None,
        fields=fields,
        version_field=cursor,
        modified_field=cursor,
        alternate_keys=tuple(keys),
        label=str(describe.get("label") or ""),
    )


class SalesforceMetadata:
    """Cached sObject metadata of one org."""

    def __init__(self, client: SalesforceClient, *, cursor_field: str) -> None:
        self._client = client
        self._cursor_field = cursor_field
        self._tables: dict[str, TableInfo] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def forget(self, table: str | None = None) -> None:
        """Drop cached metadata (after the org's schema changed)."""
        if table is None:
            self._tables.clear()
        else:
            self._tables.pop(table, None)

    async def list_tables(self) -> list[str]:
        """Names of the objects that can be queried (``sobjects/`` with ``queryable``)."""
        answer = await self._client.get_json("sobjects/")
        objects = answer.get("sobjects")
        if not isinstance(objects, list):
            raise ProtocolError("the sobjects/ answer has no 'sobjects' list")
        return sorted(
            str(o["name"])
            for o in _objects(objects)
            if isinstance(o.get("name"), str) and o.get("queryable") is not False
        )

    async def describe(self, table: str) -> TableInfo:
        """The full metadata of ``table`` (cached)."""
        if table in self._tables:
            return self._tables[table]
        async with self._locks.setdefault(table, asyncio.Lock()):
            if table not in self._tables:
                self._tables[table] = await self._load(table)
        return self._tables[table]

    async def _load(self, table: str) -> TableInfo:
        check_name(table, "object")
        try:
            answer = await self._client.get_json(f"sobjects/{table}/describe/", table=table)
        except FatalError as exc:
            if exc.status == 404:
                raise ConfigurationError(
                    f"object {table!r} does not exist in the org (or the user cannot see it)",
                    status=404,
                    table=table,
                    code=exc.code,
                ) from None
            raise
        return table_from_describe(answer, self._cursor_field)


def _objects(entries: Iterable[Any]) -> Iterable[Mapping[str, Any]]:
    return (e for e in entries if isinstance(e, Mapping))
