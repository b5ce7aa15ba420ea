"""What a privacy delete removes, found and removed inside one store transaction.

:func:`collect` finds a profile's records: the profile, then every record of a resource linked to
it (its ``links``), and every record linked to those, to the configured depth. :func:`erase`
removes them (children first, so that no ``keep`` link is emptied by an update the two-way
capture would log) and everything crmsync keeps about them: their marketing events and
unsubscribes (each event row is also the events outbox entry), opt-out outbox and decision log
rows, rejects, parked changes (their own and those waiting for them as a parent), and the two-way
change log, base, sent values and conflicts. It counts the rows removed per table.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from crmsync.config.models import Config, InboundMapping
from crmsync.events.tables import EVENT_TABLES, UNSUBSCRIBES
from crmsync.optout.tables import LOG, OUTBOX
from crmsync.state.suppressions import EMAIL_FIELD, NewSuppression, email_hash
from crmsync.state.tables import StateTables
from crmsync.store import build_metadata, definitions_with_profile
from crmsync.store.key_lists import one_of
from crmsync.store.resources import PROFILE, ResourceDefinition
from crmsync.twoway.tables import BASES, CHANGES, CONFLICTS, SENT

__all__ = ["Found", "Person", "collect", "erase", "mapping_of"]


@dataclass(frozen=True, slots=True)
class Found:
    """The records of one resource a privacy delete removes: their Campaign ids and their keys
    (the identifier's values, and those of the field their mapping keeps the CRM id in)."""

    resource: str
    ids: tuple[int, ...]
    keys: tuple[str, ...]


@dataclass(slots=True)
class Person:
    """A profile and the records linked to it, parents before children."""

    profile_id: int
    crm_id: str | None
    email_hash: str | None
    records: list[Found] = field(default_factory=list)

    def linked_counts(self) -> dict[str, int]:
        """How many records of each linked resource (the profile aside)."""
        counts: dict[str, int] = {}
        for found in self.records[1:]:
            counts[found.resource] = counts.get(found.resource, 0) + len(found.ids)
        return counts

    def resources(self) -> list[str]:
        return list(dict.fromkeys(found.resource for found in self.records))


def mapping_of(config: Config, resource: str) -> InboundMapping | None:
    """The inbound mapping that reads ``resource`` (a resource is mapped once), if any."""
    return next((m for m in config.inbound.mappings if m.resource == resource), None)


def resource_tables(config: Config) -> tuple[dict[str, ResourceDefinition], dict[str, sa.Table]]:
    """The definitions and tables of the profile and the configured resources."""
    definitions = definitions_with_profile(config.resources)
    return definitions, dict(build_metadata(definitions).tables)


def collect(conn: sa.Connection, config: Config, profile: Mapping[str, Any]) -> Person:
    """The profile row ``profile`` (its ``id``, ``external_id`` and ``email``) and every record
    linked to it, following the links of the configured resources."""
    definitions, tables = resource_tables(config)
    children: dict[str, list[tuple[str, str]]] = {}
    for definition in definitions.values():
        for link in definition.links:
            children.setdefault(link.resource, []).append((definition.name, link.field))
    email = profile.get(EMAIL_FIELD)
    person = Person(
        profile_id=int(profile["id"]),
        crm_id=profile.get("external_id") or None,
        email_hash=email_hash(email) if email else None,
    )
    person.records.append(_found(config, definitions[PROFILE.name], [dict(profile)]))
    level: list[tuple[str, list[dict[str, Any]]]] = [(PROFILE.name, [dict(profile)])]
    while level:
        below: list[tuple[str, list[dict[str, Any]]]] = []
        for parent, rows in level:
            identifier = definitions[parent].identifier
            values = [row[identifier] for row in rows if identifier and row.get(identifier)]
            if not values:
                continue
            for child, link_field in children.get(parent, ()):
                table = tables[child]
                column = table.c[link_field]
                found = [
                    dict(row)
                    for row in conn.execute(
                        sa.select(table).where(one_of(column, values, conn.dialect))
                    ).mappings()
                ]
                if found:
                    person.records.append(_found(config, definitions[child], found))
                    below.append((child, found))
        level = below
    return person


def _found(config: Config, definition: ResourceDefinition, rows: Sequence[dict[str, Any]]) -> Found:
    fields = [definition.identifier]
    mapping = mapping_of(config, definition.name)
    if mapping is not None:
        fields.append(mapping.primary_key.campaign)
    keys = {str(row[name]) for row in rows for name in fields if name and row.get(name)}
    return Found(definition.name, tuple(int(row["id"]) for row in rows), tuple(sorted(keys)))


def erase(conn: sa.Connection, config: Config, person: Person) -> dict[str, int]:
    """Remove ``person``'s records and what crmsync keeps about them, in the caller's
    transaction; the rows removed per table (tables with none left out)."""
    _, tables = resource_tables(config)
    removed: dict[str, int] = {}

    def count(table: sa.Table, condition: sa.ColumnElement[bool]) -> None:
        gone = conn.execute(sa.delete(table).where(condition)).rowcount
        if gone:
            removed[table.name] = removed.get(table.name, 0) + gone

    for found in reversed(person.records):  # children before their parents
        table = tables[found.resource]
        count(table, one_of(table.c.id, list(found.ids), conn.dialect))
    for events in (*EVENT_TABLES.values(), UNSUBSCRIBES):
        count(events, events.c.profile_id == person.profile_id)
    if person.crm_id is not None:
        for optout in (OUTBOX, LOG):
            count(optout, optout.c.external_id == person.crm_id)
    state = StateTables()
    keys = [key for found in person.records for key in found.keys]
    if keys:
        count(state.rejects, one_of(state.rejects.c.record_id, keys, conn.dialect))
    for found in person.records:
        if not found.keys:
            continue
        listed = list(found.keys)
        parked = state.parked
        count(
            parked,
            sa.or_(
                one_of(parked.c.record_id, listed, conn.dialect),
                sa.and_(
                    parked.c.parent_resource == found.resource,
                    one_of(parked.c.parent_key, listed, conn.dialect),
                ),
            ),
        )
        count(
            CHANGES,
            sa.and_(
                CHANGES.c.resource == found.resource,
                one_of(CHANGES.c.record_key, listed, conn.dialect),
            ),
        )
        mapping = mapping_of(config, found.resource)
        if mapping is not None:
            for kept in (BASES, SENT, CONFLICTS):
                count(
                    kept,
                    sa.and_(
                        kept.c.mapping == mapping.name,
                        one_of(kept.c.record_key, listed, conn.dialect),
                    ),
                )
    return removed


def suppressions(config: Config, person: Person) -> list[NewSuppression]:
    """The suppression entries of ``person``: each record's keys, and the profile's email hash."""
    entries: list[NewSuppression] = []
    for found in person.records:
        mapping = mapping_of(config, found.resource)
        where = (mapping.connection, mapping.crm_table) if mapping is not None else (None, None)
        entries.extend(NewSuppression("crm_id", found.resource, key, *where) for key in found.keys)
    if person.email_hash is not None:
        entries.append(NewSuppression("email", PROFILE.name, person.email_hash))
    return entries


def keys_by_mapping(config: Config, entries: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """The keys of (resource, key) pairs, by the inbound mapping that reads the resource."""
    out: dict[str, list[str]] = {}
    for resource, key in entries:
        mapping = mapping_of(config, resource)
        if mapping is not None:
            out.setdefault(mapping.name, []).append(key)
    return out
