"""Metadata: ``EntityDefinitions``, attributes, option sets, keys, ``$metadata``, service document.

Shapes follow the real service's ``EntityMetadata``/``AttributeMetadata`` JSON (PascalCase
properties, ``Label`` objects with ``LocalizedLabels`` and ``UserLocalizedLabel``, typed
attribute casts such as ``Microsoft.Dynamics.CRM.PicklistAttributeMetadata``). ``$select``,
``$expand`` (``Attributes``, ``Keys``, ``OptionSet``, ``GlobalOptionSet``) and simple ``$filter``
expressions (``eq``/``ne``/``and``/``or``/``not`` on plain properties) are supported.
"""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson
from odata_query import ast
from odata_query.exceptions import ODataException
from odata_query.grammar import ODataLexer, ODataParser

from crmsync.emulators.dataverse.errors import odata_error
from crmsync.emulators.dataverse.filters import edm_type
from crmsync.emulators.dataverse.paths import Segment, parse_segment
from crmsync.emulators.dataverse.schema import (
    LOOKUP_TYPES,
    OPTION_TYPES,
    Attribute,
    AttributeType,
    Option,
    Table,
)

if TYPE_CHECKING:
    from crmsync.emulators.dataverse.store import DataverseStore
    from crmsync.emulators.dataverse.webapi import ApiRequest

__all__ = ["csdl", "entity_definitions", "service_document"]

_NAMESPACE = uuid.UUID("8a3c0a1e-5b4f-4c55-9a57-3f1d2c7e9b10")
_CAST_PREFIX = "Microsoft.Dynamics.CRM."
_TYPE_NAMES = {
    AttributeType.STRING: "StringAttributeMetadata",
    AttributeType.MEMO: "MemoAttributeMetadata",
    AttributeType.INTEGER: "IntegerAttributeMetadata",
    AttributeType.BIGINT: "BigIntAttributeMetadata",
    AttributeType.DECIMAL: "DecimalAttributeMetadata",
    AttributeType.DOUBLE: "DoubleAttributeMetadata",
    AttributeType.MONEY: "MoneyAttributeMetadata",
    AttributeType.BOOLEAN: "BooleanAttributeMetadata",
    AttributeType.DATETIME: "DateTimeAttributeMetadata",
    AttributeType.PICKLIST: "PicklistAttributeMetadata",
    AttributeType.STATE: "StateAttributeMetadata",
    AttributeType.STATUS: "StatusAttributeMetadata",
    AttributeType.LOOKUP: "LookupAttributeMetadata",
    AttributeType.CUSTOMER: "LookupAttributeMetadata",
    AttributeType.UNIQUEIDENTIFIER: "UniqueIdentifierAttributeMetadata",
}


def _id(*parts: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, "/".join(parts)))


def _label(text: str, *parts: str) -> dict[str, Any]:
    localized = {
        "Label": text,
        "LanguageCode": 1033,
        "IsManaged": True,
        "MetadataId": _id("label", *parts),
        "HasChanged": None,
    }
    return {"LocalizedLabels": [localized], "UserLocalizedLabel": localized}


def _schema_name(logical_name: str) -> str:
    prefix, _, rest = logical_name.partition("_")
    if rest:
        return f"{prefix}_{rest[:1].upper()}{rest[1:]}"
    return logical_name[:1].upper() + logical_name[1:]


def _entity(store: DataverseStore, table: Table) -> dict[str, Any]:
    return {
        "MetadataId": _id("entity", table.logical_name),
        "LogicalName": table.logical_name,
        "SchemaName": _schema_name(table.logical_name),
        "EntitySetName": table.entity_set,
        "LogicalCollectionName": table.entity_set,
        "PrimaryIdAttribute": table.primary_id,
        "PrimaryNameAttribute": table.primary_name,
        "ChangeTrackingEnabled": store.tracking_enabled(table),
        "IsCustomEntity": table.is_custom,
        "IsActivity": False,
        "IsPrivate": False,
        "IsValidForAdvancedFind": True,
        "OwnershipType": "UserOwned",
        "DisplayName": _label(table.display_name, table.logical_name),
        "DisplayCollectionName": _label(table.display_name + "s", table.logical_name, "plural"),
        "Description": _label("", table.logical_name, "description"),
    }


def _option(option: Option, *parts: str) -> dict[str, Any]:
    return {
        "Value": option.value,
        "Color": None,
        "IsManaged": True,
        "ExternalValue": "",
        "ParentValues": [],
        "MetadataId": None,
        "HasChanged": None,
        "Label": _label(option.label, *parts, str(option.value)),
        "Description": _label("", *parts, str(option.value), "description"),
    }


