"""One two-way mapping, ready for the merge: which Campaign fields are merged, and how.

A two-way mapping merges the fields its reverse direction sends back
(:func:`crmsync.twoway.reverse.reverse_mapping`): every mapped field but the key, the fields the
CRM manages and the fields whose ``apply_updates`` is off. Those stay one-way (CRM → Campaign, as
in any mapping; an insert-only field is Campaign's after the record's first load).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from crmsync.config.errors import ConfigError, ConfigIssue
from crmsync.config.models import InboundMapping
from crmsync.connectors.base import Record, TableInfo
from crmsync.optout.lookup import as_time
from crmsync.store.key_lists import one_of
from crmsync.store.resources import ResourceDefinition
from crmsync.store.types import CampaignType
from crmsync.sync.transform import CompiledMapping
from crmsync.twoway.reverse import ReverseField, ReverseMapping, reverse_mapping

__all__ = ["TwoWayMapping", "two_way_mapping"]


@dataclass(frozen=True, slots=True)
class TwoWayMapping:
    """A compiled two-way mapping and its reverse direction."""

    compiled: CompiledMapping
    reverse: ReverseMapping
    table: TableInfo
    #: ``dataverse`` or ``salesforce``.
    kind: str
    #: The merged Campaign fields and their types, in the mapping's order.
    fields: Mapping[str, CampaignType]

    @property
    def name(self) -> str:
        return self.compiled.name

    @property
    def resource(self) -> str:
        return self.compiled.resource

    @property
    def key_field(self) -> str:
        return self.compiled.key_field

    @property
    def sent(self) -> Mapping[str, ReverseField]:
        """Merged Campaign field → how it is written back."""
        return {field.campaign: field for field in self.reverse.fields}

    def campaign_values(self, record: Record) -> dict[str, Any]:
        """The merged fields of a CRM record, in Campaign terms (as the inbound direction writes
        them). Raises :class:`~crmsync.errors.RejectError` as :meth:`CompiledMapping.to_row`."""
        row = self.compiled.to_row(record)
        return {name: row[name] for name in self.fields}

    def held(
        self, conn: sa.Connection, table: sa.Table, keys: Sequence[str], *, lock: bool = False
    ) -> dict[str, dict[str, Any]]:
        """The merged fields of the Campaign rows of these keys that exist (the Campaign side);
        ``lock``: locked until the transaction ends (PostgreSQL), so that no Campaign edit slips
        between this read and the caller's write."""
        if not keys:
            return {}
        key = table.c[self.key_field]
        query = sa.select(key, *(table.c[name] for name in self.fields)).where(
            one_of(key, list(keys), conn.dialect)
        )
        if lock:
            # Locked in key order, as crmsync locks them everywhere: fewer deadlocks with a
            # client editing several rows in one transaction.
            query = query.order_by(key).with_for_update(of=table)
        return {row[0]: dict(zip(self.fields, row[1:], strict=True)) for row in conn.execute(query)}

    def modified_at(self, values: Mapping[str, Any]) -> datetime | None:
        """The CRM record's last-modified time, from its values as read."""
        name = self.table.modified_field
        return as_time(values.get(name)) if name else None

    def version(self, record: Record) -> str | None:
        """The version a conditional write of ``record`` is made against: Dataverse's row
        version, Salesforce's last-modified time."""
        if self.kind == "dataverse":
            return None if record.version is None else str(record.version)
        value = record.values.get(self.table.modified_field or "")
        return None if value is None else str(value)


def two_way_mapping(
    mapping: InboundMapping,
    compiled: CompiledMapping,
    table: TableInfo,
    resource: ResourceDefinition,
    kind: str,
    *,
    loc: tuple[str | int, ...] | None = None,
) -> TwoWayMapping:
    """The two-way form of ``mapping``; raises :class:`ConfigError` with each setting that cannot
    be written back (see :mod:`crmsync.twoway.reverse`)."""
    reverse = reverse_mapping(mapping, table, resource, loc=loc)
    if reverse.issues:
        raise ConfigError(list(reverse.issues))
    if not reverse.fields:
        where = (*(loc or ("inbound", "mappings", mapping.name)), "two_way")
        raise ConfigError([ConfigIssue(where, "no mapped field can be written back to the CRM")])
    fields = {}
    for sent in reverse.fields:
        target = resource.field(sent.campaign)
        assert target is not None  # reverse_mapping sends back fields of the resource only
        fields[sent.campaign] = target.type
    return TwoWayMapping(compiled, reverse, table, kind, fields)
