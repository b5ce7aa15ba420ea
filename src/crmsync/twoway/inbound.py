"""The CRM → Campaign side of the merge: CRM changes of a two-way mapping merged into Campaign rows.

The inbound writer (:class:`~crmsync.sync.writer.MappingWriter`) hands the rows it is about to
upsert to :meth:`CrmMerge.merge_rows`, in its transaction, before it writes them. For each record
whose Campaign row exists, :func:`~crmsync.twoway.rule.merge` weighs the merged fields against the
record's base: the Campaign side's values are the row's, its time the latest pending edit's; the
CRM side's are the change's values and its last-modified time. The row then carries, per field,
the merged value: the CRM's where the CRM wins or only the CRM changed, the Campaign's where the
Campaign wins or only the Campaign changed (so the upsert leaves that field as it is).

The new base is the CRM's values at the change's version: what the Campaign holds beyond it is a
Campaign change the Campaign → CRM side sends (:mod:`crmsync.twoway.push`). Where no edit is
pending to make it do so, a ``merge`` row is queued (:mod:`crmsync.twoway.pending`). Conflicts are
logged in the same transaction.

A change not newer than the version the base was synced at is held by the base already (the
Campaign → CRM side read and merged it, or a later merge includes it): its merged fields keep the
Campaign values, since writing the CRM's would undo a Campaign edit made since; its other fields
are written as for any mapping. The row of a record new to Campaign is written as it comes,
with no base row: the row is its base until a merge decides one (:mod:`crmsync.twoway.implicit`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from crmsync.connectors.base import Record
from crmsync.queue.base import Change
from crmsync.store.types import CampaignType
from crmsync.twoway.base import Base, forget_bases, load_bases, save_bases
from crmsync.twoway.conflicts import record_conflicts
from crmsync.twoway.implicit import implicit_bases
from crmsync.twoway.mapping import TwoWayMapping
from crmsync.twoway.pending import edit_times, request_merge
from crmsync.twoway.rule import Side, merge
from crmsync.twoway.sent import forget_rounds, landed, load_sent, with_sent
from crmsync.twoway.values import same_value

__all__ = ["CrmMerge", "base_version", "crm_to_merge", "version_stamp"]

logger = logging.getLogger(__name__)

VERSION = "source_version"


def base_version(base: Base | None, as_number: Callable[[Any], int | None]) -> int | None:
    """The version a base row was synced at, as the store's growing number (``None``: unknown,
    and for a base read from the row, whose values may hold edits made before the capture)."""
    if base is None or base.implicit or base.crm_version is None:
        return None
    return as_number(base.crm_version)


def version_stamp(kind: str, version: int) -> int:
    """The CRM's own stamp of a version as the store keeps it
    (:func:`~crmsync.sync.writer.version_number`). A Salesforce change's version carries, below
    the millisecond, how many other contents of the record with that stamp the reader delivered
    before it (:func:`~crmsync.connectors.salesforce.cursor.bumped_version`); the record as a
    Campaign → CRM round reads it by id carries none. So the versions of one stamp say which
    was delivered first, not which content a round read: the values say that."""
    return version // 1000 if kind == "salesforce" else version


def crm_to_merge(
    base: Base | None,
    synced_at: int | None,
    version: int,
    crm: Mapping[str, Any],
    fields: Mapping[str, CampaignType],
    kind: str,
) -> dict[str, Any] | None:
    """The CRM values (``crm``, in Campaign terms) a merge of a change of ``version`` takes
    against ``base`` (synced at version ``synced_at``), or ``None`` when the base holds that change
    already: it is older, or the record as the Campaign → CRM round that made the base read it.

    A change of the base's very stamp (:func:`version_stamp`) may still be newer: Salesforce
    stamps are whole seconds, so a CRM change made within the second of the round's write has
    that stamp too. It is merged, each field that round wrote taken as the write left it
    (:meth:`~crmsync.twoway.base.Base.as_of_version`)."""
    if base is None or synced_at is None:
        return dict(crm)
    if version < synced_at:
        return None
    if version_stamp(kind, version) > version_stamp(kind, synced_at):
        return dict(crm)
    if base.holds(crm, fields):
        return None
    return base.as_of_version(crm, fields)


def _now() -> datetime:
    return datetime.now(UTC)


class CrmMerge:
    """Merges one two-way mapping's CRM changes into its Campaign rows."""

    def __init__(
        self,
        two_way: TwoWayMapping,
        table: sa.Table,
        as_number: Callable[[Any], int | None],
    ) -> None:
        self.two_way = two_way
        self.table = table
        self._as_number = as_number

    def merge_rows(
        self,
        conn: sa.Connection,
        rows: Sequence[dict[str, Any]],
        changes: Mapping[str, Change],
        processors: Mapping[str, Callable[[Any], Any]],
    ) -> list[dict[str, Any]]:
        """The ``rows`` to upsert, merged, in the writer's transaction. ``changes``: record key
        → the change each row was made from. The rows are in the form the store's driver takes
        (``processors`` of the columns, :func:`~crmsync.store.bulk.column_processors`)."""
        two_way, key_field = self.two_way, self.two_way.key_field
        latest: dict[str, dict[str, Any]] = {}
        for row in rows:
            held = latest.get(row[key_field])
            if held is None or row[VERSION] >= held[VERSION]:
                latest[row[key_field]] = row
        keys = list(latest)
        held_rows = two_way.held(conn, self.table, keys, lock=True)
        if held_rows:
            bases = load_bases(conn, two_way.name, held_rows)
            missing = [key for key in held_rows if key not in bases]
            bases |= implicit_bases(conn, two_way, self.table, held_rows, missing)
            sent = load_sent(conn, two_way.name, held_rows)
            times = edit_times(conn, two_way.resource, held_rows)
        else:
            bases, sent, times = {}, {}, {}
        new_bases: dict[str, Base] = {}
        to_send: dict[str, datetime] = {}
        landed_rounds: list[tuple[str, str]] = []
        for key, held in held_rows.items():
            row = latest[key]
            base = bases.get(key)
            synced_at = base_version(base, self._as_number)
            if synced_at is not None and row[VERSION] < synced_at:
                # Older than the base (crm_to_merge): held already, no need to convert it.
                _set(row, processors, held)
                continue
            change = changes[key]
            crm = two_way.campaign_values(
                Record(change.id, change.values, change.formatted, row[VERSION])
            )
            as_merged = crm_to_merge(
                base, synced_at, row[VERSION], crm, two_way.fields, two_way.kind
            )
            if as_merged is None:
                # The base holds this change already (merged by the Campaign → CRM side): the
                # merged fields keep what Campaign holds, the others are written as usual.
                _set(row, processors, held)
                continue
            crm = as_merged
            crm_at = two_way.modified_at(change.values)
            edited_at = times.get(key)
            # A value a killed Campaign → CRM round wrote is synced, not a CRM change.
            synced = with_sent(base, sent.get(key), crm, two_way.fields)
            decided = merge(two_way.fields, synced, Side(held, edited_at), Side(crm, crm_at))
            if key in sent:  # the new base holds the writes the CRM holds
                landed_rounds += [(key, r) for r in landed(sent[key], crm, two_way.fields)]
            _set(row, processors, {decision.field: decision.value for decision in decided.fields})
            if decided.conflicts:
                record_conflicts(conn, two_way.name, key, decided.conflicts, found_by="crm")
            if decided.to_crm and edited_at is None:
                # A Campaign value the CRM lacks with no edit pending (the CRM refused it):
                # sent again, as old as the base it was set after (a change needs a base).
                to_send[key] = base.updated_at if base and base.updated_at else _now()
            new_bases[key] = Base(
                crm,
                two_way.fields,
                crm_version=None if change.version is None else str(change.version),
                crm_modified_at=crm_at,
                written_over=_still_written_over(base, crm, two_way.kind, row[VERSION], synced_at),
            )
        # A record new to Campaign keeps no base row: its row is its base (crmsync.twoway.implicit).
        # One left by a row a Campaign client deleted would be stale.
        inserted = [key for key in keys if key not in held_rows]
        if inserted:
            forget_bases(conn, two_way.name, inserted)
        save_bases(conn, two_way.name, new_bases)
        forget_rounds(conn, two_way.name, landed_rounds)
        request_merge(conn, two_way.resource, to_send)
        return list(latest.values())

    def forget_deleted(self, conn: sa.Connection, keys: Iterable[str]) -> None:
        """Drop the bases of these records whose Campaign rows are gone (deleted with the CRM
        record, or filtered out): a record created again later starts afresh."""
        wanted = list(dict.fromkeys(keys))
        if not wanted:
            return
        still = set(self.two_way.held(conn, self.table, wanted))
        forget_bases(conn, self.two_way.name, [key for key in wanted if key not in still])


def _still_written_over(
    base: Base | None, crm: Mapping[str, Any], kind: str, version: int, synced_at: int | None
) -> dict[str, Any]:
    """What a base made from a change of its very stamp keeps of :attr:`Base.written_over`:
    the fields the CRM still holds the write's value of (the record as read may come yet)."""
    if base is None or synced_at is None:
        return {}
    if version_stamp(kind, version) != version_stamp(kind, synced_at):
        return {}
    return {
        name: before
        for name, before in base.written_over.items()
        if name in crm and same_value(base.types[name], crm[name], base.values[name])
    }


def _set(
    row: dict[str, Any],
    processors: Mapping[str, Callable[[Any], Any]],
    values: Mapping[str, Any],
) -> None:
    """Put Campaign ``values`` into a row in the driver's form."""
    for name, value in values.items():
        process = processors.get(name)
        row[name] = value if process is None or value is None else process(value)