def _option_set(table: Table, attribute: Attribute) -> dict[str, Any]:
    name = f"{table.logical_name}_{attribute.logical_name}"
    result: dict[str, Any] = {
        "MetadataId": _id("optionset", name),
        "Name": name,
        "IsGlobal": False,
        "IsCustomOptionSet": table.is_custom,
        "DisplayName": _label(attribute.display_name, name),
    }
    if attribute.type == AttributeType.BOOLEAN:
        result["OptionSetType"] = "Boolean"
        result["TrueOption"] = _option(attribute.true_option, name)
        result["FalseOption"] = _option(attribute.false_option, name)
    else:
        result["OptionSetType"] = attribute.type.value
        result["Options"] = [_option(option, name) for option in attribute.options]
    return result


def _attribute(table: Table, attribute: Attribute) -> dict[str, Any]:
    type_name = _TYPE_NAMES[attribute.type]
    result: dict[str, Any] = {
        "@odata.type": f"#{_CAST_PREFIX}{type_name}",
        "MetadataId": _id("attribute", table.logical_name, attribute.logical_name),
        "LogicalName": attribute.logical_name,
        "SchemaName": _schema_name(attribute.logical_name),
        "EntityLogicalName": table.logical_name,
        "AttributeType": attribute.type.value,
        "AttributeTypeName": {"Value": attribute.type_name},
        "AttributeOf": None,
        "IsPrimaryId": attribute.logical_name == table.primary_id,
        "IsPrimaryName": attribute.logical_name == table.primary_name,
        "IsCustomAttribute": attribute.logical_name.startswith("crmsync_"),
        "IsValidForRead": attribute.valid_for_read,
        "IsValidForCreate": attribute.valid_for_create,
        "IsValidForUpdate": attribute.valid_for_update,
        "RequiredLevel": {
            "Value": attribute.required,
            "CanBeChanged": True,
            "ManagedPropertyLogicalName": "canmodifyrequirementlevelsettings",
        },
        "DisplayName": _label(attribute.display_name, table.logical_name, attribute.logical_name),
    }
    if attribute.max_length is not None:
        result["MaxLength"] = attribute.max_length
        result["DatabaseLength"] = attribute.max_length * 2
    if attribute.type == AttributeType.DATETIME:
        behavior = attribute.datetime_behavior or "UserLocal"
        result["DateTimeBehavior"] = {"Value": behavior}
        result["Format"] = "DateOnly" if behavior == "DateOnly" else "DateAndTime"
    if attribute.type in LOOKUP_TYPES:
        result["Targets"] = list(attribute.targets)
    if attribute.min_value is not None:
        result["MinValue"] = attribute.min_value
        result["MaxValue"] = attribute.max_value
    if attribute.type == AttributeType.MONEY:
        result["Precision"] = 2
        result["PrecisionSource"] = 2
    return result


def _key(table: Table, index: int) -> dict[str, Any]:
    key = table.alternate_keys[index]
    return {
        "MetadataId": _id("key", table.logical_name, key.logical_name),
        "LogicalName": key.logical_name,
        "SchemaName": _schema_name(key.logical_name),
        "EntityLogicalName": table.logical_name,
        "KeyAttributes": list(key.attributes),
        "EntityKeyIndexStatus": "Active",
        "DisplayName": _label(key.display_name, table.logical_name, key.logical_name),
    }


# --- query options on metadata ------------------------------------------------------------------


