"""The window of the ``crm`` import step's automatic index, and what it leaves for the next one.

The window is ``[start, end)``. ``start`` is the ``LASTIMPORT_…`` option (absent: everything).
``end`` is the CRM's current time, to the second, as the ``Date`` header of its answers gives it
(the connector follows it; see :mod:`crmsync.connectors.server_time`): a record the CRM stamps
after the read can only be stamped at or after ``end``, whatever crmsync's own clock says. When
the connector does not know the CRM's time, ``end`` is crmsync's clock minus the overlap.

Each run reads again from ``overlap_seconds`` before ``start``, as the inbound reader does: a
record whose transaction committed after the previous read, with an earlier stamp, lands there.
The previous window stored what it read within the overlap of its end (record id and a digest
of the values read, which hold the last-modified value and the version), so a record read again
unchanged is left out, and one changed again, even within the same second, is imported. That set
is stored with the option, in the transaction that records the step as done: a crash before it
reads the same window again against the same set.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from crmsync.connectors.base import Connector, CrmType, Record, ServerClock, TableInfo
from crmsync.connectors.salesforce.cursor import content_digest
from crmsync.connectors.salesforce.soql import parse_datetime
from crmsync.errors import ConfigurationError, ProtocolError
from crmsync.jobs.context import StepContext
from crmsync.jobs.models import AutomaticIndex
from crmsync.jobs.options import format_option_date, last_import_option, parse_option_date
from crmsync.jobs.query_values import field_of
from crmsync.jobs.store import IndexSeen

__all__ = ["ImportWindow", "modified_field", "open_window"]

_MODIFIED_DEFAULTS = {
    "dataverse": ("modifiedon",),
    "salesforce": ("SystemModstamp", "LastModifiedDate"),
}


def modified_field(dialect: str, info: TableInfo, chosen: str | None) -> str:
    """The last-modified field: ``chosen``, else the CRM's default that the table has."""
    if chosen is not None:
        field = field_of(info, chosen, "automatic_index.field")
        if field.type != CrmType.DATETIME:
            raise ConfigurationError(
                f"automatic_index.field: '{field.name}' is a {field.type.value} field; the "
                "index follows a date-time field",
                table=info.name,
            )
        return field.name
    for name in _MODIFIED_DEFAULTS[dialect]:
        if name in info.fields:
            return name
    raise ConfigurationError(
        f"automatic_index: {info.name} has none of {', '.join(_MODIFIED_DEFAULTS[dialect])}: "
        "name the last-modified field in automatic_index.field",
        table=info.name,
    )


@dataclass(frozen=True, slots=True)
class ImportWindow:
    """One run's window: ``[start, end)`` on ``field``, read from ``overlap`` before ``start``."""

    option: str
    field: str
    wire: str
    stored: str | None
    start: datetime | None
    end: datetime
    overlap: timedelta
    #: Record id → digest of what the previous window read within its overlap.
    seen: dict[str, str]

    @property
    def read_from(self) -> datetime | None:
        return None if self.start is None else self.start - self.overlap

    def variables(self) -> dict[str, str]:
        return {
            "crmOptionName": self.option,
            "crmStartImport": self.stored or "",
            "crmEndDate": format_option_date(self.end),
        }

    def keep(self, records: Iterable[Record]) -> tuple[list[Record], IndexSeen]:
        """The records to import (those the previous window imported unchanged left out), and
        what this window read within the overlap of its end."""
        kept: list[Record] = []
        overlap_from = self.end - self.overlap
        in_overlap: dict[str, tuple[str, str]] = {}
        for record in records:
            value = record.values.get(self.wire)
            stamp = value if isinstance(value, str) else ""
            try:
                moment = parse_datetime(stamp)
            except ValueError:
                raise ProtocolError(
                    f"automatic_index: {self.field} of record {record.id} is {value!r}, "
                    "not a date-time",
                    record_id=record.id,
                ) from None
            digest = content_digest(record.values).hex()
            if moment >= overlap_from:
                in_overlap[record.id] = (stamp, digest)
            if self.seen.get(record.id) != digest:
                kept.append(record)
        return kept, IndexSeen(format_option_date(self.end), in_overlap)


def open_window(
    ctx: StepContext, connector: Connector, index: AutomaticIndex, field: str, wire: str
) -> ImportWindow:
    """The window of this run, from the option and the CRM's clock (asked after ``describe``,
    so that the connector has had an answer)."""
    option = index.option or last_import_option(ctx.job.name, ctx.name)
    stored = ctx.store.option(option)
    try:
        start = parse_option_date(stored) if stored else None
    except ValueError as exc:
        raise ConfigurationError(f"option {option}: {exc}") from None
    overlap = timedelta(seconds=index.overlap_seconds)
    crm_now = connector.server_time() if isinstance(connector, ServerClock) else None
    end = (crm_now or ctx.now() - overlap).replace(microsecond=0)
    if start is not None and end < start:
        end = start  # never back: the window is then only the overlap, read again
    seen = ctx.store.index_seen(option, stored) if stored else {}
    return ImportWindow(option, field, wire, stored, start, end, overlap, seen)
