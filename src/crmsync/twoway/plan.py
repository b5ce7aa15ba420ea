"""The plan of a two-way mapping's next merge: what it would write to each side, and why, with
nothing written anywhere.

:func:`plan_mapping` weighs every record the next run of ``inbound`` would merge, with the same
rule (:func:`~crmsync.twoway.rule.merge`), bases and values as the run:

- records with **pending Campaign edits** (rows of the change log, read with a plain query: no
  log row is numbered, none is deleted): the Campaign row, its base, and the CRM record as it is
  now (read by id, as the Campaign → CRM side reads it);
- records the **CRM changed** since the mapping's saved cursor (change tracking read from that
  cursor, the new cursor not saved): the change, the Campaign row and its base, as the CRM →
  Campaign side merges it; a change not newer than the version its base was synced at is left
  out, as the run leaves it out. A record also edited in Campaign is merged once, with the first
  group: the CRM record read by id holds the change.

A mapping without a saved cursor (never run, or its CRM fields changed since the last read) is
read in full at the next run: the plan reads the table in full too, merges the records whose
Campaign row exists, and counts the others, which the run inserts as they come. Changes already
read into the queue are not planned: they are applied as they were read when inbound starts.

Each record's decisions are listed on the side they are written to: ``campaign_to_crm`` (the
fields sent to the CRM, with the CRM field and the value sent) and ``crm_to_campaign`` (the fields
written to the Campaign row); a record that writes to both sides appears in both. A conflict is
listed with the side its winner's value is written to. Fields the mapping keeps one-way are
written by the run as in any mapping and are not listed.

The store is only read: its schema is checked, never upgraded (a store that needs an upgrade is
refused), and no cursor, base, conflict, reject, counter or log row is written; the CRM is only
read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from crmsync.config.models import Config, InboundMapping
from crmsync.connectors.base import Connector, Record
from crmsync.errors import (
    AuthenticationError,
    ConfigurationError,
    CrmsyncError,
    RejectError,
    TransientError,
)
from crmsync.runtime.connectors import ConnectorOpener, open_connector
from crmsync.state.cursors import Cursors
from crmsync.state.upgrade import store_schema
from crmsync.store import build_metadata, create_engine_for, definitions_with_profile
from crmsync.store.engine import missing_sqlite_file
from crmsync.store.key_lists import one_of
from crmsync.sync.parse import ConversionError
from crmsync.sync.reader import cursor_signature
from crmsync.sync.transform import compile_mapping
from crmsync.sync.writer import version_number
from crmsync.twoway.base import Base, load_bases
from crmsync.twoway.conflicts import json_value
from crmsync.twoway.implicit import implicit_bases
from crmsync.twoway.inbound import base_version, crm_to_merge
from crmsync.twoway.mapping import TwoWayMapping, two_way_mapping
from crmsync.twoway.push import current_record, read_current
from crmsync.twoway.rule import Conflict, Merge, Side, Winner, merge
from crmsync.twoway.sent import Sent, load_sent, with_sent
from crmsync.twoway.tables import CHANGES

__all__ = [
    "DEFAULT_LIMIT",
    "DirectionPlan",
    "MergePlan",
    "PlannedField",
    "PlannedRecord",
    "PlannedReject",
    "plan_mapping",
]

#: Records listed per direction (every record is counted).
DEFAULT_LIMIT = 100
#: Campaign rows and bases read a query.
_BATCH = 500


@dataclass(frozen=True, slots=True)
class PlannedField:
    """One field a merge writes: its value now on the side written and the value written (both
    in Campaign terms), the CRM field, and the value the CRM is sent (``campaign_to_crm``)."""

    campaign_field: str
    crm_field: str
    before: Any
    after: Any
    crm_value: Any = None

    def as_dict(self, *, sent: bool) -> dict[str, Any]:
        document = {
            "from": _json(self.before),
            "to": _json(self.after),
            "crm_field": self.crm_field,
        }
        if sent:
            document["crm_value"] = _json(self.crm_value)
        return document


@dataclass(frozen=True, slots=True)
class PlannedRecord:
    """A record's writes to one side, and the conflicts whose winner is written there.

    ``found_by``: ``campaign`` when a pending Campaign edit brings the record to the merge, ``crm``
    when a CRM change does (as the conflict log says it)."""

    key: str
    found_by: str
    fields: tuple[PlannedField, ...]
    conflicts: tuple[Conflict, ...] = ()

    def as_dict(self, *, sent: bool) -> dict[str, Any]:
        return {
            "key": self.key,
            "found_by": self.found_by,
            "fields": {f.campaign_field: f.as_dict(sent=sent) for f in self.fields},
            "conflicts": [_conflict(c) for c in self.conflicts],
        }


@dataclass(frozen=True, slots=True)
class PlannedReject:
    """A record the merge would refuse: a CRM value that cannot be written to Campaign, or a
    Campaign value that cannot be converted back for the CRM (``campaign_to_crm``)."""

    key: str
    direction: str
    code: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "direction": self.direction,
            "code": self.code,
            "message": self.message,
        }


@dataclass(slots=True)
class DirectionPlan:
    """What the next merge writes to one side: the records (at most the plan's limit listed)
    and the counts of all of them."""

    records: list[PlannedRecord] = field(default_factory=list)
    #: Records written, fields written, conflicts won by this side's incoming value.
    record_count: int = 0
    field_count: int = 0
    conflict_count: int = 0

    def add(self, planned: PlannedRecord, limit: int) -> None:
        self.record_count += 1
        self.field_count += len(planned.fields)
        self.conflict_count += len(planned.conflicts)
        if len(self.records) < limit:
            self.records.append(planned)

    @property
    def truncated(self) -> bool:
        return self.record_count > len(self.records)

    def as_dict(self, *, sent: bool) -> dict[str, Any]:
        return {
            "counts": {
                "records": self.record_count,
                "fields": self.field_count,
                "conflicts": self.conflict_count,
            },
            "truncated": self.truncated,
            "records": [r.as_dict(sent=sent) for r in self.records],
        }


@dataclass(slots=True)
class MergePlan:
    """The plan of one two-way mapping's next merge (see the module)."""

    mapping: str
    resource: str
    crm_table: str
    #: ``changes``: the CRM's changes since the saved cursor; ``full``: the table read in full.
    crm_read: str
    #: Why the table is read in full (``None`` when it is not).
    note: str | None = None
    campaign_to_crm: DirectionPlan = field(default_factory=DirectionPlan)
    crm_to_campaign: DirectionPlan = field(default_factory=DirectionPlan)
    #: Records with pending Campaign edits, and records the CRM changed, that the merge weighs.
    pending_edits: int = 0
    crm_changes: int = 0
    #: Records merged with nothing to write on either side.
    unchanged: int = 0
    #: CRM records new to Campaign, inserted as they come (no merge).
    new_records: int = 0
    #: Campaign rows of records the CRM deleted (the mapping applies deletes).
    deleted: int = 0
    #: Pending edits nothing is sent for: the Campaign row is gone, or the CRM record is deleted
    #: or outside the mapping's filters; CRM changes not newer than their base, or outside the
    #: filters.
    skipped: int = 0
    rejects: list[PlannedReject] = field(default_factory=list)
    reject_count: int = 0
    limit: int = DEFAULT_LIMIT

    def reject(self, key: str, direction: str, code: str, message: str) -> None:
        self.reject_count += 1
        if len(self.rejects) < self.limit:
            self.rejects.append(PlannedReject(key, direction, code, message))

    def as_dict(self) -> dict[str, Any]:
        """The plan as JSON values."""
        return {
            "mapping": self.mapping,
            "resource": self.resource,
            "crm_table": self.crm_table,
            "crm_read": self.crm_read,
            "note": self.note,
            "counts": {
                "pending_edits": self.pending_edits,
                "crm_changes": self.crm_changes,
                "unchanged": self.unchanged,
                "new_records": self.new_records,
                "deleted": self.deleted,
                "skipped": self.skipped,
                "rejected": self.reject_count,
            },
            "campaign_to_crm": self.campaign_to_crm.as_dict(sent=True),
            "crm_to_campaign": self.crm_to_campaign.as_dict(sent=False),
            "rejects": [r.as_dict() for r in self.rejects],
        }


async def plan_mapping(
    config: Config,
    name: str,
    *,
    environ: Mapping[str, str] | None = None,
    limit: int = DEFAULT_LIMIT,
    opener: ConnectorOpener = open_connector,
) -> MergePlan:
    """The plan of two-way mapping ``name``'s next merge, listing at most ``limit`` records per
    direction; writes nothing (see the module).

    Raises :class:`~crmsync.errors.ConfigurationError`: code ``UNKNOWN_MAPPING`` for an unknown
    mapping, ``NOT_TWO_WAY`` for a one-way one, ``STORE_NOT_READY`` for a store that does not
    exist yet, needs an upgrade or lacks the resource's table; a ``ConfigError`` when the
    mapping does not compile against the CRM's table; :class:`~crmsync.errors.TransientError`
    when the CRM cannot be reached or refuses the credentials (the connector's error as its
    cause)."""
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    mapping = _two_way(config, name)
    missing = missing_sqlite_file(config.store.url)
    if missing is not None:
        raise ConfigurationError(
            f"there is no store yet at {missing}: start inbound once before planning",
            code="STORE_NOT_READY",
        )
    engine = create_engine_for(config.store.url, schema=config.store.pg_schema)
    connector = opener(mapping.connection, config.connections[mapping.connection], environ)
    try:
        await asyncio.to_thread(_check_store, engine)
        definitions = definitions_with_profile(config.resources)
        resource = definitions.get(mapping.resource)
        if resource is None:
            raise ConfigurationError(f"no resource '{mapping.resource}'", code="STORE_NOT_READY")
        table = build_metadata(definitions).tables[mapping.resource]
        await asyncio.to_thread(_check_table, engine, table.name)
        kind = config.connections[mapping.connection].kind
        with _reading(mapping):
            info = await connector.describe(mapping.crm_table)
        loc = ("inbound", "mappings", config.inbound.mappings.index(mapping))
        compiled = compile_mapping(mapping, info, resource, resources=definitions, loc=loc)
        two_way = two_way_mapping(mapping, compiled, info, resource, kind, loc=loc)
        planner = _Planner(two_way, engine, table, connector, mapping, limit)
        return await planner.plan()
    finally:
        await connector.aclose()
        engine.dispose()


def _two_way(config: Config, name: str) -> InboundMapping:
    mapping = next((m for m in config.inbound.mappings if m.name == name), None)
    if mapping is None:
        known = ", ".join(m.name for m in config.inbound.mappings) or "none"
        raise ConfigurationError(
            f"there is no inbound mapping '{name}' (mappings: {known})", code="UNKNOWN_MAPPING"
        )
    if not mapping.two_way:
        raise ConfigurationError(
            f"mapping '{name}' is not two-way: its next run only writes CRM changes to "
            "Campaign (set two_way: true to merge both ways)",
            code="NOT_TWO_WAY",
        )
    return mapping


def _check_store(engine: sa.Engine) -> None:
    """Refuse a store this crmsync would have to upgrade (or cannot use), changing nothing."""
    found = store_schema(engine)
    if found.too_new:
        raise found.refusal()
    if found.pending:
        raise ConfigurationError(
            f"the store's crmsync tables are at schema version {found.current or 'none'}, "
            f"this crmsync needs {found.head}: run `crmsync store upgrade` (or start inbound) "
            "before planning; nothing was changed",
            code="STORE_NOT_READY",
        )


def _check_table(engine: sa.Engine, name: str) -> None:
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table(name):
            raise ConfigurationError(
                f"the store has no table '{name}' yet: start inbound once before planning",
                code="STORE_NOT_READY",
            )


@contextmanager
def _reading(mapping: InboundMapping) -> Iterator[None]:
    """A CRM that cannot be reached or refuses the credentials, in the block, becomes a
    :class:`TransientError` saying nothing was planned."""
    try:
        yield
    except CrmsyncError as exc:
        if isinstance(exc, ConfigurationError) and not isinstance(exc, AuthenticationError):
            raise  # the mapping's own problem (e.g. a table the CRM does not have)
        raise TransientError(
            f"connection '{mapping.connection}' could not read '{mapping.crm_table}': "
            f"{exc.message}; nothing was planned",
            code=exc.code,
            status=exc.status,
            table=mapping.crm_table,
        ) from exc


class _Planner:
    """One plan's reads and decisions."""

    def __init__(
        self,
        two_way: TwoWayMapping,
        engine: sa.Engine,
        table: sa.Table,
        connector: Connector,
        mapping: InboundMapping,
        limit: int,
    ) -> None:
        self.two_way = two_way
        self.engine = engine
        self.table = table
        self.connector = connector
        self.mapping = mapping
        self.limit = limit

    async def plan(self) -> MergePlan:
        two_way = self.two_way
        saved = await asyncio.to_thread(Cursors(self.engine).load, two_way.name)
        signature = cursor_signature(two_way.compiled)
        cursor = None
        note = None
        if saved is None:
            note = "the mapping has no saved cursor: the next run reads the CRM table in full"
        elif not saved.startswith(signature):
            note = (
                "the mapping's CRM table or fields changed since the last read: the next run "
                "reads the CRM table in full"
            )
        else:
            cursor = saved[len(signature) :]
        plan = MergePlan(
            two_way.name,
            two_way.resource,
            two_way.table.name,
            crm_read="changes" if cursor is not None else "full",
            note=note,
            limit=self.limit,
        )
        edited = await asyncio.to_thread(self._pending_edits)
        plan.pending_edits = len(edited)
        for start in range(0, len(edited), _BATCH):
            await self._plan_edits(plan, dict(list(edited.items())[start : start + _BATCH]))
        await self._plan_crm_changes(plan, cursor, {self._crm_id(key) for key in edited})
        return plan

    def _crm_id(self, key: str) -> str:
        return key.lower() if self.two_way.kind == "dataverse" else key

    # -- reads ----------------------------------------------------------------------------------

    def _pending_edits(self) -> dict[str, datetime]:
        """Each record of the resource with pending log rows, and its latest edit's time."""
        query = (
            sa.select(CHANGES.c.record_key, sa.func.max(CHANGES.c.edited_at))
            .where(CHANGES.c.resource == self.two_way.resource)
            .group_by(CHANGES.c.record_key)
            .order_by(CHANGES.c.record_key)
        )
        with self.engine.connect() as conn:
            return {row[0]: row[1] for row in conn.execute(query)}

    def _snapshot(
        self, keys: Sequence[str]
    ) -> tuple[dict[str, dict[str, Any]], dict[str, Base], dict[str, tuple[Sent, ...]]]:
        """The Campaign rows and bases of these keys (a row without a base row has the base
        its row and the change log hold, :mod:`crmsync.twoway.implicit`), and the values a
        killed round was sending (:mod:`crmsync.twoway.sent`)."""
        with self.engine.connect() as conn:
            held = self.two_way.held(conn, self.table, keys)
            bases = load_bases(conn, self.two_way.name, held)
            missing = [key for key in held if key not in bases]
            bases |= implicit_bases(conn, self.two_way, self.table, held, missing)
            sent = load_sent(conn, self.two_way.name, held)
        return held, bases, sent

    def _present(self, keys: Sequence[str]) -> set[str]:
        key = self.table.c[self.two_way.key_field]
        with self.engine.connect() as conn:
            found = conn.execute(sa.select(key).where(one_of(key, list(keys), conn.dialect)))
            return {row[0] for row in found}

    # -- Campaign edits -------------------------------------------------------------------------

    async def _plan_edits(self, plan: MergePlan, edited: dict[str, datetime]) -> None:
        two_way = self.two_way
        held, bases, sent = await asyncio.to_thread(self._snapshot, list(edited))
        with _reading(self.mapping):
            found = await read_current(two_way, self.connector, list(held))
        for key, edited_at in edited.items():
            row = held.get(key)
            record = current_record(two_way, found, key)
            if row is None or record is None or not two_way.compiled.passes(record):
                plan.skipped += 1  # Campaign deletes are not sent; nor edits of gone records
                continue
            values = self._values(plan, record)
            if values is not None:
                self._merge(
                    plan, key, record, row, edited_at, bases.get(key), sent.get(key), values
                )

    # -- CRM changes ----------------------------------------------------------------------------

    async def _plan_crm_changes(
        self, plan: MergePlan, cursor: str | None, edited: set[str]
    ) -> None:
        two_way = self.two_way
        compiled = two_way.compiled
        pages = self.connector.track_changes(
            compiled.crm_table,
            compiled.crm_fields,
            cursor,
            formatted=self.mapping.picklist_values == "display",
        )
        latest: dict[str, Record] = {}
        deleted: set[str] = set()
        with _reading(self.mapping):
            async for page in pages:
                if page.snapshot and plan.crm_read != "full":
                    plan.crm_read = "full"
                    plan.note = (
                        "the CRM can no longer serve the saved cursor: the next run reads the "
                        "CRM table in full"
                    )
                for record in page.records:
                    held = latest.get(record.id)
                    if held is None or _newer(record, held):
                        latest[record.id] = record
                    deleted.discard(record.id)
                deleted.update(d.id for d in page.deletions if d.id not in latest)
        changed = [r for key, r in latest.items() if self._crm_id(key) not in edited]
        plan.crm_changes = len(changed)
        for start in range(0, len(changed), _BATCH):
            await self._plan_changes(plan, changed[start : start + _BATCH])
        if deleted and compiled.apply_deletes:
            # (A pending Campaign edit of such a record is skipped above: nothing is sent.)
            gone = list(deleted)
            for start in range(0, len(gone), _BATCH):
                chunk = gone[start : start + _BATCH]
                plan.deleted += len(await asyncio.to_thread(self._present, chunk))

    async def _plan_changes(self, plan: MergePlan, records: list[Record]) -> None:
        two_way = self.two_way
        held, bases, sent = await asyncio.to_thread(self._snapshot, [r.id for r in records])
        for record in records:
            key = record.id
            if not two_way.compiled.passes(record):
                plan.skipped += 1
                continue
            version = version_number(record.version)
            if version is None:
                plan.reject(
                    key, "crm_to_campaign", "MISSING_VERSION", "the record carries no version"
                )
                continue
            values = self._values(plan, record)
            if values is None:
                continue
            row = held.get(key)
            if row is None:
                plan.new_records += 1
                continue
            base = bases.get(key)
            synced = base_version(base, version_number)
            as_merged = crm_to_merge(base, synced, version, values, two_way.fields, two_way.kind)
            if as_merged is None:
                plan.skipped += 1  # the base holds it already (or a later merge does)
                continue
            self._merge(plan, key, record, row, None, base, sent.get(key), as_merged)

    def _values(self, plan: MergePlan, record: Record) -> dict[str, Any] | None:
        """The CRM record's values in Campaign terms (``None``: refused, listed as a reject)."""
        try:
            return self.two_way.campaign_values(record)
        except RejectError as exc:
            plan.reject(record.id, "crm_to_campaign", exc.code or "REJECTED", exc.message)
            return None

    def _merge(
        self,
        plan: MergePlan,
        key: str,
        record: Record,
        row: Mapping[str, Any],
        edited_at: datetime | None,
        base: Base | None,
        sent: Sequence[Sent] | None,
        values: Mapping[str, Any],
    ) -> None:
        """Plan the merge of one record: found by its Campaign edit (made at ``edited_at``) or
        by its CRM change (``None``)."""
        two_way = self.two_way
        decided = merge(
            two_way.fields,
            with_sent(base, sent, values, two_way.fields),
            Side(row, edited_at),
            Side(values, two_way.modified_at(record.values)),
        )
        found_by, whole = ("campaign", True) if edited_at is not None else ("crm", False)
        self._add(plan, key, found_by, decided, row, values, whole=whole)

    # -- decisions ------------------------------------------------------------------------------

    def _add(
        self,
        plan: MergePlan,
        key: str,
        found_by: str,
        decided: Merge,
        campaign: Mapping[str, Any],
        crm: Mapping[str, Any],
        *,
        whole: bool,
    ) -> None:
        """List ``decided`` on the side each write goes to. ``whole``: a Campaign value the CRM
        refuses to take refuses the record's whole merge (the Campaign → CRM side does so)."""
        sent = self.two_way.sent
        to_crm: list[PlannedField] = []
        for name, value in decided.to_crm.items():
            try:
                converted = sent[name].convert(value)
            except ConversionError as exc:
                plan.reject(key, "campaign_to_crm", exc.code.value, f"{name}: {exc.message}")
                if whole:
                    return
                to_crm = []
                break
            to_crm.append(PlannedField(name, sent[name].crm, crm[name], value, converted))
        to_campaign = [
            PlannedField(name, sent[name].crm, campaign[name], value)
            for name, value in decided.to_campaign.items()
        ]
        if not to_crm and not to_campaign and not decided.conflicts:
            plan.unchanged += 1
            return
        won: dict[Winner, list[Conflict]] = {Winner.CAMPAIGN: [], Winner.CRM: []}
        for conflict in decided.conflicts:
            won[conflict.winner].append(conflict)
        if to_crm or won[Winner.CAMPAIGN]:
            planned = PlannedRecord(key, found_by, tuple(to_crm), tuple(won[Winner.CAMPAIGN]))
            plan.campaign_to_crm.add(planned, self.limit)
        if to_campaign or won[Winner.CRM]:
            planned = PlannedRecord(key, found_by, tuple(to_campaign), tuple(won[Winner.CRM]))
            plan.crm_to_campaign.add(planned, self.limit)


def _newer(record: Record, than: Record) -> bool:
    mine, theirs = version_number(record.version), version_number(than.version)
    return theirs is None or (mine is not None and mine >= theirs)


def _json(value: Any) -> Any:
    """A value as JSON: a Campaign value as the conflict log keeps it, anything else as text."""
    try:
        return json_value(value)
    except (TypeError, ValueError):
        return str(value)


def _conflict(conflict: Conflict) -> dict[str, Any]:
    return {
        "field": conflict.field,
        "campaign_value": _json(conflict.campaign_value),
        "crm_value": _json(conflict.crm_value),
        "campaign_changed_at": _time(conflict.campaign_changed_at),
        "crm_changed_at": _time(conflict.crm_changed_at),
        "winner": conflict.winner.value,
        "reason": conflict.reason.value,
    }


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()
