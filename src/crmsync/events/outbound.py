"""The ``outbound`` workflow: new marketing events written to the CRM, each exactly once.

Every round takes, per switched-on event type, the oldest pending events (``sent_at`` empty) with
their profile's CRM id, and writes them in one ``connector.write`` call as upserts keyed by the
event id (the table's alternate key in Dataverse, an external id in Salesforce). Only after the CRM
answered are the events settled, in one transaction with their counters and rejects:

- ``written``: the CRM holds the event (its record id is kept in ``crm_id``);
- ``skipped_no_crm_id``: the profile has no CRM record (or no longer exists): nothing to link to;
- ``rejected``: the CRM refused the record; the reject is stored with the CRM's code and message.

Exactly once: a crash after the CRM write and before the settle sends the same events again at the
next start, and an upsert by event id finds the record written the first time instead of creating
a second one. A record the CRM failed with a transient status (throttled, unavailable) stays
pending and is sent again in a later round.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from crmsync.config.models import Config, EventAttribute, EventType
from crmsync.connectors.base import Connector, FieldInfo, TableInfo, WriteOp, WriteResult
from crmsync.errors import ConfigurationError, TransientError
from crmsync.events.defaults import KEY_ATTRIBUTE, field_map, table_for
from crmsync.events.tables import (
    COUNTER_NAMES,
    COUNTERS,
    EVENT_TABLES,
    REJECTED,
    SKIPPED_NO_CRM_ID,
    WRITTEN,
)
from crmsync.runtime.connectors import calls_made
from crmsync.state.rejects import Rejects
from crmsync.state.upgrade import ensure_store_schema
from crmsync.store import build_metadata, definitions_with_profile

__all__ = ["WORKFLOW", "OutboundCounts", "OutboundWorkflow", "backlog", "lifetime_counts"]

logger = logging.getLogger(__name__)

WORKFLOW = "outbound"
_TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})
_NAME_LENGTH = 80


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class OutboundCounts:
    """What the workflow did in this process (the store keeps the lifetime totals per type)."""

    read: int = 0
    written: int = 0
    skipped_no_crm_id: int = 0
    rejected: int = 0
    crm_calls: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)

    def add(self, other: OutboundCounts) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


@dataclass(frozen=True, slots=True)
class _Route:
    """Where one event type goes: the CRM table, its metadata and the field of each attribute."""

    event_type: EventType
    table: str
    fields: Mapping[EventAttribute, str]
    info: TableInfo
    #: CRM option value of each bounce type, when the bounce type field is a picklist.
    bounce_options: Mapping[str, int | str]


class OutboundWorkflow:
    """Marketing events from the Campaign store to one CRM connection."""

    def __init__(
        self,
        config: Config,
        connector: Connector,
        engine: sa.Engine,
        *,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        section = config.outbound
        if section.connection is None or section.connection not in config.connections:
            raise ConfigurationError("outbound.connection: no such connection")
        self.section = section
        self.kind = config.connections[section.connection].kind
        self.types = section.enabled()
        self.batch_size = section.batch_size
        self.poll_interval = section.poll_interval_seconds
        self.connector = connector
        self.engine = engine
        self.clock = clock
        self.profile = build_metadata(definitions_with_profile(config.resources)).tables["profile"]
        self.counts = OutboundCounts()
        self._routes: dict[EventType, _Route] = {}
        self._rejects: Rejects | None = None

    async def open(self) -> None:
        """Read the metadata of each switched-on type's CRM table and check the field mapping."""
        for event_type in self.types:
            table = table_for(self.section, self.kind, event_type)
            info = await self.connector.describe(table)
            mapping = field_map(self.section, self.kind, event_type)
            self._routes[event_type] = _route(event_type, table, mapping, info)
        self._rejects = await asyncio.to_thread(Rejects, self.engine)

    # -- the loop -------------------------------------------------------------------------------

    async def run(self, *, once: bool = False, stop: asyncio.Event | None = None) -> OutboundCounts:
        """Send rounds until ``stop`` is set (``once``: until nothing is pending)."""
        stop = stop or asyncio.Event()
        if self._rejects is None:
            await self.open()
        while not stop.is_set():
            try:
                busy = await self.send_round()
            except TransientError as exc:
                logger.warning("outbound: the CRM is unavailable, retrying: %s", exc)
                busy = 0
            if once and not busy:
                break
            if not busy:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.poll_interval)
        return self.counts

    async def send_round(self) -> int:
        """One batch per switched-on type; returns the events settled."""
        settled = 0
        for event_type in self.types:
            settled += await self.send_batch(event_type)
        return settled

    async def send_batch(self, event_type: EventType) -> int:
        """Write the oldest pending events of one type; returns the events settled."""
        route = self._routes[event_type]
        pending = await asyncio.to_thread(self._pending, event_type)
        if not pending:
            return 0
        linked = [row for row in pending if row["crm_contact"]]
        ops = [self._op(route, row) for row in linked]
        results: list[WriteResult] = []
        before = calls_made(self.connector)
        if ops:
            results = await self.connector.write(ops)
        calls = max(calls_made(self.connector) - before, 1 if ops else 0)
        counts = await asyncio.to_thread(
            self._settle, route, pending, list(zip(ops, results, strict=True)), calls
        )
        self.counts.add(counts)
        return counts.read

    async def backlog(self) -> int:
        """Events of the switched-on types waiting to be sent."""
        return await asyncio.to_thread(backlog, self.engine, self.types)

    # -- building the CRM records ---------------------------------------------------------------

    def _op(self, route: _Route, row: Mapping[str, Any]) -> WriteOp:
        values: dict[str, Any] = {}
        for attribute, crm_field in route.fields.items():
            value = _value(route, attribute, row)
            if value is not None and attribute != KEY_ATTRIBUTE:
                values[crm_field] = value
        key_field = route.fields[KEY_ATTRIBUTE]
        return WriteOp(
            "upsert", route.table, values, key={key_field: row["event_id"]}, ref=row["event_id"]
        )

    # -- the store ------------------------------------------------------------------------------

    def _pending(self, event_type: EventType) -> list[dict[str, Any]]:
        events = EVENT_TABLES[event_type]
        p = self.profile
        query = (
            sa.select(events, p.c.external_id.label("crm_contact"))
            .select_from(events.outerjoin(p, p.c.id == events.c.profile_id))
            .where(events.c.sent_at.is_(None))
            .order_by(events.c.seq)
            .limit(self.batch_size)
        )
        with self.engine.connect() as conn:
            return [dict(row) for row in conn.execute(query).mappings()]

    def _settle(
        self,
        route: _Route,
        pending: Sequence[Mapping[str, Any]],
        results: Sequence[tuple[WriteOp, WriteResult]],
        calls: int,
    ) -> OutboundCounts:
        now = self.clock()
        counts = OutboundCounts(crm_calls=calls)
        by_ref = {op.ref: (op, result) for op, result in results}
        settled: list[dict[str, Any]] = []
        rejects: list[tuple[WriteOp, WriteResult]] = []
        for row in pending:
            found = by_ref.get(row["event_id"])
            update = {"b_seq": row["seq"], "b_sent_at": now, "b_crm_id": None, "b_error_code": None}
            if found is None:
                counts.skipped_no_crm_id += 1
                update["b_outcome"] = SKIPPED_NO_CRM_ID
            elif found[1].ok:
                counts.written += 1
                update |= {"b_outcome": WRITTEN, "b_crm_id": found[1].id}
            elif found[1].status in _TRANSIENT_STATUS:
                continue  # stays pending: sent again in a later round
            else:
                counts.rejected += 1
                update |= {"b_outcome": REJECTED, "b_error_code": (found[1].code or "")[:255]}
                rejects.append(found)
            counts.read += 1
            settled.append(update)
        table = EVENT_TABLES[route.event_type]
        with self.engine.begin() as conn:
            if settled:
                conn.execute(
                    sa.update(table)
                    .where(table.c.seq == sa.bindparam("b_seq"))
                    .values(
                        sent_at=sa.bindparam("b_sent_at"),
                        outcome=sa.bindparam("b_outcome"),
                        crm_id=sa.bindparam("b_crm_id"),
                        error_code=sa.bindparam("b_error_code"),
                    ),
                    settled,
                )
            for op, result in rejects:
                self._reject(conn, route, op, result)
            _add_counts(conn, route.event_type, counts, now)
        return counts

    def _reject(self, conn: sa.Connection, route: _Route, op: WriteOp, result: WriteResult) -> None:
        if self._rejects is None:
            raise RuntimeError("call open() first")
        logger.warning(
            "outbound: the CRM refused %s event %s: %s %s",
            route.event_type,
            op.ref,
            result.code,
            result.message,
        )
        record = {**op.values, **(op.key or {})}
        self._rejects.add(
            conn,
            WORKFLOW,
            route.event_type,
            op.ref,
            result.code or "REJECTED",
            result.message or "",
            record,
        )


