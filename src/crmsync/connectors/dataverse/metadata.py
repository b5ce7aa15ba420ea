"""Table metadata from Dataverse's ``EntityDefinitions`` → :class:`TableInfo`/:class:`FieldInfo`.

Per table: the entity (names, primary keys, change tracking), its attributes (all properties, so
that derived types bring ``DateTimeBehavior`` and lookup ``Targets``), the options of choice and
yes/no columns through the typed casts (their ``OptionSet`` must be expanded explicitly), and the
alternate keys. Results are cached per table for the life of the connection.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from crmsync.connectors.base import CrmType, FieldInfo, Option, TableInfo
from crmsync.connectors.dataverse.client import DataverseClient
from crmsync.errors import ConfigurationError, FatalError, ProtocolError

__all__ = ["DataverseMetadata", "check_identifier", "field_from_attribute", "options_from"]

VERSION_FIELD = "versionnumber"
MODIFIED_FIELD = "modifiedon"
_ENTITY_SELECT = (
    "LogicalName,EntitySetName,PrimaryIdAttribute,PrimaryNameAttribute,"
    "ChangeTrackingEnabled,DisplayName"
)
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")

_TYPES: dict[str, CrmType] = {
    "String": CrmType.STRING,
    "Memo": CrmType.MEMO,
    "Integer": CrmType.INTEGER,
    "BigInt": CrmType.BIGINT,
    "Decimal": CrmType.DECIMAL,
    "Double": CrmType.DOUBLE,
    "Money": CrmType.MONEY,
    "Boolean": CrmType.BOOLEAN,
    "DateTime": CrmType.DATETIME,
    "Picklist": CrmType.PICKLIST,
    "State": CrmType.PICKLIST,
    "Status": CrmType.PICKLIST,
    "Lookup": CrmType.LOOKUP,
    "Customer": CrmType.LOOKUP,
    "Owner": CrmType.LOOKUP,
    "Uniqueidentifier": CrmType.UNIQUEIDENTIFIER,
}
#: Attribute types whose options come from a typed cast, by the cast's name.
_OPTION_CASTS = {
    "Picklist": "PicklistAttributeMetadata",
    "State": "StateAttributeMetadata",
    "Status": "StatusAttributeMetadata",
    "Boolean": "BooleanAttributeMetadata",
}
# Columns that never appear as Web API properties: the names of lookups and the like.
_SKIPPED_TYPES = frozenset({"EntityName", "CalendarRules", "PartyList"})


def check_identifier(name: str, what: str) -> str:
    """``name`` if it is a plain Dataverse identifier; anything else never reaches a URL."""
    if not isinstance(name, str) or not _IDENTIFIER.match(name):
        raise ConfigurationError(f"{what} {name!r} is not a valid Dataverse name")
    return name


def field_from_attribute(attribute: Mapping[str, Any]) -> FieldInfo | None:
    """One attribute's metadata as a :class:`FieldInfo`; ``None`` for columns not to sync."""
    name = attribute.get("LogicalName")
    if not isinstance(name, str) or not name:
        raise ProtocolError(f"attribute metadata without LogicalName: {dict(attribute)!r:.200}")
    kind = str(attribute.get("AttributeType") or "")
    type_name = _value(attribute.get("AttributeTypeName"))
    if attribute.get("AttributeOf") or attribute.get("IsValidForRead") is False:
        return None
    if kind in _SKIPPED_TYPES or (kind == "Virtual" and type_name != "MultiSelectPicklistType"):
        return None
    crm_type = _TYPES.get(kind, CrmType.OTHER)
    behavior = _value(attribute.get("DateTimeBehavior"))
    if crm_type is CrmType.DATETIME and behavior == "DateOnly":
        crm_type = CrmType.DATE
    targets = attribute.get("Targets") or ()
    return FieldInfo(
        name=name,
        type=crm_type,
        label=_label(attribute.get("DisplayName")),
        required=_value(attribute.get("RequiredLevel"))
        in ("SystemRequired", "ApplicationRequired"),
        read_only=not (attribute.get("IsValidForCreate") or attribute.get("IsValidForUpdate")),
        lookup_targets=tuple(str(t) for t in targets) if crm_type is CrmType.LOOKUP else (),
        date_behavior=behavior if kind == "DateTime" else None,
        read_name=f"_{name}_value" if crm_type is CrmType.LOOKUP else "",
    )


def options_from(attribute: Mapping[str, Any]) -> tuple[Option, ...]:
    """The options of a choice (``Options``) or yes/no (``TrueOption``/``FalseOption``) column."""
    option_set = attribute.get("OptionSet")
    if not isinstance(option_set, Mapping):
        return ()
    if "TrueOption" in option_set or "FalseOption" in option_set:
        return tuple(
            Option(flag, _label((option_set.get(key) or {}).get("Label")) or str(flag).lower())
            for key, flag in (("FalseOption", False), ("TrueOption", True))
            if isinstance(option_set.get(key), Mapping)
        )
    options = option_set.get("Options") or []
    return tuple(
        Option(int(o["Value"]), _label(o.get("Label")))
        for o in options
        if isinstance(o, Mapping) and isinstance(o.get("Value"), int)
    )


