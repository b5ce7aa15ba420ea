"""Reading records: full reads, and change tracking by timestamp cursor plus the delete log.

Salesforce has no delta token, so changes are found by the cursor field (``SystemModstamp`` by
default) and deletions through ``sobjects/{Object}/deleted/``:

* **Snapshot** (no cursor, or the delete log no longer reaches back to it): every record, ordered
  by ``(cursor field, Id)``, in ``snapshot=True`` pages.
* **Incremental round**, while the org's clock (the ``Date`` header of its answers) is within
  ``overlap_seconds`` of the position: records whose cursor field is at or after ``position -
  overlap_seconds``, ordered the same way. Re-reading that window catches records whose
  transaction committed after a later timestamp was already read. What was delivered within the
  window is remembered in the cursor (a hash of each Id and of the values read), so ties at page
  and window boundaries are neither lost nor repeated, and a record changed again within the same
  second (same timestamp, other values) is delivered again.
* **Closed window**: once the org's clock is more than ``overlap_seconds`` past the position, no
  late commit can still appear behind it; the round reads strictly past the keyset ``(cursor
  field, Id)`` and the cursor forgets what it remembered.

Then the deletions since the previous round, whose next window starts at ``latestDateCovered``.

``Record.version`` is the cursor field as ``YYYY-MM-DDThh:mm:ss.ffffffZ`` (UTC) where the
sub-millisecond digits count the other contents delivered before for that record and timestamp
(Salesforce timestamps are whole milliseconds): versions of the same record compare as strings,
which is the order they were delivered in.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from crmsync.connectors.base import (
    ChangePage,
    Deletion,
    Record,
    TableInfo,
    row_id,
    without_nul,
)
from crmsync.connectors.salesforce.client import SalesforceClient
from crmsync.connectors.salesforce.cursor import (
    ChangeCursor,
    Delivered,
    DeliveredWindow,
    bumped_version,
    content_digest,
    id_key,
    version_of,
)
from crmsync.connectors.salesforce.metadata import SalesforceMetadata
from crmsync.connectors.salesforce.soql import (
    format_datetime,
    literal,
    parse_datetime,
    select,
)
from crmsync.errors import ChangeTrackingExpired, ConfigurationError, ProtocolError

__all__ = ["SalesforceReader"]

logger = logging.getLogger(__name__)

_MINUTE = timedelta(minutes=1)
_DELETED = "IsDeleted"
#: The key of a query answer's rows.
_ROWS = "records"


class SalesforceReader:
    """Full reads and change tracking over one :class:`SalesforceClient`."""

    def __init__(
        self,
        client: SalesforceClient,
        metadata: SalesforceMetadata,
        *,
        batch_size: int,
        cursor_field: str,
        overlap_seconds: int,
    ) -> None:
        self._client = client
        self._metadata = metadata
        self._headers = {"Sforce-Query-Options": f"batchSize={batch_size}"}
        self._cursor_field = cursor_field
        self._overlap = timedelta(seconds=overlap_seconds)

    async def read_all(
        self, table: str, fields: Sequence[str] | None = None, *, where: str | None = None
    ) -> AsyncIterator[list[Record]]:
        """Every record of ``table`` (optionally filtered by a SOQL condition), page by page."""
        info = await self._metadata.describe(table)
        names = _names(info, fields)
        soql = select(table, names, known=info.fields, where=where)
        async for rows, _ in self.query(soql, table):
            yield [_record(row, info) for row in rows]

    async def query(
        self, soql: str, table: str, *, all_rows: bool = False
    ) -> AsyncIterator[tuple[list[dict[str, Any]], bool]]:
        """``(rows, done)`` per batch of a SOQL query, rows without their ``attributes``."""
        first = await self._first(soql, table, all_rows=all_rows)
        async for batch in self._batches(first, table):
            yield batch

    async def _first(self, soql: str, table: str, *, all_rows: bool = False) -> dict[str, Any]:
        resource = "queryAll/" if all_rows else "query/"
        return await self._client.get_json(
            resource, {"q": soql}, self._headers, table=table, rows=_ROWS
        )

    async def _batches(
        self, answer: dict[str, Any], table: str
    ) -> AsyncIterator[tuple[list[dict[str, Any]], bool]]:
        while True:
            rows: list[dict[str, Any]] = answer[_ROWS]  # checked by the client
            for row in rows:
                row.pop("attributes", None)
            done = answer.get("done") is not False
            next_url = answer.get("nextRecordsUrl")
            if not done and not isinstance(next_url, str):
                raise ProtocolError(f"a query answer for {table} is not done but has no link")
            yield rows, done
            if done:
                return
            assert isinstance(next_url, str)
            answer = await self._client.get_json(
                next_url, None, self._headers, table=table, rows=_ROWS
            )

    async def track_changes(
        self, table: str, fields: Sequence[str] | None, cursor: str | None
    ) -> AsyncIterator[ChangePage]:
        """Changes since ``cursor``; a snapshot when there is none or it can no longer be served.

        The last page of every round carries the next cursor. The records query goes first and
        the delete-log window ends at the server time of its answer, so that a record deleted
        while the round runs is reported deleted after its last change.
        """
        info = await self._metadata.describe(table)
        version_field = info.version_field
        if not info.change_tracking or version_field is None:
            raise ConfigurationError(
                f"object {table!r} cannot be tracked: it is not replicateable or has no "
                f"{self._cursor_field} field",
                table=table,
            )
        names = _names(info, fields)
        order = (version_field, info.primary_key)
        if cursor is not None:
            previous = ChangeCursor.decode(cursor)
            if previous.field != version_field:
                logger.warning(
                    "the cursor of %s follows %s, not %s: reading the object in full",
                    table,
                    previous.field,
                    version_field,
                )
            else:
                where, previous = self._round_filter(previous, info.primary_key)
                # queryAll also returns the recycle bin: deleted rows carry IsDeleted = true
                # and a SystemModstamp of their deletion.
                in_bin = _DELETED in info.fields
                bin_names = [*names, _DELETED] if in_bin and _DELETED not in names else names
                soql = select(table, bin_names, known=info.fields, where=where, order_by=order)
                first = await self._first(soql, table, all_rows=in_bin)
                try:
                    deletions, deleted_since = await self._deletions(
                        table,
                        parse_datetime(previous.deleted_since),
                        self._client.server_now(),
                    )
                except ChangeTrackingExpired as exc:
                    logger.warning(
                        "the delete log of %s no longer reaches back to %s (%s): reading the "
                        "object in full so that deletions are found by key set",
                        table,
                        previous.deleted_since,
                        exc.code or exc.message,
                    )
                else:
                    async for page in self._pages(
                        info,
                        first,
                        previous,
                        deletions,
                        deleted_since,
                        snapshot=False,
                        keep_flag=_DELETED in names,
                    ):
                        yield page
                    return
        soql = select(table, names, known=info.fields, order_by=order)
        first = await self._first(soql, table)
        started = self._client.server_now()
        # Deletions after the snapshot began are looked up from here on; with no record at
        # all, the next round starts from when this one did.
        empty = ChangeCursor(
            field=version_field,
            timestamp=format_datetime(started),
            last_id="",
            deleted_since=format_datetime(_minute(started - self._overlap)),
        )
        async for page in self._pages(info, first, empty, (), empty.deleted_since, snapshot=True):
            yield page

    async def deleted(self, table: str, start: datetime, end: datetime) -> list[Deletion]:
        """Records of ``table`` deleted between ``start`` and ``end`` (from the delete log).

        The log serves whole minutes (Salesforce ends the period at its current time, truncated
        to the minute) and at most 15 days back. A period it no longer covers is a
        :class:`ConfigurationError` that says so, never a silently partial answer.
        """
        if start.tzinfo is None or end.tzinfo is None:
            raise ConfigurationError("the deletion period needs dates with a time zone")
        if end - start <= _MINUTE:
            raise ConfigurationError(
                "the deletion period must be longer than one minute (Salesforce's delete log "
                "works in whole minutes)",
                table=table,
            )
        info = await self._metadata.describe(table)
        try:
            found, _ = await self._deletions(info.name, start, end, check_length=False)
        except ChangeTrackingExpired as exc:
            raise ConfigurationError(
                f"Salesforce no longer keeps the deletions of {table} from "
                f"{format_datetime(start)}: the delete log goes back at most 15 days, less if it "
                f"was purged ({exc.message})",
                table=table,
                code=exc.code,
            ) from None
        return found

    # -- rounds ---------------------------------------------------------------------------------

    def _round_filter(self, previous: ChangeCursor, key: str) -> tuple[str, ChangeCursor]:
        """The round's condition, and the cursor to compare what it reads with.

        While the org's clock is within the overlap of the position, the window behind it is
        read again (a transaction may still commit there late); once the clock is past it, the
        round reads strictly after the keyset and the remembered records are forgotten, so that
        even more ties than a cursor can remember are not read again and again.
        """
        field = previous.field
        position = parse_datetime(previous.timestamp)
        if self._client.server_now() - position <= self._overlap:
            return f"{field} >= {literal(position - self._overlap)}", previous
        closed = replace(previous, seen={})
        if not previous.last_id:
            return f"{field} > {literal(position)}", closed
        at = literal(position)
        after = f"{field} > {at} OR ({field} = {at} AND {key} > {literal(previous.last_id)})"
        return after, closed

    async def _pages(
        self,
        info: TableInfo,
        first: dict[str, Any],
        previous: ChangeCursor,
        logged: Sequence[Deletion],
        deleted_since: str,
        *,
        snapshot: bool,
        keep_flag: bool = True,
    ) -> AsyncIterator[ChangePage]:
        """The pages of one round: records and recycle-bin deletions not delivered before,
        then (on the last page) the delete log's deletions that nothing else reported."""
        window = DeliveredWindow(self._overlap)
        # A snapshot's position is its newest record, whatever the clock said when it began.
        position = ("", "") if snapshot else (previous.timestamp, previous.last_id)
        already = previous.seen
        logged_at = {d.id: d.deleted_at for d in logged}
        reported = dict(previous.reported)
        live: set[str] = set()
        async for rows, done in self._batches(first, info.name):
            records: list[Record] = []
            deletions: list[Deletion] = []
            for row in rows:
                deleted = row.get(_DELETED) is True
                flag = row.pop(_DELETED, None)
                content = content_digest(row, deleted=deleted)
                if keep_flag and flag is not None:
                    row[_DELETED] = flag
                record_id = row_id(row, info.primary_key)
                stamp = version_of(row.get(info.version_field or ""))
                if stamp is None:
                    raise ProtocolError(
                        f"a record of {info.name} has no usable {info.version_field} "
                        f"({row.get(info.version_field or '')!r})",
                        table=info.name,
                        record_id=record_id,
                    )
                position = max(position, (stamp, record_id))
                if deleted:
                    reported[record_id] = stamp
                else:
                    when = logged_at.get(record_id)
                    if when is not None and parse_datetime(stamp) > when:
                        live.add(record_id)  # undeleted after the logged deletion
                key = id_key(record_id)
                before = already.get(key)
                if before is not None and before.stamp == stamp and before.content == content:
                    window.add(key, before)
                    continue
                # Changed again within the same timestamp: a strictly greater version.
                bump = before.bump + 1 if before is not None and before.stamp == stamp else 0
                window.add(key, Delivered(stamp, content, bump))
                if deleted:
                    deletions.append(Deletion(id=record_id, deleted_at=parse_datetime(stamp)))
                else:
                    version = bumped_version(stamp, bump)
                    records.append(Record(id=record_id, values=row, version=version))
            if not done:
                yield ChangePage(records=records, deletions=deletions, snapshot=snapshot)
                continue
            # Deletions only the delete log knows (hard deletes, an emptied recycle bin).
            deletions += [d for d in logged if d.id not in reported and d.id not in live]
            if not position[0]:
                position = (previous.timestamp, previous.last_id)
            cursor = ChangeCursor(
                field=previous.field,
                timestamp=position[0],
                last_id=position[1],
                deleted_since=deleted_since,
                seen=window.seen() if window else dict(already),
                # What the delete log has covered no longer needs remembering.
                reported={i: v for i, v in reported.items() if v >= deleted_since},
            )
            yield ChangePage(
                records=records,
                deletions=deletions,
                cursor=cursor.encode(),
                snapshot=snapshot,
            )

    async def _deletions(
        self, table: str, since: datetime, now: datetime, *, check_length: bool = True
    ) -> tuple[list[Deletion], str]:
        """Deletions in ``[since, now]`` and where the next window starts.

        The delete log works in whole minutes and needs more than a minute between start and end;
        a shorter window is left for the next round.
        """
        end = _minute(now) if check_length else now
        if check_length and end - since <= _MINUTE:
            return [], format_datetime(since)
        answer = await self._client.get_json(
            f"sobjects/{table}/deleted/",
            {"start": _param(since), "end": _param(end)},
            table=table,
        )
        earliest = answer.get("earliestDateAvailable")
        earliest_at = _parsed(earliest)
        if earliest_at is not None and earliest_at > since:
            raise ChangeTrackingExpired(
                f"the delete log of {table} starts at {earliest}, after {format_datetime(since)}",
                code="INVALID_REPLICATION_DATE",
                table=table,
            )
        entries = answer.get("deletedRecords")
        if not isinstance(entries, list):
            raise ProtocolError(f"the deleted/ answer for {table} has no 'deletedRecords' list")
        deletions = []
        for entry in entries:
            record_id = entry.get("id") if isinstance(entry, dict) else None
            if not isinstance(record_id, str) or not record_id:
                raise ProtocolError(f"a deleted record of {table} has no id")
            deleted_at = _parsed(entry.get("deletedDate"))
            deletions.append(Deletion(id=without_nul(record_id), deleted_at=deleted_at))
        covered = _parsed(answer.get("latestDateCovered")) or end
        return deletions, format_datetime(covered)


def _names(info: TableInfo, fields: Sequence[str] | None) -> list[str]:
    if fields is None:
        chosen = list(info.fields)
    else:
        chosen = []
        for name in fields:
            if name not in info.fields:
                raise ConfigurationError(
                    f"object {info.name!r} has no field {name!r}", table=info.name
                )
            chosen.append(name)
    for extra in (info.primary_key, info.version_field):
        if extra and extra not in chosen:
            chosen.append(extra)
    return chosen


def _record(row: dict[str, Any], info: TableInfo) -> Record:
    cursor = info.version_field
    stamp = version_of(row.get(cursor)) if cursor else None
    version = bumped_version(stamp, 0) if stamp is not None else None
    record_id = row_id(row, info.primary_key)
    return Record(id=record_id, values=dict(row), version=version)


def _minute(value: datetime) -> datetime:
    return value.replace(second=0, microsecond=0)


def _param(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S+00:00")


def _parsed(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return parse_datetime(value)
    except ValueError:
        return None