def backlog(engine: sa.Engine, types: Sequence[EventType]) -> int:
    """Pending events of ``types``."""
    ensure_store_schema(engine)
    total = 0
    with engine.connect() as conn:
        for event_type in types:
            table = EVENT_TABLES[event_type]
            query = sa.select(sa.func.count()).select_from(table).where(table.c.sent_at.is_(None))
            total += int(conn.execute(query).scalar_one())
    return total


def lifetime_counts(engine: sa.Engine) -> dict[str, dict[str, int]]:
    """The stored counters, by event type (empty when the workflow has never run)."""
    ensure_store_schema(engine)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(COUNTERS)).mappings()
        return {row["event_type"]: {name: int(row[name]) for name in COUNTER_NAMES} for row in rows}


def _add_counts(
    conn: sa.Connection, event_type: str, counts: OutboundCounts, now: datetime
) -> None:
    deltas = counts.as_dict()
    updated = conn.execute(
        sa.update(COUNTERS)
        .where(COUNTERS.c.event_type == event_type)
        .values(
            updated_at=now, **{name: COUNTERS.c[name] + delta for name, delta in deltas.items()}
        )
    )
    if updated.rowcount == 0:
        conn.execute(sa.insert(COUNTERS).values(event_type=event_type, updated_at=now, **deltas))


