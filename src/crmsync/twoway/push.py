"""The Campaign → CRM side of the merge: Campaign edits of two-way mappings written to the CRM.

:class:`CampaignPush` reads the change log (:mod:`crmsync.twoway.capture`) in rounds. For the
records of one mapping it holds the row's values (the Campaign side, as old as its latest pending
edit) and the base, and finds the CRM side:

- **Dataverse**, record with a complete base: the base itself, as the CRM held it at the base's
  row version; the update is conditional on that version (``If-Match``). A CRM change since makes
  Dataverse refuse it (412): the record is then read, merged again and written conditionally on
  the version read, up to :data:`RACE_RETRIES` times; then it waits for the next round.
- **Salesforce**, or a record without a complete base: the record is read by id (a SOQL ``IN``
  or an OData filter of many ids at once). Salesforce's sObject Collections take no
  precondition: a round of many records is written in collections of 200, and a change made in
  the CRM between the read and the write, to a field crmsync writes, is overwritten (the window
  is the time between the two requests). A round of a few records sends each update alone,
  conditional on the last-modified time read (``If-Unmodified-Since``, whole seconds).

Each record is merged by :func:`~crmsync.twoway.rule.merge`; only the fields to change are sent.
Then, in one store transaction per round: the values the CRM won are written to Campaign (a field
edited again meanwhile is left for the next round), the bases saved, the conflicts logged, the
refusals kept as rejects (the Campaign value stays, sent again on the record's next change or on
``crmsync rejects retry``), and the log rows applied deleted.

Crash-safe: before its CRM write, a round commits the values it sends (:mod:`crmsync.twoway.sent`).
A process killed after the write and before the round's transaction leaves the log rows and those
values; the next round reads the record (Dataverse refuses the stale version anyway), counts the
sent values the CRM holds as synced, and finds both sides equal: no record is written twice, and a
Campaign edit made while the killed round was writing is still a Campaign change, sent.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from crmsync.connectors.base import PRECONDITION_FAILED, Connector, Record, WriteOp
from crmsync.errors import RejectError
from crmsync.optout.lookup import read_by_ids
from crmsync.state.store import StateStore
from crmsync.store.key_lists import one_of
from crmsync.sync.parse import ConversionError
from crmsync.twoway.base import Base, load_bases, save_bases
from crmsync.twoway.capture import CampaignChange, crmsync_writes, read_changes
from crmsync.twoway.conflicts import record_conflicts
from crmsync.twoway.implicit import implicit_bases
from crmsync.twoway.inbound import base_version
from crmsync.twoway.mapping import TwoWayMapping
from crmsync.twoway.rule import Merge, Side, merge
from crmsync.twoway.sent import Sent, forget_rounds, load_sent, save_sent, with_sent
from crmsync.twoway.tables import CHANGES
from crmsync.twoway.values import same_value

__all__ = [
    "RACE_RETRIES",
    "WORKFLOW",
    "CampaignPush",
    "current_record",
    "read_current",
]

logger = logging.getLogger(__name__)

#: The workflow name of two-way rejects.
WORKFLOW = "twoway"
#: Conditional writes refused as stale, read and merged again, before a record waits a round.
RACE_RETRIES = 3
#: Log rows read a round.
ROUND_SIZE = 1000
#: Records of a Salesforce round up to which each update is sent alone, conditionally.
SALESFORCE_ALONE = 5
#: Ids a read by id asks for (Salesforce: a SOQL ``IN`` list; Dataverse: an OData filter).
PER_READ = {"salesforce": 200, "dataverse": 40}


@dataclass(slots=True)
class _Pending:
    """One record's pending log rows: their ids and the latest edit's time."""

    ids: list[int] = field(default_factory=list)
    edited_at: datetime | None = None


@dataclass(slots=True)
class _Decision:
    key: str
    merged: Merge
    base: Base
    op: WriteOp | None
    #: The base version the decision was made against (``None``: none).
    against: int | None
    #: The Campaign values the merge saw.
    campaign: Mapping[str, Any]


@dataclass(slots=True)
class _Outcome:
    """What the round's store transaction commits."""

    done: list[int] = field(default_factory=list)
    applied: list[tuple[_Decision, dict[str, Any]]] = field(default_factory=list)
    rejects: list[tuple[str, str, str, dict[str, Any]]] = field(default_factory=list)
    crm_calls: int = 0
    #: Record key → the rounds whose sent values the round merged with (killed rounds'), and
    #: those it made itself: settled with it (crmsync.twoway.sent).
    merged_rounds: dict[str, list[str]] = field(default_factory=dict)
    own_rounds: dict[str, list[str]] = field(default_factory=dict)
    #: The bases of the round's records that have no base row (crmsync.twoway.implicit).
    implicit: dict[str, Base] = field(default_factory=dict)
    #: Records left for the next round (their log rows stay).
    pending: set[str] = field(default_factory=set)


