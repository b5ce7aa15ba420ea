"""Checks of a configuration against CRM metadata (fields, types, change tracking).

The caller reads the metadata (``Connector.describe``) and passes the tables; nothing here talks
to a CRM, so the same checks run in tests, in ``crmsync validate`` and at start-up.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Literal

from crmsync.config.checks import resources_by_name
from crmsync.config.errors import ConfigIssue, Loc
from crmsync.config.models import Config, InboundMapping
from crmsync.config.suggest import did_you_mean
from crmsync.connectors.base import CrmType, TableInfo
from crmsync.mapping.types import COMPATIBLE, is_compatible
from crmsync.store.resources import ResourceDefinition

__all__ = ["validate_against_metadata"]


def validate_against_metadata(
    config: Config,
    tables: Mapping[str, TableInfo],
    *,
    connection: str | None = None,
    untracked: Literal["error", "warning"] = "error",
    table_names: Collection[str] = (),
) -> list[ConfigIssue]:
    """Problems of the inbound and opt-in/out mappings that only the CRM metadata reveals.

    ``tables`` holds the metadata of the CRM tables by name. With ``connection``, only the
    mappings of that connection are checked (tables of different CRMs may share names).
    ``untracked`` is the severity of a mapped table without change tracking: an error where it
    is to be synced, a warning where a mapping is only saved (the CRM's setting may change
    before it starts). ``table_names``, every table the CRM has, are the names a missing
    table's hint is chosen from (the keys of ``tables`` without them).
    """
    issues: list[ConfigIssue] = []
    resources = resources_by_name(config)
    for index, mapping in enumerate(config.inbound.mappings):
        if connection is not None and mapping.connection != connection:
            continue
        loc: Loc = ("inbound", "mappings", index)
        table = tables.get(mapping.crm_table)
        if table is None:
            issues.append(
                ConfigIssue(
                    (*loc, "crm_table"),
                    f"the CRM has no table '{mapping.crm_table}'"
                    + did_you_mean(mapping.crm_table, table_names or tables),
                )
            )
            continue
        resource = resources.get(mapping.resource)
        issues += _mapping_issues(loc, mapping, table, resource, untracked)
        if mapping.two_way and resource is not None:
            issues += _two_way_issues(loc, mapping, table, resource)
    issues += _optinout_issues(config, tables, connection)
    return issues


def _two_way_issues(
    loc: Loc, mapping: InboundMapping, table: TableInfo, resource: ResourceDefinition
) -> list[ConfigIssue]:
    """The settings of a two-way mapping that cannot be written back to the CRM, and a mapping
    with no field to write back."""
    # The reverse direction stands on the inbound conversions, which stand on this package:
    # imported when a mapping is two-way.
    from crmsync.twoway.reverse import reverse_mapping

    reverse = reverse_mapping(mapping, table, resource, loc=loc)
    issues = list(reverse.issues)
    if not reverse.fields and not issues:
        not_sent = ", ".join(f"'{n.campaign}' ({n.reason.value})" for n in reverse.not_sent)
        issues.append(
            ConfigIssue(
                (*loc, "two_way"),
                "no mapped field can be written back to the CRM (not sent: "
                f"{not_sent}); set two_way to false",
            )
        )
    return issues


def _incompatible(crm_name: str, crm_type: CrmType, campaign: str, campaign_type: str) -> str:
    allowed = ", ".join(t.value for t in COMPATIBLE[crm_type])
    return (
        f"CRM field '{crm_name}' ({crm_type.value}) cannot be written to Campaign field "
        f"'{campaign}' ({campaign_type}): compatible types are {allowed}"
    )


def _mapping_issues(
    loc: Loc,
    mapping: InboundMapping,
    table: TableInfo,
    resource: ResourceDefinition | None,
    untracked: Literal["error", "warning"],
) -> list[ConfigIssue]:
    issues: list[ConfigIssue] = []
    if not table.change_tracking:
        issues.append(
            ConfigIssue(
                (*loc, "crm_table"),
                f"change tracking is not enabled on CRM table '{table.name}': enable it in the "
                "CRM (Dataverse: table properties → Track changes) before syncing",
                untracked,
            )
        )
    declared = mapping.primary_key.crm
    if declared is not None and declared != table.primary_key:
        issues.append(
            ConfigIssue(
                (*loc, "primary_key", "crm"),
                f"the primary key of CRM table '{table.name}' is '{table.primary_key}', "
                f"not '{declared}'",
            )
        )
    key_info = table.fields.get(table.primary_key)
    key_field = resource.field(mapping.primary_key.campaign) if resource else None
    if key_info and key_field and not is_compatible(key_info.type, key_field.type):
        issues.append(
            ConfigIssue(
                (*loc, "primary_key", "campaign"),
                _incompatible(key_info.name, key_info.type, key_field.name, key_field.type.value),
            )
        )
    for index, field in enumerate(mapping.fields):
        info = table.fields.get(field.crm)
        if info is None:
            issues.append(
                ConfigIssue(
                    (*loc, "fields", index, "crm"),
                    f"unknown field '{field.crm}' of CRM table '{table.name}'"
                    + did_you_mean(field.crm, table.fields),
                )
            )
            continue
        target = resource.field(field.campaign) if resource else None
        if target is not None and not is_compatible(info.type, target.type):
            issues.append(
                ConfigIssue(
                    (*loc, "fields", index, "campaign"),
                    _incompatible(info.name, info.type, target.name, target.type.value),
                )
            )
    for index, condition in enumerate(mapping.filters.conditions):
        if condition.field not in table.fields:
            issues.append(
                ConfigIssue(
                    (*loc, "filters", "conditions", index, "field"),
                    f"unknown field '{condition.field}' of CRM table '{table.name}'"
                    + did_you_mean(condition.field, table.fields),
                )
            )
    for index, replacement in enumerate(mapping.replacements):
        info = table.fields.get(replacement.field)
        if info is None or not info.options:
            continue
        values = {str(option.value) for option in info.options}
        values |= {option.label for option in info.options}
        if str(replacement.from_) not in values:
            issues.append(
                ConfigIssue(
                    (*loc, "replacements", index, "from"),
                    f"{replacement.from_!r} is not a value of CRM field '{info.name}' "
                    f"(values: {', '.join(sorted(str(o.value) for o in info.options))})",
                    "warning",
                )
            )
    return issues


def _optinout_issues(
    config: Config, tables: Mapping[str, TableInfo], connection: str | None
) -> list[ConfigIssue]:
    section = config.optinout
    linked = config.connections.get(section.connection or "")
    name = section.table_for(linked.kind) if linked is not None else section.crm_table
    if name is None or name not in tables:
        return []
    if connection is not None and section.connection != connection:
        return []
    table = tables[name]
    issues: list[ConfigIssue] = []
    for index, mapping in enumerate(section.mappings):
        info = table.fields.get(mapping.crm)
        loc: Loc = ("optinout", "mappings", index, "crm")
        if info is None:
            issues.append(
                ConfigIssue(
                    loc,
                    f"unknown field '{mapping.crm}' of CRM table '{table.name}'"
                    + did_you_mean(mapping.crm, table.fields),
                )
            )
        elif info.type is not CrmType.BOOLEAN:
            issues.append(
                ConfigIssue(
                    loc,
                    f"CRM field '{mapping.crm}' is {info.type.value}: opt-out fields must be "
                    "Boolean",
                )
            )
    return issues