# -- mapping events to CRM values -----------------------------------------------------------------


def _route(
    event_type: EventType, table: str, mapping: Mapping[EventAttribute, str], info: TableInfo
) -> _Route:
    by_name = {name.lower(): field for name, field in info.fields.items()}
    resolved: dict[EventAttribute, str] = {}
    for attribute, crm_field in mapping.items():
        field = info.fields.get(crm_field) or by_name.get(crm_field.lower())
        if field is None:
            raise ConfigurationError(
                f"outbound.fields.{event_type}.{attribute}: table {table!r} has no field "
                f"{crm_field!r}",
                code="invalid_config",
            )
        resolved[attribute] = field.name
    options: dict[str, int | str] = {}
    if "bounce_type" in resolved:
        options = _bounce_options(event_type, table, info.fields[resolved["bounce_type"]])
    return _Route(event_type, table, resolved, info, options)


def _bounce_options(event_type: str, table: str, field: FieldInfo) -> dict[str, int | str]:
    if not field.options:
        return {}
    found: dict[str, int | str] = {}
    for option in field.options:
        for text in (str(option.value), option.label):
            if text.lower() in ("hard", "soft"):
                found.setdefault(text.lower(), option.value)
    missing = {"hard", "soft"} - set(found)
    if missing:
        raise ConfigurationError(
            f"outbound.fields.{event_type}.bounce_type: {table}.{field.name} has no option "
            f"for {', '.join(sorted(missing))}",
            code="invalid_config",
        )
    return found


def _value(route: _Route, attribute: EventAttribute, row: Mapping[str, Any]) -> Any:
    if attribute == "name":
        label = row["delivery_name"] or row["delivery_id"]
        return f"{route.event_type.capitalize()}: {label}"[:_NAME_LENGTH]
    if attribute == "contact":
        return row["crm_contact"]
    if attribute == "occurred_at":
        stamp: datetime = row["occurred_at"]
        return stamp.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    if attribute == "bounce_type":
        kind = row.get("bounce_type")
        if kind is None:
            return None
        return route.bounce_options.get(kind, kind.capitalize())
    return row.get(attribute)
