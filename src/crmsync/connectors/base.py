"""What every CRM connector offers the engine, whichever CRM it talks to.

The inbound engine, jobs and workflows only use the types and the :class:`Connector` protocol
defined here; the Dataverse and Salesforce packages implement them. Values in records are plain
JSON values as the CRM sent them (strings for dates and GUIDs); conversion to Campaign types is the
engine's business, guided by :class:`FieldInfo`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal, Protocol, runtime_checkable

__all__ = [
    "INVALID_TEXT",
    "PRECONDITION_FAILED",
    "ChangePage",
    "Connector",
    "CrmType",
    "Deletion",
    "FieldInfo",
    "InvalidOperation",
    "Option",
    "Record",
    "ServerClock",
    "TableInfo",
    "WriteOp",
    "WriteResult",
    "row_id",
    "without_nul",
]


class CrmType(StrEnum):
    """The CRM's primitive field types, one vocabulary for every CRM."""

    BOOLEAN = "Boolean"
    INTEGER = "Integer"
    BIGINT = "BigInt"
    DECIMAL = "Decimal"
    DOUBLE = "Double"
    MONEY = "Money"
    STRING = "String"
    MEMO = "Memo"
    DATETIME = "DateTime"
    DATE = "Date"
    PICKLIST = "Picklist"
    LOOKUP = "Lookup"
    UNIQUEIDENTIFIER = "UniqueIdentifier"
    OTHER = "Other"


@dataclass(frozen=True, slots=True)
class Option:
    """One value of a picklist (choice) field: its technical value and display label."""

    value: int | str
    label: str


@dataclass(frozen=True, slots=True)
class FieldInfo:
    """One field (attribute) of a CRM table, as its metadata describes it."""

    name: str
    type: CrmType
    label: str = ""
    required: bool = False
    read_only: bool = False
    options: tuple[Option, ...] = ()
    lookup_targets: tuple[str, ...] = ()
    #: For date/time fields: the CRM's behaviour, e.g. Dataverse ``UserLocal``/``DateOnly``/
    #: ``TimeZoneIndependent``; ``None`` where the CRM has no such notion.
    date_behavior: str | None = None
    #: The name under which the value appears in records (Dataverse lookups: ``_x_value``).
    read_name: str = ""

    @property
    def wire_name(self) -> str:
        return self.read_name or self.name


@dataclass(frozen=True, slots=True)
class TableInfo:
    """One CRM table (Dataverse entity, Salesforce sObject)."""

    name: str
    #: The name used in URLs (Dataverse entity set name; Salesforce: the object name).
    collection: str
    primary_key: str
    primary_name: str | None
    change_tracking: bool
    fields: Mapping[str, FieldInfo]
    #: The field that holds the record's version (Dataverse ``versionnumber``, Salesforce
    #: ``SystemModstamp``) and the one that holds its last-modified time.
    version_field: str | None = None
    modified_field: str | None = None
    alternate_keys: tuple[tuple[str, ...], ...] = ()
    label: str = ""


@dataclass(slots=True)
class Record:
    """One CRM record as read: its id, its version and its field values.

    Not frozen, though nothing changes a record once made: a load builds millions of them, and
    a frozen dataclass sets each field through ``object.__setattr__`` at four times the cost.
    """

    id: str
    values: Mapping[str, Any]
    #: Display labels of values that have one (picklists, booleans, lookups, money, dates).
    formatted: Mapping[str, str] = field(default_factory=dict)
    #: The source version: a number or a timestamp that only grows for the same record.
    version: int | str | None = None


#: The key, in a record's values, of what is wrong with text the CRM sent that cannot be kept
#: as it is (a lone UTF-16 surrogate, a NUL character in the id): such a record is written to
#: the queue with that text escaped (``\ud800``, ``\u0000``) and this note, and the writer
#: rejects it (``INVALID_VALUE``).
INVALID_TEXT = "@crmsync.invalid_text"


def row_id(row: dict[str, Any], key: str) -> str:
    """The id of a CRM row (its ``key`` value); empty when it has none, and the writer rejects
    the record (``MISSING_ID``). An id holding a NUL character, which no store takes, comes back
    escaped (``\u0000``), and the row is noted invalid (:data:`INVALID_TEXT`)."""
    value = row.get(key)
    if value is None or value == "":
        return ""
    text = value if isinstance(value, str) else str(value)
    if "\x00" not in text:
        return text
    note = "the id holds a NUL character (\\u0000)"
    row[INVALID_TEXT] = f"{row[INVALID_TEXT]}; {note}" if INVALID_TEXT in row else note
    return without_nul(text)