def _split_top(text: str, separator: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    for char in text:
        depth += (char == "(") - (char == ")")
        if char == separator and depth == 0:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    if "".join(current).strip():
        parts.append("".join(current).strip())
    return parts


def _parse_expand(text: str) -> dict[str, dict[str, str]]:
    """``A($select=x,y),B`` → ``{"A": {"$select": "x,y"}, "B": {}}``."""
    result: dict[str, dict[str, str]] = {}
    for item in _split_top(text, ","):
        name, _, rest = item.partition("(")
        options: dict[str, str] = {}
        if rest:
            if not rest.endswith(")"):
                raise odata_error(f"Syntax error in $expand clause '{item}'.")
            for option in _split_top(rest[:-1], ";"):
                key, _, value = option.partition("=")
                options[key.strip()] = value.strip()
        result[name.strip()] = options
    return result


def _select(
    item: dict[str, Any], select: str | None, type_name: str, keep: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """``item`` restricted to ``select`` (plus its id and the expanded ``keep`` properties)."""
    if not select:
        return item
    names = [name.strip() for name in select.split(",") if name.strip()]
    out: dict[str, Any] = {}
    if "@odata.type" in item:
        out["@odata.type"] = item["@odata.type"]
    for name in names:
        if name not in item:
            raise odata_error(f"Could not find a property named '{name}' on type '{type_name}'.")
        out[name] = item[name]
    out["MetadataId"] = item["MetadataId"]
    for name in keep:
        if name in item:
            out[name] = item[name]
    return out


def _predicate(text: str, type_name: str) -> Callable[[dict[str, Any]], bool]:
    """A Python predicate for a simple metadata ``$filter``."""
    try:
        tree = ODataParser().parse(ODataLexer().tokenize(text))
    except (ODataException, RecursionError, ValueError, TypeError, IndexError, AttributeError):
        raise odata_error(f"Syntax error in '{text}'.") from None

    def evaluate(node: ast._Node, item: dict[str, Any]) -> Any:
        if isinstance(node, ast.BoolOp):
            left, right = evaluate(node.left, item), evaluate(node.right, item)
            return (left and right) if isinstance(node.op, ast.And) else (left or right)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return not evaluate(node.operand, item)
        if isinstance(node, ast.Compare) and isinstance(node.comparator, ast.Eq | ast.NotEq):
            equal = evaluate(node.left, item) == evaluate(node.right, item)
            return equal if isinstance(node.comparator, ast.Eq) else not equal
        if isinstance(node, ast.Identifier):
            if node.name not in item:
                raise odata_error(
                    f"Could not find a property named '{node.name}' on type '{type_name}'."
                )
            return item[node.name]
        if isinstance(node, ast.Boolean):
            return node.val.lower() == "true"
        if isinstance(node, ast.String):
            return node.val
        if isinstance(node, ast.Integer):
            return int(node.val)
        if isinstance(node, ast.Null):
            return None
        raise odata_error(f"The $filter expression '{text}' is not supported on metadata.")

    return lambda item: bool(evaluate(tree, item))


def _collection(
    items: list[dict[str, Any]],
    params: dict[str, str],
    type_name: str,
    keep: frozenset[str] = frozenset(),
) -> list[dict[str, Any]]:
    if "$filter" in params:
        wanted = _predicate(params["$filter"], type_name)
        items = [item for item in items if wanted(item)]
    return [_select(item, params.get("$select"), type_name, keep) for item in items]


def _attribute_item(
    table: Table, attribute: Attribute, expand: dict[str, dict[str, str]]
) -> dict[str, Any]:
    item = _attribute(table, attribute)
    has_options = attribute.type in OPTION_TYPES or attribute.type == AttributeType.BOOLEAN
    for name, options in expand.items():
        if name == "OptionSet" and has_options:
            option_set = _option_set(table, attribute)
            item["OptionSet"] = _select(
                option_set, options.get("$select"), "Microsoft.Dynamics.CRM.OptionSetMetadata"
            )
        elif name in ("OptionSet", "GlobalOptionSet"):
            item[name] = None
        else:
            raise odata_error(
                f"Could not find a property named '{name}' on type "
                f"'Microsoft.Dynamics.CRM.{_TYPE_NAMES[attribute.type]}'."
            )
    return item


def _find_table(store: DataverseStore, segment: Segment) -> Table:
    key = segment.key
    if isinstance(key, str):
        for table in store.schema.tables:
            if _id("entity", table.logical_name) == key:
                return table
    elif key is not None and set(key) == {"LogicalName"}:
        found = store.schema.by_logical_name.get(str(key["LogicalName"]))
        if found is not None:
            return found
    raise odata_error(f"Could not find entity with key {segment.key!r}.", 404)


def entity_definitions(
    store: DataverseStore, first: Segment, rest: list[str], request: ApiRequest
) -> bytes:
    """Answer ``EntityDefinitions…`` paths."""
    base = f"{request.base_url}/$metadata#"
    params = request.params
    expand = _parse_expand(params.get("$expand", ""))
    entity_type = "Microsoft.Dynamics.CRM.EntityMetadata"
    if first.key is None:
        if rest:
            raise odata_error(f"Resource not found for the segment '{rest[0]}'.", 404)
        entities = [_entity(store, t) for t in store.schema.tables]
        items = _collection(entities, params, entity_type)
        return orjson.dumps({"@odata.context": base + "EntityDefinitions", "value": items})
    table = _find_table(store, first)
    if not rest:
        item = _select(_entity(store, table), params.get("$select"), entity_type)
        for name, options in expand.items():
            if name == "Attributes":
                described = [_attribute(table, a) for a in table.attributes]
                item["Attributes"] = _collection(
                    described, options, "Microsoft.Dynamics.CRM.AttributeMetadata"
                )
            elif name == "Keys":
                keys = [_key(table, i) for i in range(len(table.alternate_keys))]
                item["Keys"] = _collection(
                    keys, options, "Microsoft.Dynamics.CRM.EntityKeyMetadata"
                )
            else:
                raise odata_error(
                    f"Could not find a property named '{name}' on type '{entity_type}'."
                )
        return orjson.dumps({"@odata.context": base + "EntityDefinitions/$entity", **item})
    navigation = parse_segment(rest[0])
    if navigation.name == "Keys" and len(rest) == 1:
        keys = [_key(table, i) for i in range(len(table.alternate_keys))]
        items = _collection(keys, params, "Microsoft.Dynamics.CRM.EntityKeyMetadata")
        return orjson.dumps({"@odata.context": base + "EntityDefinitions/Keys", "value": items})
    if navigation.name != "Attributes" or len(rest) > 3:
        raise odata_error(f"Resource not found for the segment '{rest[0]}'.", 404)
    attributes: list[Attribute] = list(table.attributes)
    cast = None
    remaining = rest[1:]
    if navigation.key is not None:
        key = navigation.key
        if isinstance(key, dict) and set(key) == {"LogicalName"}:
            attributes = [a for a in attributes if a.logical_name == key["LogicalName"]]
        else:
            attributes = [
                a for a in attributes if _id("attribute", table.logical_name, a.logical_name) == key
            ]
        if not attributes:
            raise odata_error(f"Could not find attribute with key {key!r}.", 404)
    if remaining:
        cast = remaining[0]
        if not cast.startswith(_CAST_PREFIX) or cast[len(_CAST_PREFIX) :] not in set(
            _TYPE_NAMES.values()
        ):
            raise odata_error(f"Resource not found for the segment '{cast}'.", 404)
        attributes = [a for a in attributes if _TYPE_NAMES[a.type] == cast[len(_CAST_PREFIX) :]]
    type_name = cast or "Microsoft.Dynamics.CRM.AttributeMetadata"
    items = [_attribute_item(table, a, expand) for a in attributes]
    items = _collection(items, params, type_name, frozenset(expand))
    context = base + f"EntityDefinitions('{table.logical_name}')/Attributes"
    if cast:
        context += f"/{cast}"
    if navigation.key is not None:
        if not items:
            raise odata_error("The attribute is not of the requested type.", 404)
        return orjson.dumps({"@odata.context": context + "/$entity", **items[0]})
    return orjson.dumps({"@odata.context": context, "value": items})


def service_document(store: DataverseStore, base_url: str) -> bytes:
    """The OData service document listing every entity set."""
    value = [
        {"name": table.entity_set, "kind": "EntitySet", "url": table.entity_set}
        for table in store.schema.tables
    ]
    value.append({"name": "EntityDefinitions", "kind": "EntitySet", "url": "EntityDefinitions"})
    return orjson.dumps({"@odata.context": f"{base_url}/$metadata", "value": value})


def csdl(store: DataverseStore) -> bytes:
    """A CSDL document with the entity types and sets (enough for clients that read it)."""
    edmx = ET.Element(
        "edmx:Edmx", {"Version": "4.0", "xmlns:edmx": "http://docs.oasis-open.org/odata/ns/edmx"}
    )
    services = ET.SubElement(edmx, "edmx:DataServices")
    schema = ET.SubElement(
        services,
        "Schema",
        {
            "Namespace": "Microsoft.Dynamics.CRM",
            "Alias": "mscrm",
            "xmlns": "http://docs.oasis-open.org/odata/ns/edm",
        },
    )
    container = ET.Element("EntityContainer", {"Name": "System"})
    for table in store.schema.tables:
        entity = ET.SubElement(schema, "EntityType", {"Name": table.logical_name})
        key = ET.SubElement(entity, "Key")
        ET.SubElement(key, "PropertyRef", {"Name": table.primary_id})
        for attribute in table.attributes:
            ET.SubElement(
                entity, "Property", {"Name": attribute.wire_name, "Type": edm_type(attribute)}
            )
        for navigation, (_, target) in table.navigation.items():
            ET.SubElement(
                entity,
                "NavigationProperty",
                {"Name": navigation, "Type": f"mscrm.{target}", "Nullable": "false"},
            )
        ET.SubElement(
            container,
            "EntitySet",
            {
                "Name": table.entity_set,
                "EntityType": f"Microsoft.Dynamics.CRM.{table.logical_name}",
            },
        )
    schema.append(container)
    document: bytes = ET.tostring(edmx, encoding="utf-8", xml_declaration=True)
    return document
