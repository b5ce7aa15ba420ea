"""Static checks of a configuration: every rule that needs no CRM and no database.

Each check returns :class:`~crmsync.config.errors.ConfigIssue` objects located by their path in
the file; the loader adds line numbers. Checks never stop at the first problem.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

from crmsync.config.errors import ConfigIssue, Loc
from crmsync.config.models import Config, InboundMapping
from crmsync.config.suggest import did_you_mean
from crmsync.connectors.secrets import missing_secrets
from crmsync.store.engine import parse_store_url
from crmsync.store.resources import PROFILE, OptOutAttribute, ResourceDefinition

__all__ = ["check_secrets", "resources_by_name", "static_issues"]


def static_issues(config: Config) -> list[ConfigIssue]:
    """Every problem of ``config`` that can be found without a CRM or a database."""
    issues = _resource_issues(config)
    resources = resources_by_name(config)
    issues += _inbound_issues(config, resources)
    issues += _optinout_issues(config)
    issues += _outbound_issues(config)
    issues += _queue_issues(config)
    return issues


def resources_by_name(config: Config) -> dict[str, ResourceDefinition]:
    out = {PROFILE.name: PROFILE}
    for resource in config.resources:
        out.setdefault(resource.name, resource)
    return out


def _error(loc: Loc, message: str) -> ConfigIssue:
    return ConfigIssue(loc, message)


def _guardrail(loc: Loc, value: int, limit: int, ratio: float, what: str) -> list[ConfigIssue]:
    if value > limit:
        return [_error(loc, f"{value} {what}, more than the limit of {limit} (guardrails)")]
    if limit and value >= math.ceil(limit * ratio):
        return [
            ConfigIssue(
                loc, f"{value} {what}: close to the limit of {limit} (guardrails)", "warning"
            )
        ]
    return []


def _resource_issues(config: Config) -> list[ConfigIssue]:
    rails = config.guardrails
    issues = _guardrail(
        ("resources",),
        len(config.resources),
        rails.max_custom_resources,
        rails.warn_ratio,
        "custom resources",
    )
    known = resources_by_name(config)
    seen: set[str] = set()
    for index, resource in enumerate(config.resources):
        loc: Loc = ("resources", index)
        if resource.name == PROFILE.name:
            issues.append(_error((*loc, "name"), "'profile' is built in and cannot be redefined"))
        elif resource.name in seen:
            issues.append(_error((*loc, "name"), f"resource '{resource.name}' is defined twice"))
        seen.add(resource.name)
        issues += _guardrail(
            (*loc, "fields"), len(resource.fields), rails.max_columns, rails.warn_ratio, "fields"
        )
        issues += _guardrail(
            (*loc, "links"),
            len(resource.links),
            rails.max_link_columns,
            rails.warn_ratio,
            "link columns",
        )
        for link_index, link in enumerate(resource.links):
            link_loc: Loc = (*loc, "links", link_index)
            parent = known.get(link.resource)
            if link.resource == resource.name:
                issues.append(_error((*link_loc, "resource"), "a resource cannot link to itself"))
            elif parent is None:
                issues.append(
                    _error(
                        (*link_loc, "resource"),
                        f"unknown resource '{link.resource}'{did_you_mean(link.resource, known)}",
                    )
                )
            elif parent.identifier is None:
                issues.append(
                    _error(
                        (*link_loc, "resource"),
                        f"resource '{parent.name}' has no identifier field to link to",
                    )
                )
            else:
                mine, theirs = resource.field(link.field), parent.field(parent.identifier)
                if mine and theirs and (mine.type, mine.length) != (theirs.type, theirs.length):
                    issues.append(
                        _error(
                            (*link_loc, "field"),
                            f"field '{link.field}' must have the type of "
                            f"'{parent.name}.{parent.identifier}' ({theirs.type.value}"
                            + (f", length {theirs.length}" if theirs.length else "")
                            + ")",
                        )
                    )
    issues += _depth_issues(config, known)
    return issues


def _depth_issues(config: Config, known: Mapping[str, ResourceDefinition]) -> list[ConfigIssue]:
    rails = config.guardrails
    issues: list[ConfigIssue] = []
    for index, resource in enumerate(config.resources):
        depth, chain, current = 0, [resource.name], resource
        cycle = False
        while current.links:
            parents = [known[k.resource] for k in current.links if k.resource in known]
            parents = [p for p in parents if p.name != current.name]
            if not parents:
                break
            current = parents[0]
            depth += 1
            if current.name in chain:
                cycle = True
                break
            chain.append(current.name)
        loc: Loc = ("resources", index, "links")
        if cycle:
            issues.append(_error(loc, "links form a cycle: " + " → ".join([*chain, current.name])))
        else:
            issues += _guardrail(
                loc, depth, rails.max_link_depth, rails.warn_ratio, "levels of links"
            )
    return issues


def _inbound_issues(
    config: Config, resources: Mapping[str, ResourceDefinition]
) -> list[ConfigIssue]:
    issues: list[ConfigIssue] = []
    names: dict[str, int] = {}
    tables: dict[tuple[str, str], int] = {}
    targets: dict[str, int] = {}
    for index, mapping in enumerate(config.inbound.mappings):
        loc: Loc = ("inbound", "mappings", index)
        if mapping.name in names:
            issues.append(
                _error(
                    (*loc, "name"),
                    f"mapping name '{mapping.name}' is already used by "
                    f"inbound.mappings[{names[mapping.name]}]",
                )
            )
        names.setdefault(mapping.name, index)
        if mapping.connection not in config.connections:
            issues.append(
                _error(
                    (*loc, "connection"),
                    f"unknown connection '{mapping.connection}'"
                    + did_you_mean(mapping.connection, config.connections),
                )
            )
        table_key = (mapping.connection, mapping.crm_table)
        if table_key in tables:
            issues.append(
                _error(
                    (*loc, "crm_table"),
                    f"CRM table '{mapping.crm_table}' is already mapped by "
                    f"inbound.mappings[{tables[table_key]}]",
                )
            )
        tables.setdefault(table_key, index)
        if mapping.resource in targets:
            issues.append(
                _error(
                    (*loc, "resource"),
                    f"resource '{mapping.resource}' is already mapped by "
                    f"inbound.mappings[{targets[mapping.resource]}]",
                )
            )
        targets.setdefault(mapping.resource, index)
        resource = resources.get(mapping.resource)
        if resource is None:
            issues.append(
                _error(
                    (*loc, "resource"),
                    f"unknown resource '{mapping.resource}'"
                    + did_you_mean(mapping.resource, resources),
                )
            )
            continue
        issues += _mapping_field_issues(loc, mapping, resource)
    return issues


def _unknown_field(resource: ResourceDefinition, name: str) -> str:
    return (
        f"unknown field '{name}' of resource '{resource.name}'"
        f"{did_you_mean(name, resource.field_names())}"
    )


def _mapping_field_issues(
    loc: Loc, mapping: InboundMapping, resource: ResourceDefinition
) -> list[ConfigIssue]:
    issues: list[ConfigIssue] = []
    key = mapping.primary_key.campaign
    if resource.field(key) is None:
        issues.append(_error((*loc, "primary_key", "campaign"), _unknown_field(resource, key)))
    elif key not in resource.unique_fields():
        issues.append(
            _error(
                (*loc, "primary_key", "campaign"),
                f"field '{key}' of resource '{resource.name}' is not unique: the key must be "
                "the resource's identifier or a field declared 'unique: true'",
            )
        )
    written: dict[str, int] = {}
    for index, field in enumerate(mapping.fields):
        field_loc: Loc = (*loc, "fields", index, "campaign")
        if resource.field(field.campaign) is None:
            issues.append(_error(field_loc, _unknown_field(resource, field.campaign)))
        elif field.campaign == key:
            issues.append(_error(field_loc, f"field '{key}' already receives the CRM primary key"))
        elif field.campaign in written:
            first = written[field.campaign]
            issues.append(
                _error(
                    field_loc,
                    f"field '{field.campaign}' already receives CRM field "
                    f"'{mapping.fields[first].crm}' (fields[{first}]): "
                    "two CRM fields cannot write one Campaign field",
                )
            )
        written.setdefault(field.campaign, index)
    mapped = {field.crm for field in mapping.fields}
    seen: set[tuple[str, object]] = set()
    for index, replacement in enumerate(mapping.replacements):
        rep_loc: Loc = (*loc, "replacements", index)
        if replacement.field not in mapped:
            issues.append(
                _error(
                    (*rep_loc, "field"),
                    f"CRM field '{replacement.field}' is not mapped in this mapping's fields"
                    + did_you_mean(replacement.field, mapped),
                )
            )
        marker = (replacement.field, replacement.from_)
        if marker in seen:
            issues.append(
                _error(
                    (*rep_loc, "from"),
                    f"value {replacement.from_!r} of '{replacement.field}' is replaced twice",
                )
            )
        seen.add(marker)
    return issues


def _connection_issue(config: Config, loc: Loc, name: str | None, needed: str) -> list[ConfigIssue]:
    if name is None:
        return [_error(loc, f"a connection is needed when {needed}")]
    if name not in config.connections:
        return [_error(loc, f"unknown connection '{name}'{did_you_mean(name, config.connections)}")]
    return []


def _optinout_issues(config: Config) -> list[ConfigIssue]:
    section = config.optinout
    issues: list[ConfigIssue] = []
    if section.direction != "disabled":
        issues += _connection_issue(
            config, ("optinout", "connection"), section.connection, "the direction is not disabled"
        )
    if section.direction != "disabled" and not section.mappings:
        issues.append(
            _error(
                ("optinout", "mappings"),
                f"direction '{section.direction}' needs at least one mapping "
                "(a CRM Boolean field and a Campaign opt-out attribute)",
            )
        )
    if section.direction != "disabled":
        issues += _inbound_opt_out_issues(config)
    seen: dict[str, int] = {}
    for index, mapping in enumerate(section.mappings):
        if mapping.campaign.value in seen:
            issues.append(
                _error(
                    ("optinout", "mappings", index, "campaign"),
                    f"'{mapping.campaign.value}' is already mapped by "
                    f"optinout.mappings[{seen[mapping.campaign.value]}]",
                )
            )
        seen.setdefault(mapping.campaign.value, index)
    return issues


def _inbound_opt_out_issues(config: Config) -> list[ConfigIssue]:
    """With opt-in/out on, opt-out attributes are written by that workflow (and its conflict
    rule) only: an inbound mapping that also writes them could undo an opt-out."""
    issues: list[ConfigIssue] = []
    opt_outs = {attribute.value for attribute in OptOutAttribute}
    for index, mapping in enumerate(config.inbound.mappings):
        if mapping.resource != "profile":
            continue
        for number, field in enumerate(mapping.fields):
            if field.campaign in opt_outs:
                issues.append(
                    _error(
                        ("inbound", "mappings", index, "fields", number, "campaign"),
                        f"'{field.campaign}' is an opt-out attribute, synced by the optinout "
                        f"workflow (direction '{config.optinout.direction}'): map it under "
                        "optinout.mappings instead",
                    )
                )
    return issues


def _outbound_issues(config: Config) -> list[ConfigIssue]:
    section = config.outbound
    if not any(section.events.model_dump().values()) and section.connection is None:
        return []
    return _connection_issue(
        config, ("outbound", "connection"), section.connection, "events are switched on"
    )


def _queue_issues(config: Config) -> list[ConfigIssue]:
    sqlite_store = parse_store_url(config.store.url).drivername.startswith("sqlite")
    if config.queue.kind != "nats" or not sqlite_store:
        return []
    return [
        _error(
            ("queue", "kind"),
            "a NATS queue is for several processes over a PostgreSQL store: with a SQLite "
            "store use 'kind: sqlite', or set store.url to postgresql+psycopg://USER@HOST/DB",
        )
    ]


def check_secrets(config: Config, environ: Mapping[str, str] | None = None) -> list[ConfigIssue]:
    """Warnings for secrets that cannot be read (unset variable, missing or empty file) and for
    the connections' other files (certificates, CA bundles) that do not exist.

    Warnings, not errors: a configuration is often validated where its secrets are not present.
    """
    issues: list[ConfigIssue] = []
    for name, connection in config.connections.items():
        missing = missing_secrets(connection, connection.secrets, environ)
        issues += [
            ConfigIssue(("connections", name, m.setting), m.message, "warning") for m in missing
        ]
        secret_files = {f"{secret}_file" for secret in connection.secrets}
        issues += [
            ConfigIssue(("connections", name, key), f"file '{value}' does not exist", "warning")
            for key, value in connection
            if isinstance(value, Path) and key not in secret_files and not value.is_file()
        ]
    queue = config.queue
    if queue.kind == "nats":
        issues += [
            ConfigIssue(("queue", m.setting), m.message, "warning")
            for m in missing_secrets(queue, queue.secrets, environ)
        ]
        issues += [
            ConfigIssue(("queue", *key.split(".")), f"file '{path}' does not exist", "warning")
            for key, path in queue.files().items()
            if not path.is_file()
        ]
    return issues
