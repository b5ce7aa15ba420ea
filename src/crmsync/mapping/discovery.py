"""Resource definitions generated from CRM metadata (schema discovery).

:func:`definition_from_table` proposes a custom resource for a CRM table: one field per CRM
field, typed by :func:`~crmsync.mapping.types.default_campaign_type`, with the CRM primary key as
the unique identifier. :func:`generated_field_names` gives the CRM → Campaign name of each field,
so that a matching inbound mapping can be generated from the same rule.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence

from crmsync.connectors.base import CrmType, FieldInfo, TableInfo
from crmsync.mapping.types import DEFAULT_LENGTHS, default_campaign_type
from crmsync.store.errors import StoreDefinitionError
from crmsync.store.names import (
    BOOKKEEPING_COLUMNS,
    check_identifier,
    identifier_problem,
    snake_case,
)
from crmsync.store.resources import FieldDefinition, ResourceDefinition
from crmsync.store.types import CampaignType

__all__ = ["definition_from_table", "generated_field_names"]

_MAX = 63


def _campaign_name(crm_name: str, taken: set[str]) -> str:
    base = snake_case(crm_name)[:_MAX] or "field"
    if not base[0].isalpha():
        base = ("f_" + base)[:_MAX]
    if base in BOOKKEEPING_COLUMNS:
        base = "crm_" + base
    name, counter = base, 2
    while name in taken:
        suffix = f"_{counter}"
        name, counter = base[: _MAX - len(suffix)] + suffix, counter + 1
    if identifier_problem(name) is not None:  # pragma: no cover - snake_case output is valid
        raise StoreDefinitionError(f"cannot derive a column name from CRM field {crm_name!r}")
    taken.add(name)
    return name


def _selected(table: TableInfo, fields: Sequence[str] | None) -> list[FieldInfo]:
    if table.primary_key not in table.fields:
        raise StoreDefinitionError(
            f"CRM table '{table.name}': primary key '{table.primary_key}' is not among its fields",
            table=table.name,
        )
    if fields is None:
        return list(table.fields.values())
    chosen: list[FieldInfo] = []
    for name in dict.fromkeys([table.primary_key, *fields]):
        info = table.fields.get(name)
        if info is None:
            close = difflib.get_close_matches(name, list(table.fields), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise StoreDefinitionError(
                f"CRM table '{table.name}' has no field '{name}'{hint}", table=table.name
            )
        chosen.append(info)
    return chosen


def generated_field_names(table: TableInfo, fields: Sequence[str] | None = None) -> dict[str, str]:
    """CRM field name → Campaign field name, for the fields a generated definition holds.

    The primary key comes first. Names are the CRM's in snake case (``AccountId`` →
    ``account_id``); a name the store reserves gets a ``crm_`` prefix (``Id`` → ``crm_id``) and
    names that collide get a numeric suffix.
    """
    infos = _selected(table, fields)
    infos.sort(key=lambda info: info.name != table.primary_key)
    taken: set[str] = set()
    return {info.name: _campaign_name(info.name, taken) for info in infos}


def definition_from_table(
    table: TableInfo, name: str, fields: Sequence[str] | None = None
) -> ResourceDefinition:
    """A custom resource ``name`` holding ``fields`` of CRM ``table`` (all fields by default)."""
    check_identifier(name, what="resource name")
    names = generated_field_names(table, fields)
    definitions: list[FieldDefinition] = []
    for crm_name, campaign_name in names.items():
        info = table.fields[crm_name]
        campaign_type = default_campaign_type(info.type)
        length = DEFAULT_LENGTHS.get(info.type) if campaign_type is CampaignType.STRING else None
        is_key = crm_name == table.primary_key
        definitions.append(
            FieldDefinition(
                name=campaign_name,
                type=campaign_type,
                length=length or (255 if is_key and info.type is CrmType.STRING else None),
                unique=is_key,
                description=f"CRM field {crm_name} ({info.type.value})",
            )
        )
    return ResourceDefinition(
        name=name,
        identifier=names[table.primary_key],
        fields=tuple(definitions),
        description=f"Generated from CRM table {table.name}",
    )
