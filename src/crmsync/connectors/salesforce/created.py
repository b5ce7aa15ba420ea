"""Finding what an interrupted create made.

Salesforce chooses record ids on create, so a create whose answer never came back (the process
was killed, the connection died) leaves its sender not knowing whether the record exists. The
sender can ask: :meth:`CreatedRecords.settle` waits until :data:`SETTLE_SECONDS` have passed
since the call was sent (so that a call Salesforce was still processing has finished), reads the
records of the object that the signed-in user created since :data:`MARGIN` before the send time
(``CreatedById`` and ``CreatedDate``, in the org's clock), sets aside those the sender already
knows, and matches the rest on the values sent. For each set of records sent with the same values
(:func:`settle_matches`):

- no match: they were not created, and can be sent again;
- as many matches as records, or fewer: those were created (identical records are
  interchangeable), the others were not;
- more matches than records: records with the same values were also created by someone else
  since, and which ones the call made cannot be told: they are in doubt.

Values are compared as Salesforce gives them back: date-times as instants, dates by their day,
numbers by value, booleans as booleans, record ids by their 15-character form, anything else as
text without surrounding spaces and case; an empty text counts as no value. A trigger that
changes a value on create hides the record from the look-up.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from crmsync.connectors.base import CrmType, FieldInfo, Record, TableInfo
from crmsync.connectors.salesforce.client import SalesforceClient
from crmsync.connectors.salesforce.metadata import SalesforceMetadata
from crmsync.connectors.salesforce.reader import SalesforceReader
from crmsync.connectors.salesforce.soql import literal, parse_datetime

__all__ = ["MARGIN", "SETTLE_SECONDS", "CreatedRecords", "Settled", "settle_matches", "value_key"]

#: How long after a call's send time its records are looked for.
SETTLE_SECONDS = 5.0
#: How far before the send time creations are looked for (clock differences between servers).
MARGIN = timedelta(seconds=2)

_NUMBERS = frozenset(
    {CrmType.INTEGER, CrmType.BIGINT, CrmType.DECIMAL, CrmType.DOUBLE, CrmType.MONEY}
)
_IDS = frozenset({CrmType.LOOKUP, CrmType.UNIQUEIDENTIFIER})
_CREATED_BY, _CREATED_DATE = "CreatedById", "CreatedDate"


#: Given ids of created records, those the sender already holds as its own.
Known = Callable[[set[str]], Collection[str]]


@dataclass(slots=True)
class Settled:
    """What became of the records of a call whose answer was lost, by position in the call."""

    created: dict[int, str] = field(default_factory=dict)
    again: list[int] = field(default_factory=list)
    doubtful: list[int] = field(default_factory=list)


def settle_matches(found: Sequence[Sequence[str]], known: Collection[str]) -> Settled:
    """Which records were created, given for each the ids of the created records that carry its
    values (equal lists for equal values) and the ids already accounted for."""
    groups: dict[tuple[str, ...], list[int]] = {}
    for position, ids in enumerate(found):
        groups.setdefault(tuple(i for i in ids if i not in known), []).append(position)
    settled = Settled()
    for free, positions in groups.items():
        if len(free) > len(positions):
            settled.doubtful += positions
            continue
        settled.created.update(zip(positions, free, strict=False))
        settled.again += positions[len(free) :]
    settled.again.sort()
    settled.doubtful.sort()
    return settled


class CreatedRecords:
    """Look-ups of records created by the signed-in user, over one connector's reader."""

    def __init__(
        self,
        client: SalesforceClient,
        metadata: SalesforceMetadata,
        reader: SalesforceReader,
        sleep: Callable[[float], Awaitable[None]],
    ) -> None:
        self._client = client
        self._metadata = metadata
        self._reader = reader
        self._sleep = sleep

    async def settle(
        self,
        table: str,
        records: Sequence[Mapping[str, Any]],
        sent_at: datetime,
        known: Known,
    ) -> Settled:
        """What became of ``records`` (field values as sent in a create of ``table``, in a call
        sent at ``sent_at``, the org's clock); ``known`` sets aside the sender's own records."""
        wait = (sent_at - self._client.server_now()).total_seconds() + SETTLE_SECONDS
        if wait > 0:
            await self._sleep(min(wait, SETTLE_SECONDS))
        found = await self.matching(table, records, sent_at - MARGIN)
        return settle_matches(found, known({i for ids in found for i in ids}))

    async def matching(
        self, table: str, records: Sequence[Mapping[str, Any]], since: datetime
    ) -> list[list[str]]:
        """For each of ``records`` (field values as sent in a create), the ids of the records of
        ``table`` the signed-in user created at or after ``since`` (aware, the org's clock) that
        carry those values, oldest first. Records with equal values get the same list."""
        if not records:
            return []
        info = await self._metadata.describe(table)
        fields = sorted({name for record in records for name in record})
        conditions = [f"{_CREATED_DATE} >= {literal(since)}"]
        session = await self._client.sessions.session()
        if session.user_id is not None and _CREATED_BY in info.fields:
            conditions.insert(0, f"{_CREATED_BY} = {literal(session.user_id)}")
        read = [*fields, _CREATED_DATE] if _CREATED_DATE in info.fields else fields
        found: list[Record] = []
        async for page in self._reader.read_all(table, read, where=" AND ".join(conditions)):
            found.extend(page)
        found.sort(key=lambda r: (str(r.values.get(_CREATED_DATE) or ""), r.id))
        by_key: dict[tuple[Any, ...], list[str]] = {}
        for record in found:
            by_key.setdefault(value_key(info, fields, record.values), []).append(record.id)
        return [list(by_key.get(value_key(info, fields, record), ())) for record in records]


def value_key(info: TableInfo, fields: Sequence[str], values: Mapping[str, Any]) -> tuple[Any, ...]:
    """The values of ``fields`` in a form that compares equal when Salesforce holds them equal."""
    return tuple(_comparable(info.fields.get(name), values.get(name)) for name in fields)


def _comparable(field: FieldInfo | None, value: Any) -> Any:
    if isinstance(value, Mapping):  # a lookup written as {"table": …, "id": …}
        value = value.get("id")
    kind = field.type if field is not None else CrmType.OTHER
    if kind is CrmType.BOOLEAN:  # a checkbox is never empty: no value is stored as false
        return value if isinstance(value, bool) else str(value).strip().lower() == "true"
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if kind in _NUMBERS and not isinstance(value, bool):
        try:
            return Decimal(str(value).strip()).normalize()
        except InvalidOperation:
            pass
    if kind is CrmType.DATETIME:
        try:
            return parse_datetime(str(value)).replace(microsecond=0)
        except ValueError:
            pass
    if kind is CrmType.DATE:
        return str(value).strip()[:10]
    text = str(value).strip()
    if kind in _IDS and len(text) in (15, 18) and text.isalnum():
        return text[:15]
    return text.casefold()
