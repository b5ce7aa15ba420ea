"""The ``optinout`` workflow: opt-out attributes kept equal in the CRM and the Campaign store.

Two rounds run in a loop, every ``poll_interval_seconds``:

- **CRM → Campaign** (directions ``crm_to_campaign`` and ``bidirectional``): a change-tracking read
  of the mapped Boolean fields of the contact table. Each changed contact is compared with its
  profile: copied (``crm_to_campaign``) or resolved by the conflict rule (``bidirectional``); a
  Campaign value that wins is written back to the CRM. The cursor is saved after the round's
  writes, so a restart repeats a round at worst, and repeating it decides the same.
- **Campaign → CRM** (``campaign_to_crm`` and ``bidirectional``): the outbox rows written with
  each Campaign change are read in order; the CRM's current values are read, the rule decides
  (``bidirectional``) or the Campaign value is taken (``campaign_to_crm``), the CRM is written in
  batches, and the rows are marked sent.

No re-subscription by a race: every CRM write that holds an opt-in (``False``) is conditional on
the version read (Dataverse ``If-Match``, Salesforce ``If-Unmodified-Since``). A CRM change made
between the read and the write makes the CRM refuse it (``PRECONDITION_FAILED``); the sender then
reads and decides again, a few times, and otherwise leaves the rows for the next round. A stale
opt-in is never written. Opt-outs stay unconditional: writing one can never re-subscribe anyone.
Salesforce dates have whole seconds in that precondition, so a Salesforce contact modified less
than :data:`_SALESFORCE_SETTLE` before the read waits for a later round before an opt-in is sent.

When ``file_exchange.daily_at`` is set, each loop also checks whether the daily file exchange is
due (:mod:`crmsync.optout.schedule`).

Loop safety: values the workflow writes to the Campaign store produce no outbox row, and a value it
wrote to the CRM comes back through change tracking equal to the Campaign value, which is no
conflict and no write.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from crmsync.config import ConfigError, validate_against_metadata
from crmsync.config.models import Config
from crmsync.connectors.base import PRECONDITION_FAILED, Connector, Record, TableInfo, WriteOp
from crmsync.errors import ConfigurationError, ProtocolError
from crmsync.optout.changes import apply_crm_values
from crmsync.optout.lookup import as_time, read_by_ids
from crmsync.optout.rule import Decision, Observation, Reason, Winner, decide
from crmsync.optout.schedule import DailyExchange
from crmsync.optout.tables import CURSOR, LOG, OUTBOX
from crmsync.state.upgrade import ensure_store_schema
from crmsync.store import build_metadata, definitions_with_profile
from crmsync.store.engine import write_transaction
from crmsync.store.key_lists import one_of
from crmsync.store.optouts import changed_at_column

__all__ = ["WORKFLOW", "OptInOutWorkflow", "RoundCounts"]

logger = logging.getLogger(__name__)

WORKFLOW = "optinout"
_READS = ("crm_to_campaign", "bidirectional")
_SENDS = ("campaign_to_crm", "bidirectional")
#: Reads and decisions again after a conditional write found the CRM record changed.
_RACE_RETRIES = 3
#: How long after its last change a Salesforce contact waits before an opt-in is sent to it.
_SALESFORCE_SETTLE = timedelta(seconds=2)


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class RoundCounts:
    """What the rounds did (totals over the workflow's life in this process)."""

    crm_records: int = 0
    no_profile: int = 0
    campaign_written: int = 0
    crm_written: int = 0
    outbox_sent: int = 0
    crm_missing: int = 0
    crm_calls: int = 0
    decisions: int = 0
    #: Conditional writes the CRM refused because the record changed after it was read.
    races: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class _Pair:
    crm_field: str
    attribute: str


class OptInOutWorkflow:
    """One configured opt-in/out flow between one CRM connection and the Campaign store."""

    def __init__(
        self,
        config: Config,
        connector: Connector,
        engine: sa.Engine,
        *,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        section = config.optinout
        if section.connection is None or section.connection not in config.connections:
            raise ConfigurationError("optinout: no connection configured")
        self.config = config
        self.kind = config.connections[section.connection].kind
        self.direction = section.direction
        self.table_name = section.table_for(self.kind)
        self.pairs = tuple(_Pair(m.crm, m.campaign.value) for m in section.mappings)
        self.log_decisions = section.log_decisions
        self.batch_size = section.batch_size
        self.poll_interval = section.poll_interval_seconds
        self.connector = connector
        self.engine = engine
        self.clock = clock
        self.profile = build_metadata(definitions_with_profile(config.resources)).tables["profile"]
        exchange = section.file_exchange
        #: The scheduled daily file exchange, when ``file_exchange.daily_at`` is set.
        self.exchange = (
            DailyExchange(engine, self.profile, exchange)
            if exchange is not None and exchange.daily_at is not None
            else None
        )
        self.counts = RoundCounts()
        self._info: TableInfo | None = None
        #: Outbox rows the last send round left for later (Salesforce contacts still settling).
        self._waiting = 0

    async def open(self) -> None:
        """Read the contact table's metadata, check the pairs against it (:class:`ConfigError`
        naming each unknown or non-Boolean field) and create the workflow's tables."""
        info = await self.connector.describe(self.table_name)
        found = validate_against_metadata(
            self.config, {self.table_name: info}, connection=self.config.optinout.connection
        )
        errors = [issue for issue in found if issue.is_error and issue.loc[0] == "optinout"]
        if errors:
            raise ConfigError(errors)
        self._info = info
        await asyncio.to_thread(ensure_store_schema, self.engine)

    @property
    def info(self) -> TableInfo:
        if self._info is None:
            raise RuntimeError("call open() first")
        return self._info

    @property
    def _read_fields(self) -> list[str]:
        names = [pair.crm_field for pair in self.pairs]
        if self.info.modified_field:
            names.append(self.info.modified_field)
        return list(dict.fromkeys(names))

    # -- the loop -------------------------------------------------------------------------------

    async def run(self, *, once: bool = False, stop: asyncio.Event | None = None) -> RoundCounts:
        """Run rounds until ``stop`` is set (``once``: until a round finds nothing to do)."""
        stop = stop or asyncio.Event()
        if self._info is None:
            await self.open()
        while not stop.is_set():
            busy = await self.crm_round()
            busy += await self.send_round()
            busy += await self.exchange_round()
            if once and not busy and not self._waiting:
                break
            if not busy:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.poll_interval)
        return self.counts

    async def exchange_round(self) -> int:
        """The daily file exchange when its time has come: 1 when it ran (imports may have left
        changes to send), else 0."""
        if self.exchange is None:
            return 0
        ran = await asyncio.to_thread(self.exchange.run_if_due, self.clock())
        return 0 if ran is None else 1

    async def backlog(self) -> int:
        """Campaign changes waiting to be sent to the CRM."""

        def count() -> int:
            with self.engine.connect() as conn:
                query = sa.select(sa.func.count()).select_from(OUTBOX)
                return int(conn.execute(query.where(OUTBOX.c.sent_at.is_(None))).scalar_one())

        return await asyncio.to_thread(count)

    # -- CRM → Campaign -------------------------------------------------------------------------

    async def crm_round(self) -> int:
        """One change-tracking round of the contact table; returns the records handled."""
        if self.direction not in _READS:
            return 0
        cursor = await asyncio.to_thread(self._load_cursor)
        handled = 0
        async for page in self.connector.track_changes(
            self.table_name, self._read_fields, cursor, formatted=False
        ):
            self.counts.crm_calls += 1
            if page.records:
                crm_ops = await asyncio.to_thread(self._apply_crm_page, page.records)
                await self._write_crm(crm_ops)
                handled += len(page.records)
            if page.cursor is not None:
                await asyncio.to_thread(self._save_cursor, page.cursor)
        self.counts.crm_records += handled
        return handled

    def _apply_crm_page(self, records: Sequence[Record]) -> list[WriteOp]:
        now = self.clock()
        ops: list[WriteOp] = []
        with write_transaction(self.engine) as conn:
            profiles = self._profiles(conn, [record.id for record in records])
            for record in records:
                held = profiles.get(_key(self.kind, record.id))
                if held is None:
                    self.counts.no_profile += 1
                    continue
                crm_time = as_time(record.values.get(self.info.modified_field or ""))
                to_campaign: dict[str, bool] = {}
                to_crm: dict[str, Any] = {}
                for pair in self.pairs:
                    crm = Observation(bool(record.values.get(pair.crm_field)), crm_time)
                    campaign = Observation(
                        bool(held[pair.attribute]), held[changed_at_column(pair.attribute)]
                    )
                    decision = self._decide_from_crm(crm, campaign)
                    if decision.write_campaign:
                        to_campaign[pair.attribute] = decision.opted_out
                    if decision.write_crm:
                        to_crm[pair.crm_field] = decision.opted_out
                    self._log(conn, held["external_id"], pair, crm, campaign, decision, "crm", now)
                apply_crm_values(conn, self.profile, held["external_id"], to_campaign, now=now)
                self.counts.campaign_written += len(to_campaign)
                if to_crm:
                    # Refused if changed since: change tracking brings the change next round.
                    ops.append(self._crm_update(record, to_crm, held["external_id"]))
        return ops

    def _decide_from_crm(self, crm: Observation, campaign: Observation) -> Decision:
        if self.direction == "bidirectional":
            return decide(crm, campaign)
        if crm.opted_out == campaign.opted_out:
            return Decision(crm.opted_out, Winner.NONE, Reason.SAME_VALUE, False, False)
        return Decision(crm.opted_out, Winner.CRM, Reason.SOURCE_OF_TRUTH, False, True)

    # -- Campaign → CRM -------------------------------------------------------------------------

    async def send_round(self) -> int:
        """Send pending Campaign changes to the CRM; returns the outbox rows settled."""
        pending = await asyncio.to_thread(self._pending)
        if not pending:
            return 0
        if self.direction not in _SENDS:
            await asyncio.to_thread(self._settle, [row["id"] for row in pending], "direction_off")
            return len(pending)
        rows = pending
        settled = 0
        self._waiting = 0
        for attempt in range(_RACE_RETRIES + 1):
            read_at = self.clock()
            ids = list(dict.fromkeys(row["external_id"] for row in rows))
            records = await read_by_ids(
                self.connector,
                self.kind,
                self.table_name,
                self.info.primary_key,
                self._read_fields,
                ids,
            )
            self.counts.crm_calls += 1
            ops, outcomes = await asyncio.to_thread(self._decide_sends, rows, records, read_at)
            stale = await self._write_crm(ops)
            if stale:
                self.counts.races += len(stale)
                raced = {row["id"] for row in rows if row["external_id"] in stale}
                outcomes = {k: [i for i in v if i not in raced] for k, v in outcomes.items()}
            await asyncio.to_thread(self._settle_outcomes, outcomes)
            settled += sum(len(v) for v in outcomes.values())
            rows = [row for row in rows if row["external_id"] in stale]
            if not rows:
                break
            logger.info(
                "optinout: %d contacts changed in the CRM between read and write; deciding again "
                "(attempt %d)",
                len(stale),
                attempt + 1,
            )
        self.counts.outbox_sent += settled
        self._waiting = len(pending) - settled
        # Rows left (races that kept happening, Salesforce contacts still settling) wait for the
        # next round; a round that settled nothing is not busy, so the loop pauses first.
        return settled

    def _decide_sends(
        self,
        pending: Sequence[Mapping[str, Any]],
        records: Mapping[str, Record],
        read_at: datetime,
    ) -> tuple[list[WriteOp], dict[str, list[int]]]:
        now = self.clock()
        outcomes: dict[str, list[int]] = {}
        ops: list[WriteOp] = []
        by_person: dict[str, list[Mapping[str, Any]]] = {}
        for row in pending:
            by_person.setdefault(row["external_id"], []).append(row)
        with write_transaction(self.engine) as conn:
            profiles = self._profiles(conn, list(by_person))
            for external_id, rows in by_person.items():
                record = records.get(_key(self.kind, external_id))
                held = profiles.get(_key(self.kind, external_id))
                row_ids = [row["id"] for row in rows]
                if record is None or held is None:
                    self.counts.crm_missing += 1
                    outcomes.setdefault("crm_record_missing", []).extend(row_ids)
                    continue
                crm_time = as_time(record.values.get(self.info.modified_field or ""))
                attributes = {row["attribute"] for row in rows}
                to_crm: dict[str, Any] = {}
                to_campaign: dict[str, bool] = {}
                decided = []
                for pair in self.pairs:
                    if pair.attribute not in attributes:
                        continue
                    crm = Observation(bool(record.values.get(pair.crm_field)), crm_time)
                    campaign = Observation(
                        bool(held[pair.attribute]), held[changed_at_column(pair.attribute)]
                    )
                    decision = self._decide_from_campaign(crm, campaign)
                    if decision.write_crm:
                        to_crm[pair.crm_field] = decision.opted_out
                    if decision.write_campaign:
                        to_campaign[pair.attribute] = decision.opted_out
                    decided.append((pair, crm, campaign, decision))
                if self._settling(to_crm, crm_time, read_at):
                    continue
                for pair, crm, campaign, decision in decided:
                    self._log(conn, external_id, pair, crm, campaign, decision, "campaign", now)
                apply_crm_values(conn, self.profile, external_id, to_campaign, now=now)
                self.counts.campaign_written += len(to_campaign)
                outcome = "written" if to_crm else ("crm_won" if to_campaign else "crm_equal")
                outcomes.setdefault(outcome, []).extend(row_ids)
                if to_crm:
                    ops.append(self._crm_update(record, to_crm, external_id))
        return ops, outcomes

    def _crm_update(self, record: Record, values: dict[str, Any], external_id: str) -> WriteOp:
        """The CRM update of ``values``: conditional on the version read when it holds an opt-in."""
        version: int | str | None = None
        if not all(values.values()):
            if self.kind == "dataverse":
                version = record.version
            else:
                version = record.values.get(self.info.modified_field or "")
            if version is None:
                # Without a version the write cannot be made safe: fail it rather than risk it.
                raise ProtocolError(
                    f"the CRM sent no version for {record.id}: an opt-in cannot be written safely",
                    table=self.table_name,
                    record_id=record.id,
                )
        return WriteOp(
            "update", self.table_name, values, id=record.id, ref=external_id, if_version=version
        )

    def _settling(
        self, to_crm: Mapping[str, Any], crm_time: datetime | None, read_at: datetime
    ) -> bool:
        """Whether an opt-in to a Salesforce contact must wait: its precondition has whole
        seconds, so a change in the second of the read's version would go unseen."""
        if self.kind != "salesforce" or all(to_crm.values()) or crm_time is None:
            return False
        return crm_time > read_at - _SALESFORCE_SETTLE

    def _decide_from_campaign(self, crm: Observation, campaign: Observation) -> Decision:
        if self.direction == "bidirectional":
            return decide(crm, campaign)
        if crm.opted_out == campaign.opted_out:
            return Decision(crm.opted_out, Winner.NONE, Reason.SAME_VALUE, False, False)
        return Decision(campaign.opted_out, Winner.CAMPAIGN, Reason.SOURCE_OF_TRUTH, True, False)

    # -- shared ---------------------------------------------------------------------------------

    async def _write_crm(self, ops: Sequence[WriteOp]) -> set[str]:
        """Write ``ops``; return the refs of conditional writes refused as stale."""
        stale: set[str] = set()
        for start in range(0, len(ops), self.batch_size):
            batch = ops[start : start + self.batch_size]
            results = await self.connector.write(batch)
            self.counts.crm_calls += 1
            for op, result in zip(batch, results, strict=True):
                if result.ok:
                    self.counts.crm_written += 1
                elif result.code == PRECONDITION_FAILED and op.ref is not None:
                    stale.add(op.ref)
                else:
                    logger.warning(
                        "optinout: the CRM refused the opt-out update of %s: %s %s",
                        op.id,
                        result.code,
                        result.message,
                    )
        return stale

    def _profiles(self, conn: sa.Connection, ids: Sequence[str]) -> dict[str, Mapping[str, Any]]:
        p = self.profile
        columns = [p.c.external_id]
        for pair in self.pairs:
            columns += [p.c[pair.attribute], p.c[changed_at_column(pair.attribute)]]
        keys = list(dict.fromkeys(ids))
        if self.kind == "dataverse":
            keys = list(dict.fromkeys([*keys, *(k.lower() for k in keys)]))
        query = sa.select(*columns).where(one_of(p.c.external_id, keys, conn.dialect))
        rows = conn.execute(query).mappings()
        return {_key(self.kind, row["external_id"]): dict(row) for row in rows}

    def _log(
        self,
        conn: sa.Connection,
        external_id: str,
        pair: _Pair,
        crm: Observation,
        campaign: Observation,
        decision: Decision,
        trigger: str,
        now: datetime,
    ) -> None:
        self.counts.decisions += 1
        if not self.log_decisions:
            return
        wrote = "+".join(
            side
            for side, yes in (("crm", decision.write_crm), ("campaign", decision.write_campaign))
            if yes
        )
        conn.execute(
            sa.insert(LOG).values(
                decided_at=now,
                external_id=external_id,
                attribute=pair.attribute,
                crm_field=pair.crm_field,
                direction=self.direction,
                trigger=trigger,
                crm_value=crm.opted_out,
                crm_time=crm.changed_at,
                campaign_value=campaign.opted_out,
                campaign_time=campaign.changed_at,
                result=decision.opted_out,
                winner=decision.winner.value,
                reason=decision.reason.value,
                wrote=wrote or "nothing",
            )
        )

    def _pending(self) -> list[Mapping[str, Any]]:
        with self.engine.connect() as conn:
            query = (
                sa.select(OUTBOX.c.id, OUTBOX.c.external_id, OUTBOX.c.attribute)
                .where(OUTBOX.c.sent_at.is_(None))
                .order_by(OUTBOX.c.id)
                .limit(self.batch_size)
            )
            return [dict(row) for row in conn.execute(query).mappings()]

    def _settle(self, ids: Sequence[int], outcome: str) -> None:
        self._settle_outcomes({outcome: list(ids)})

    def _settle_outcomes(self, outcomes: Mapping[str, Sequence[int]]) -> None:
        now = self.clock()
        with self.engine.begin() as conn:
            for outcome, ids in outcomes.items():
                conn.execute(
                    sa.update(OUTBOX)
                    .where(one_of(OUTBOX.c.id, ids, conn.dialect))
                    .values(sent_at=now, outcome=outcome)
                )

    def _load_cursor(self) -> str | None:
        with self.engine.connect() as conn:
            query = sa.select(CURSOR.c.cursor).where(CURSOR.c.name == self._cursor_name)
            value = conn.execute(query).scalar_one_or_none()
            return None if value is None else str(value)

    def _save_cursor(self, cursor: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(sa.delete(CURSOR).where(CURSOR.c.name == self._cursor_name))
            conn.execute(
                sa.insert(CURSOR).values(
                    name=self._cursor_name, cursor=cursor, updated_at=self.clock()
                )
            )

    @property
    def _cursor_name(self) -> str:
        return f"{self.table_name}:{','.join(pair.crm_field for pair in self.pairs)}"


def _key(kind: str, record_id: str) -> str:
    return record_id.lower() if kind == "dataverse" else record_id