def without_nul(text: str) -> str:
    """``text`` with its NUL characters written as ``\u0000``: a key any store takes (that no
    stored row holds) for an id the CRM sent with one."""
    return text.replace("\x00", "\\u0000")


@dataclass(frozen=True, slots=True)
class Deletion:
    """A record deleted in the CRM."""

    id: str
    deleted_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ChangePage:
    """One page of changes from :meth:`Connector.track_changes`.

    ``cursor`` is set on the last page of a round only: it is the opaque position to pass to the
    next call, to be saved after every change of the round has been committed. ``snapshot`` is true
    for pages of a full read (the first round, or a resync after an expired cursor): once the last
    page of a snapshot has been committed, every record of the table has been seen, and records the
    consumer holds but the snapshot did not contain were deleted in the CRM.
    """

    records: Sequence[Record]
    deletions: Sequence[Deletion] = ()
    cursor: str | None = None
    snapshot: bool = False


#: ``WriteResult.code`` of a conditional update refused because the record changed since it was
#: read (HTTP 412), whichever CRM answered.
PRECONDITION_FAILED = "PRECONDITION_FAILED"

WriteKind = Literal["create", "update", "upsert", "delete"]


@dataclass(frozen=True, slots=True)
class WriteOp:
    """One write to a CRM table.

    ``id`` addresses the record by primary key; ``key`` by an alternate (external id) key instead.
    ``create`` needs neither (an ``id`` may be given to choose it); ``upsert`` creates the record
    when no record has that id or key.

    ``if_version`` makes an ``update`` conditional on the record being unchanged since it was read
    with that version (Dataverse: the ``versionnumber`` read, sent as ``If-Match``; Salesforce: the
    ``LastModifiedDate`` read, sent as ``If-Unmodified-Since``). When the record changed since,
    nothing is written and the result's code is :data:`PRECONDITION_FAILED`.
    """

    kind: WriteKind
    table: str
    values: Mapping[str, Any] = field(default_factory=dict)
    id: str | None = None
    key: Mapping[str, Any] | None = None
    #: The caller's reference for this operation (e.g. a journal row), returned in its result.
    ref: str | None = None
    if_version: int | str | None = None


class InvalidOperation(ValueError):
    """A :class:`WriteOp` that cannot be sent as given: a connector turns it into a failed
    :class:`WriteResult`, not an exception."""


@dataclass(frozen=True, slots=True)
class WriteResult:
    """The outcome of one :class:`WriteOp`, in the order of the operations."""

    ok: bool
    ref: str | None = None
    id: str | None = None
    created: bool | None = None
    code: str | None = None
    message: str | None = None
    status: int | None = None


@runtime_checkable
class ServerClock(Protocol):
    """A connector that knows the CRM's clock, as the Dataverse and Salesforce connectors do."""

    def server_time(self) -> datetime | None:
        """The CRM's current time as its latest answer gave it; ``None`` before any answer
        carried it."""
        ...


@runtime_checkable
class Connector(Protocol):
    """A connection to one CRM organisation.

    Transient failures are retried inside the connector; what escapes is a
    :class:`~crmsync.errors.CrmsyncError` whose branch says what to do.
    """

    async def list_tables(self) -> list[str]:
        """Names of the tables the engine may sync."""
        ...

    async def describe(self, table: str) -> TableInfo:
        """Metadata of one table (fields, types, options, change tracking, keys)."""
        ...

    def read_all(
        self, table: str, fields: Sequence[str] | None = None, *, where: str | None = None
    ) -> AsyncIterator[list[Record]]:
        """Every record of ``table``, page by page; ``where`` filters in the CRM's own language."""
        ...

    def track_changes(
        self,
        table: str,
        fields: Sequence[str] | None,
        cursor: str | None,
        *,
        formatted: bool = True,
    ) -> AsyncIterator[ChangePage]:
        """Changes since ``cursor`` (a snapshot when ``None`` or when the cursor expired);
        ``formatted=False``: the caller needs no display labels (the CRM need not send them)."""
        ...

    async def write(self, ops: Sequence[WriteOp], *, batch: bool = True) -> list[WriteResult]:
        """Apply ``ops``, batched as the CRM allows (``batch=False``: one request per
        operation); one result per operation, in order."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...
