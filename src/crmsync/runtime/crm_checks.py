"""A configuration checked against the CRMs it names (``crmsync validate --check-crm``).

Every connection the configuration uses is opened (secrets from the environment or files, as
configured) and asked for its table list, which proves it can be reached and signed in to; then
every CRM table its mappings name is described, each table once, several at a time, and the
mappings are checked against that metadata by
:func:`~crmsync.config.metadata_checks.validate_against_metadata`. Every problem is a
:class:`~crmsync.config.errors.ConfigIssue` at its place in the file; nothing here raises for
a CRM that cannot be used.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass

from crmsync.config.errors import ConfigError, ConfigIssue, Loc, format_loc
from crmsync.config.metadata_checks import validate_against_metadata
from crmsync.config.models import Config
from crmsync.config.suggest import did_you_mean
from crmsync.connectors.base import Connector, TableInfo
from crmsync.errors import CrmsyncError
from crmsync.runtime.connectors import ConnectorOpener, open_connector

__all__ = ["CrmCheck", "check_against_crm", "connections_used"]

#: Tables of one connection described at the same time.
PARALLEL_DESCRIBES = 4


@dataclass(frozen=True, slots=True)
class CrmCheck:
    """What :func:`check_against_crm` found: each connection it used, whether it could be used
    (reached and signed in to), and every issue."""

    connections: Mapping[str, bool]
    issues: tuple[ConfigIssue, ...]


def connections_used(config: Config) -> tuple[str, ...]:
    """The defined connections that a mapping or a switched-on workflow names, sorted."""
    names = {mapping.connection for mapping in config.inbound.mappings}
    if config.optinout.direction != "disabled" and config.optinout.connection is not None:
        names.add(config.optinout.connection)
    if config.outbound.enabled() and config.outbound.connection is not None:
        names.add(config.outbound.connection)
    return tuple(sorted(name for name in names if name in config.connections))


def _tables_named(config: Config, connection: str) -> dict[str, list[Loc]]:
    """The CRM tables of ``connection`` that the configuration maps → where each is named."""
    tables: dict[str, list[Loc]] = {}
    for index, mapping in enumerate(config.inbound.mappings):
        if mapping.connection == connection:
            loc: Loc = ("inbound", "mappings", index, "crm_table")
            tables.setdefault(mapping.crm_table, []).append(loc)
    section = config.optinout
    if section.direction != "disabled" and section.connection == connection:
        table = section.table_for(config.connections[connection].kind)
        where = "crm_table" if section.crm_table is not None else "connection"
        tables.setdefault(table, []).append(("optinout", where))
    return tables


def _reason(exc: CrmsyncError) -> str:
    if isinstance(exc, ConfigError):
        return "; ".join(f"{issue.loc[-1]}: {issue.message}" for issue in exc.issues)
    return exc.message


def _unreachable(
    connection: str, exc: CrmsyncError, tables: Mapping[str, list[Loc]]
) -> ConfigIssue:
    # The mapping (``inbound.mappings[i]``) or the section (``optinout``) left unchecked.
    skipped = sorted(
        {
            format_loc(loc[:3] if loc[0] == "inbound" else loc[:1])
            for locs in tables.values()
            for loc in locs
        }
    )
    message = f"cannot use the connection: {_reason(exc)}"
    if skipped:
        message += "; not checked against the CRM: " + ", ".join(skipped)
    return ConfigIssue(("connections", connection), message)


@dataclass
class _Described:
    """The metadata of the tables read, and the places of those that were not."""

    found: dict[str, TableInfo]
    #: The CRM answered that it has no such table.
    missing: set[str]
    #: The CRM failed to answer: where each such table is named, with why.
    unreadable: dict[Loc, str]


async def _describe_all(connector: Connector, tables: Mapping[str, list[Loc]]) -> _Described:
    """Each of ``tables`` described once, :data:`PARALLEL_DESCRIBES` at a time."""
    gate = asyncio.Semaphore(PARALLEL_DESCRIBES)

    async def one(table: str) -> TableInfo | CrmsyncError:
        async with gate:
            try:
                return await connector.describe(table)
            except CrmsyncError as exc:
                return exc

    names = list(tables)
    answers = await asyncio.gather(*(one(table) for table in names))
    described = _Described({}, set(), {})
    for table, answer in zip(names, answers, strict=True):
        if isinstance(answer, TableInfo):
            described.found[table] = answer
        elif answer.status == 404:
            described.missing.add(table)
        else:
            message = f"cannot read the metadata of CRM table '{table}': {answer.message}"
            described.unreadable.update(dict.fromkeys(tables[table], message))
    return described


async def _check_connection(
    config: Config,
    connection: str,
    environ: Mapping[str, str] | None,
    opener: ConnectorOpener,
) -> tuple[bool, list[ConfigIssue]]:
    """Whether ``connection`` could be used, and the problems found through it."""
    tables = _tables_named(config, connection)
    try:
        connector = opener(connection, config.connections[connection], environ)
    except CrmsyncError as exc:
        return False, [_unreachable(connection, exc, tables)]
    try:
        try:
            known = await connector.list_tables()
        except CrmsyncError as exc:
            return False, [_unreachable(connection, exc, tables)]
        described = await _describe_all(connector, tables)
    finally:
        await connector.aclose()
    found = validate_against_metadata(
        config, described.found, connection=connection, untracked="error", table_names=known
    )
    # A table the CRM failed to describe is not one it lacks: its own problem replaces that.
    issues = [issue for issue in found if issue.loc not in described.unreadable]
    issues += [ConfigIssue(loc, message) for loc, message in described.unreadable.items()]
    # The opt-in/out contact table is only checked when present; one the CRM lacks is said here.
    issues += [
        ConfigIssue(loc, f"the CRM has no table '{table}'" + did_you_mean(table, known))
        for table in sorted(described.missing)
        for loc in tables[table]
        if loc[0] == "optinout"
    ]
    return True, issues


async def check_against_crm(
    config: Config,
    *,
    environ: Mapping[str, str] | None = None,
    opener: ConnectorOpener = open_connector,
) -> CrmCheck:
    """Check ``config`` against its CRMs: each connection of :func:`connections_used` is
    reached and its mapped tables' metadata checked, connections at the same time. A connection
    that cannot be used is one issue at ``connections.<name>`` naming what it leaves
    unchecked."""
    names = connections_used(config)
    found = await asyncio.gather(
        *(_check_connection(config, name, environ, opener) for name in names)
    )
    return CrmCheck(
        {name: used for name, (used, _) in zip(names, found, strict=True)},
        tuple(issue for _, issues in found for issue in issues),
    )