class DataverseMetadata:
    """Cached table metadata of one organisation."""

    def __init__(self, client: DataverseClient) -> None:
        self._client = client
        self._tables: dict[str, TableInfo] = {}
        self._entity_sets: dict[str, str] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def forget(self, table: str | None = None) -> None:
        """Drop cached metadata (after the CRM schema changed)."""
        if table is None:
            self._tables.clear()
            self._entity_sets.clear()
        else:
            self._tables.pop(table, None)

    async def list_tables(self) -> list[str]:
        """Logical names of the tables reachable through the Web API (those with an entity set)."""
        answer = await self._client.get_json(
            "EntityDefinitions", {"$select": "LogicalName,EntitySetName,ChangeTrackingEnabled"}
        )
        names = []
        for entity in _values(answer, "EntityDefinitions"):
            name, entity_set = entity.get("LogicalName"), entity.get("EntitySetName")
            if isinstance(name, str) and isinstance(entity_set, str) and entity_set:
                self._entity_sets[name] = entity_set
                names.append(name)
        return sorted(names)

    async def entity_set(self, table: str) -> str:
        """The entity set name (used in URLs) of ``table``, cheaply."""
        if table in self._tables:
            return self._tables[table].collection
        if table not in self._entity_sets:
            entity = await self._entity(table, "EntitySetName")
            entity_set = entity.get("EntitySetName")
            if not isinstance(entity_set, str) or not entity_set:
                raise ConfigurationError(f"table {table!r} has no entity set: not in the Web API")
            self._entity_sets[table] = entity_set
        return self._entity_sets[table]

    async def describe(self, table: str) -> TableInfo:
        """The full metadata of ``table`` (cached)."""
        if table in self._tables:
            return self._tables[table]
        async with self._locks.setdefault(table, asyncio.Lock()):
            if table not in self._tables:
                self._tables[table] = await self._load(table)
        return self._tables[table]

    async def _load(self, table: str) -> TableInfo:
        entity = await self._entity(table, _ENTITY_SELECT)
        base = f"EntityDefinitions(LogicalName='{table}')"
        attributes = _values(
            await self._client.get_json(f"{base}/Attributes", table=table), f"{table} attributes"
        )
        fields: dict[str, FieldInfo] = {}
        kinds: set[str] = set()
        for attribute in attributes:
            info = field_from_attribute(attribute)
            if info is not None:
                fields[info.name] = info
                kinds.add(str(attribute.get("AttributeType")))
        for kind, cast in _OPTION_CASTS.items():
            if kind in kinds:
                answer = await self._client.get_json(
                    f"{base}/Attributes/Microsoft.Dynamics.CRM.{cast}",
                    {"$expand": "OptionSet"},
                    table=table,
                )
                for attribute in _values(answer, f"{table} {cast}"):
                    name = attribute.get("LogicalName")
                    if name in fields:
                        fields[name] = _with_options(fields[name], options_from(attribute))
        keys = _values(
            await self._client.get_json(
                f"{base}/Keys", {"$select": "LogicalName,KeyAttributes"}, table=table
            ),
            f"{table} keys",
        )
        primary_key = entity.get("PrimaryIdAttribute")
        entity_set = entity.get("EntitySetName")
        if not isinstance(primary_key, str) or not isinstance(entity_set, str):
            raise ProtocolError(f"metadata of {table!r} lacks PrimaryIdAttribute/EntitySetName")
        primary_name = entity.get("PrimaryNameAttribute")
        return TableInfo(
            name=table,
            collection=entity_set,
            primary_key=primary_key,
            primary_name=primary_name if isinstance(primary_name, str) and primary_name else None,
            change_tracking=entity.get("ChangeTrackingEnabled") is True,
            fields=fields,
            version_field=VERSION_FIELD if VERSION_FIELD in fields else None,
            modified_field=MODIFIED_FIELD if MODIFIED_FIELD in fields else None,
            alternate_keys=tuple(
                tuple(str(a) for a in key.get("KeyAttributes") or ())
                for key in keys
                if key.get("KeyAttributes")
                and _value(key.get("EntityKeyIndexStatus")) in (None, "Active")
            ),
            label=_label(entity.get("DisplayName")),
        )

    async def _entity(self, table: str, select: str) -> dict[str, Any]:
        check_identifier(table, "table")
        try:
            return await self._client.get_json(
                f"EntityDefinitions(LogicalName='{table}')", {"$select": select}, table=table
            )
        except FatalError as exc:
            if exc.status == 404:
                raise ConfigurationError(
                    f"table {table!r} does not exist in the organisation", status=404, table=table
                ) from None
            raise


def _with_options(info: FieldInfo, options: tuple[Option, ...]) -> FieldInfo:
    return replace(info, options=options)


def _values(answer: Mapping[str, Any], what: str) -> Iterable[Mapping[str, Any]]:
    value = answer.get("value")
    if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
        raise ProtocolError(f"metadata answer for {what} has no 'value' list of objects")
    return value


def _value(managed: Any) -> str | None:
    """``X.Value`` of Dataverse's managed properties (``{"Value": "DateOnly"}``)."""
    if isinstance(managed, Mapping):
        value = managed.get("Value")
        return str(value) if value is not None else None
    return str(managed) if isinstance(managed, str) else None


def _label(label: Any) -> str:
    """The user's label of a Dataverse ``Label`` (or the first localized one)."""
    if not isinstance(label, Mapping):
        return ""
    user = label.get("UserLocalizedLabel")
    if isinstance(user, Mapping) and isinstance(user.get("Label"), str):
        return str(user["Label"])
    for localized in label.get("LocalizedLabels") or ():
        if isinstance(localized, Mapping) and isinstance(localized.get("Label"), str):
            return str(localized["Label"])
    return ""
