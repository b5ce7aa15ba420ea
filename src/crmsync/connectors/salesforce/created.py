"""Finding what an interrupted create made.

Salesforce chooses record ids on create, so a create whose answer never came back (the process
was killed, the connection died) leaves its sender not knowing whether the record exists. The
sender can ask: :meth:`CreatedRecords.matching` reads the records of the object that the
signed-in user created since the call was sent (``CreatedById`` and ``CreatedDate``, in the org's
clock) and, for each record the call carried, lists those whose values are the ones sent.

Values are compared as Salesforce gives them back: date-times as instants, dates by their day,
numbers by value, booleans as booleans, record ids by their 15-character form, anything else as
text without surrounding spaces and case; an empty text counts as no value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from crmsync.connectors.base import CrmType, FieldInfo, Record, TableInfo
from crmsync.connectors.salesforce.client import SalesforceClient
from crmsync.connectors.salesforce.metadata import SalesforceMetadata
from crmsync.connectors.salesforce.reader import SalesforceReader
from crmsync.connectors.salesforce.soql import literal, parse_datetime

__all__ = ["CreatedRecords", "value_key"]

_NUMBERS = frozenset(
    {CrmType.INTEGER, CrmType.BIGINT, CrmType.DECIMAL, CrmType.DOUBLE, CrmType.MONEY}
)
_IDS = frozenset({CrmType.LOOKUP, CrmType.UNIQUEIDENTIFIER})
_CREATED_BY, _CREATED_DATE = "CreatedById", "CreatedDate"


class CreatedRecords:
    """Look-ups of records created by the signed-in user, over one connector's reader."""

    def __init__(
        self, client: SalesforceClient, metadata: SalesforceMetadata, reader: SalesforceReader
    ) -> None:
        self._client = client
        self._metadata = metadata
        self._reader = reader

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