class CampaignPush:
    """Sends the Campaign edits of the two-way mappings to their CRMs."""

    def __init__(
        self,
        mappings: Mapping[str, TwoWayMapping],
        connectors: Mapping[str, Connector],
        state: StateStore,
        tables: Mapping[str, sa.Table],
        as_number: Callable[[Any], int | None],
        *,
        lock: threading.Lock | None = None,
    ) -> None:
        """``mappings`` and ``connectors`` by mapping name; ``tables``: the store's tables by
        resource name."""
        self.by_resource = {m.resource: m for m in mappings.values()}
        self.connectors = connectors
        self.state = state
        self.tables = tables
        self._as_number = as_number
        self._lock = lock or threading.Lock()

    @property
    def engine(self) -> sa.Engine:
        return self.state.engine

    async def round(self) -> int:
        """One round over the pending log rows; returns the records merged."""
        changes = await asyncio.to_thread(self._read)
        if not changes:
            return 0
        pending: dict[str, dict[str, _Pending]] = {}
        stray: list[int] = []
        for change in changes:
            if change.resource not in self.by_resource:
                stray.append(change.id)  # no two-way mapping any more: nothing to send
                continue
            record = pending.setdefault(change.resource, {}).setdefault(
                change.record_key, _Pending()
            )
            record.ids.append(change.id)
            if record.edited_at is None or change.edited_at > record.edited_at:
                record.edited_at = change.edited_at
        if stray:
            await asyncio.to_thread(self._forget, stray)
        handled = 0
        for resource, records in pending.items():
            handled += await self._push(self.by_resource[resource], records)
        return handled

    def _read(self) -> list[CampaignChange]:
        with self.engine.connect() as conn:
            if conn.execute(sa.select(CHANGES.c.entry).limit(1)).first() is None:
                return []  # (an idle round takes no write lock)
        with self._lock:
            return read_changes(self.engine, 0, ROUND_SIZE)

    def _forget(self, ids: Sequence[int]) -> None:
        with self._lock, self.engine.begin() as conn:
            conn.execute(CHANGES.delete().where(one_of(CHANGES.c.id, list(ids), conn.dialect)))

    # -- one mapping ----------------------------------------------------------------------------

    async def _push(self, two_way: TwoWayMapping, records: dict[str, _Pending]) -> int:
        held, bases, implicit, sent = await asyncio.to_thread(
            self._snapshot, two_way, list(records)
        )
        bases |= implicit
        merged_rounds = {key: [each.round for each in rounds] for key, rounds in sent.items()}
        outcome = _Outcome(implicit=implicit, merged_rounds=merged_rounds)
        todo: dict[str, _Pending] = {}
        for key, pending in records.items():
            if key in held:
                todo[key] = pending
            else:
                outcome.done += pending.ids  # the row is gone: Campaign deletes are not sent
        # A record a killed round was writing is read: the CRM may hold that round's values.
        reads = {
            key
            for key in todo
            if two_way.kind != "dataverse" or not _complete(bases.get(key), two_way) or key in sent
        }
        connector = self.connectors[two_way.name]
        for attempt in range(RACE_RETRIES + 1):
            if not todo:
                break
            wanted = [key for key in todo if key in reads]
            found = await self._read_crm(two_way, connector, wanted)
            outcome.crm_calls += -(-len(wanted) // PER_READ.get(two_way.kind, 40))
            decisions: list[_Decision] = []
            for key, pending in list(todo.items()):
                base = bases.get(key)
                if key in reads:
                    record = current_record(two_way, found, key)
                    decision = self._decide_read(
                        two_way, key, held[key], pending, base, sent.get(key), record, outcome
                    )
                else:
                    assert base is not None
                    decision = self._decide_unread(two_way, key, held[key], pending, base, outcome)
                if decision is None:
                    del todo[key]
                else:
                    decisions.append(decision)
            raced = await self._write(two_way, connector, decisions, todo, outcome)
            todo = {key: todo[key] for key in raced}
            reads = set(raced)
            if todo and attempt < RACE_RETRIES:
                logger.info(
                    "%s: %d records changed in the CRM since they were read; merging again",
                    two_way.name,
                    len(todo),
                )
        outcome.pending = set(todo)
        await asyncio.to_thread(self._commit, two_way, outcome)
        return len(records) - len(todo)

    def _snapshot(
        self, two_way: TwoWayMapping, keys: list[str]
    ) -> tuple[
        dict[str, dict[str, Any]], dict[str, Base], dict[str, Base], dict[str, tuple[Sent, ...]]
    ]:
        """The records' Campaign values, base rows, bases of those without a row
        (:mod:`crmsync.twoway.implicit`), and the values a killed round was sending."""
        table = self.tables[two_way.resource]
        with self.engine.connect() as conn:
            held = two_way.held(conn, table, keys)
            bases = load_bases(conn, two_way.name, held)
            missing = [key for key in held if key not in bases]
            implicit = implicit_bases(conn, two_way, table, held, missing)
            return held, bases, implicit, load_sent(conn, two_way.name, held)

    async def _read_crm(
        self, two_way: TwoWayMapping, connector: Connector, keys: list[str]
    ) -> dict[str, Record]:
        return await read_current(two_way, connector, keys)

    def _decide_read(
        self,
        two_way: TwoWayMapping,
        key: str,
        held: dict[str, Any],
        pending: _Pending,
        base: Base | None,
        sent: tuple[Sent, ...] | None,
        record: Record | None,
        outcome: _Outcome,
    ) -> _Decision | None:
        """The merge of one record with the CRM's values as read (``None``: settled)."""
        if record is None or not two_way.compiled.passes(record):
            # Deleted in the CRM (the deletion comes in with change tracking) or outside the
            # mapping's filters: nothing is sent.
            outcome.done += pending.ids
            return None
        try:
            values = two_way.campaign_values(record)
        except RejectError as exc:
            outcome.rejects.append((key, exc.code or "REJECTED", exc.message, dict(held)))
            outcome.done += pending.ids
            return None
        crm = Side(values, two_way.modified_at(record.values))
        synced = with_sent(base, sent, values, two_way.fields)
        return self._decide(
            two_way, key, held, pending, synced, crm, two_way.version(record), record.version,
            outcome,
        )  # fmt: skip

    def _decide_unread(
        self,
        two_way: TwoWayMapping,
        key: str,
        held: dict[str, Any],
        pending: _Pending,
        base: Base,
        outcome: _Outcome,
    ) -> _Decision | None:
        """The merge of one record whose CRM side is its base, as of the base's version (the
        update is conditional on it)."""
        synced = base.values_for(two_way.fields)
        crm = Side(synced, base.crm_modified_at)
        return self._decide(
            two_way, key, held, pending, synced, crm, base.crm_version, base.crm_version, outcome
        )

    def _decide(
        self,
        two_way: TwoWayMapping,
        key: str,
        held: dict[str, Any],
        pending: _Pending,
        synced: Mapping[str, Any] | None,
        crm: Side,
        version: str | None,
        record_version: int | str | None,
        outcome: _Outcome,
    ) -> _Decision | None:
        """The merge of one record against ``synced`` (its base) and its CRM update (``None``:
        settled, nothing to write); ``version``: what the update is conditional on."""
        fields = two_way.fields
        merged = merge(fields, synced, Side(held, pending.edited_at), crm)
        new_base = Base(
            merged.base,
            fields,
            crm_version=None if record_version is None else str(record_version),
            crm_modified_at=crm.changed_at,
            written_over={name: crm.values[name] for name in merged.to_crm},
        )
        against = base_version(new_base, self._as_number)
        if not merged.to_crm:
            outcome.applied.append((_Decision(key, merged, new_base, None, against, held), {}))
            outcome.done += pending.ids
            return None
        sent = two_way.sent
        update: dict[str, Any] = {}
        try:
            for name, value in merged.to_crm.items():
                update[sent[name].crm] = sent[name].convert(value)
        except ConversionError as exc:
            outcome.rejects.append((key, exc.code.value, f"{name}: {exc.message}", dict(held)))
            outcome.done += pending.ids
            return None
        op = WriteOp("update", two_way.table.name, update, id=key, ref=key, if_version=version)
        return _Decision(key, merged, new_base, op, against, held)

    async def _write(
        self,
        two_way: TwoWayMapping,
        connector: Connector,
        decisions: list[_Decision],
        todo: Mapping[str, _Pending],
        outcome: _Outcome,
    ) -> list[str]:
        """Write the decisions' updates; returns the keys the CRM found changed since read."""
        writes = [d for d in decisions if d.op is not None]
        if not writes:
            return []
        ops = [d.op for d in writes if d.op is not None]
        # Kept before the write: killed before its outcome is saved, the next merge knows the
        # CRM's holding these values is this write (crmsync.twoway.sent).
        round_id = await asyncio.to_thread(self._save_sent, two_way, writes)
        for decision in writes:
            outcome.own_rounds.setdefault(decision.key, []).append(round_id)
        if two_way.kind == "salesforce" and len(ops) > SALESFORCE_ALONE:
            # Collections take no precondition (see the module): many records go unconditional.
            ops = [WriteOp(op.kind, op.table, op.values, id=op.id, ref=op.ref) for op in ops]
        results = await connector.write(ops)
        outcome.crm_calls += _calls(two_way.kind, ops)
        raced: list[str] = []
        for decision, op, result in zip(writes, ops, results, strict=True):
            ids = todo[decision.key].ids
            if result.ok:
                outcome.applied.append((decision, dict(op.values)))
                outcome.done += ids
            elif result.code == PRECONDITION_FAILED:
                raced.append(decision.key)
            else:
                record = {name: decision.merged.to_crm[name] for name in decision.merged.to_crm}
                message = result.message or f"the CRM answered {result.status}"
                outcome.rejects.append((decision.key, result.code or "REJECTED", message, record))
                outcome.done += ids
        return raced

    def _save_sent(self, two_way: TwoWayMapping, writes: Sequence[_Decision]) -> str:
        sent = {decision.key: dict(decision.merged.to_crm) for decision in writes}
        with self._lock, self.engine.begin() as conn:
            return save_sent(conn, two_way.name, sent, two_way.fields)

    def _commit(self, two_way: TwoWayMapping, outcome: _Outcome) -> None:
        """The round's store transaction (see the module)."""
        table = self.tables[two_way.resource]
        with self._lock, self.engine.begin() as conn:
            self.state.counters.hold_mapping(conn, two_way.name)
            with crmsync_writes(conn):
                keys = [decision.key for decision, _ in outcome.applied]
                stored = load_bases(conn, two_way.name, [*keys, *outcome.implicit])
                current = two_way.held(conn, table, keys, lock=True)
                bases: dict[str, Base] = {}
                unsettled: set[str] = set()
                written = 0
                for decision, _sent in outcome.applied:
                    newer = base_version(stored.get(decision.key), self._as_number)
                    if newer is not None and (decision.against is None or newer > decision.against):
                        # A later CRM change was merged meanwhile: the base is its. What this
                        # round sent is kept until the CRM change holding it is merged.
                        unsettled.add(decision.key)
                        continue
                    row = current.get(decision.key)
                    if row is None:
                        continue
                    written += self._to_campaign(conn, table, two_way, decision, row)
                    bases[decision.key] = decision.base
                    if decision.merged.conflicts:
                        record_conflicts(
                            conn,
                            two_way.name,
                            decision.key,
                            decision.merged.conflicts,
                            found_by="campaign",
                        )
                rounds = _settled_rounds(outcome, set(bases), unsettled)
                for key, base in outcome.implicit.items():
                    # The log rows this round consumes hold this base (crmsync.twoway.implicit):
                    # kept as a base row, unless the round decided one or a merge wrote one.
                    if key not in bases and key not in stored and key not in outcome.pending:
                        bases[key] = base
                save_bases(conn, two_way.name, bases)
                forget_rounds(conn, two_way.name, rounds)
                for key, code, message, record in outcome.rejects:
                    self.state.rejects.add(
                        conn, WORKFLOW, two_way.name, key, code, message, {"id": key, **record}
                    )
                if outcome.done:
                    conn.execute(
                        CHANGES.delete().where(one_of(CHANGES.c.id, outcome.done, conn.dialect))
                    )
                self.state.counters.add(
                    conn,
                    two_way.name,
                    campaign_writes=written,
                    rejected=len(outcome.rejects),
                    crm_calls=outcome.crm_calls,
                )

    @staticmethod
    def _to_campaign(
        conn: sa.Connection,
        table: sa.Table,
        two_way: TwoWayMapping,
        decision: _Decision,
        row: Mapping[str, Any],
    ) -> int:
        """Write the values the CRM won, but not over a field edited again since the merge."""
        values = {
            name: value
            for name, value in decision.merged.to_campaign.items()
            if same_value(two_way.fields[name], row[name], decision.campaign[name])
        }
        if not values:
            return 0
        key = table.c[two_way.key_field]
        conn.execute(sa.update(table).where(key == decision.key).values(values))
        return 1


async def read_current(
    two_way: TwoWayMapping, connector: Connector, keys: Sequence[str]
) -> dict[str, Record]:
    """The CRM records of these keys as they are now (Dataverse ids lower-case: see
    :func:`current_record`), with the fields the merge needs."""
    if not keys:
        return {}
    table = two_way.table
    fields = list(dict.fromkeys([*two_way.compiled.crm_fields, *_modified(two_way)]))
    return await read_by_ids(
        connector,
        two_way.kind,
        table.name,
        table.primary_key,
        fields,
        keys,
        per_read=PER_READ.get(two_way.kind, 40),
    )


def current_record(two_way: TwoWayMapping, found: Mapping[str, Record], key: str) -> Record | None:
    """The record of ``key`` among those :func:`read_current` found."""
    return found.get(key.lower() if two_way.kind == "dataverse" else key)


def _complete(base: Base | None, two_way: TwoWayMapping) -> bool:
    """Whether ``base`` holds every merged field with its version: the CRM side of a record
    Dataverse has not changed since."""
    if base is None or base.crm_version is None:
        return False
    return len(base.values_for(two_way.fields)) == len(two_way.fields)


def _modified(two_way: TwoWayMapping) -> list[str]:
    name = two_way.table.modified_field
    return [name] if name else []


def _settled_rounds(
    outcome: _Outcome, decided: set[str], unsettled: set[str]
) -> list[tuple[str, str]]:
    """The sent values (record key, round id) the round's outcome settles: those of the records
    whose merge it saves as their base, killed rounds' included (the merge counted them), and
    its own of the records it did not write (refused). A record a later CRM change was merged
    for keeps them all, until the change holding them is merged."""
    settled = [
        (key, round_id)
        for key, rounds in outcome.own_rounds.items()
        if key not in unsettled
        for round_id in rounds
    ]
    settled += [
        (key, round_id)
        for key, rounds in outcome.merged_rounds.items()
        if key in decided and key not in unsettled
        for round_id in rounds
    ]
    return settled


def _calls(kind: str, ops: Sequence[WriteOp]) -> int:
    """Requests a write of ``ops`` takes (updates sent alone are one each)."""
    if any(op.if_version is not None for op in ops) and kind == "salesforce":
        return len(ops)
    size = 200 if kind == "salesforce" else 1000
    return -(-len(ops) // size)
