"""The base of the two-way merge: per record of a mapping, the values both sides last agreed on.

:func:`crmsync.twoway.rule.merge` decides each field against the values of the record's last
sync; they are kept in ``crmsync_twoway_base`` (:mod:`crmsync.twoway.tables`), one row per
mapping and record key (the CRM record's id), with the CRM version and last-modified time the
record was synced at. Every function takes the caller's :class:`sqlalchemy.Connection`, so that
the base is written in the same transaction as the synced values: both commit, or neither does.

The values are kept in Campaign terms, as JSON, each field with its Campaign type
(``{"field": ["type", value], …}``; a field the base's own round wrote to the CRM also with the
value the CRM held before that write, ``["type", value, before]``: see
:attr:`Base.written_over`), encoded as follows:

- no value: ``null``, whatever the type;
- ``string``, ``text``: a JSON string;
- ``integer``: a JSON integer; ``boolean``: ``true`` or ``false``;
- ``double``, ``float``: the number's decimal text (``"0.1"``, ``"1e+100"``; a
  :class:`~decimal.Decimal` as its own text, a float as its shortest round-trip text, ``"nan"``
  and ``"inf"`` included), read back as a :class:`float`, the value the store's column holds;
- ``date``: ISO 8601 text (``"2025-01-02"``);
- ``datetime``: ISO 8601 text in UTC (``"2025-01-02T03:04:05.000006+00:00"``), read back as an
  aware UTC :class:`~datetime.datetime`; a naive date-time is refused, as the store refuses it.

A value of another Python type than its field's is refused with :class:`ValueError` naming the
mapping, the record and the field. Keeping each field's type lets :meth:`Base.values_for` drop a
field whose type has changed since the last sync (and a field added since has none): the merge
then treats it as a field with no base.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import orjson
import sqlalchemy as sa

from crmsync.store.bulk import execute_many
from crmsync.store.key_lists import one_of
from crmsync.store.types import CampaignType
from crmsync.store.writes import dialect_insert
from crmsync.twoway.tables import BASES
from crmsync.twoway.values import same_value

__all__ = [
    "Base",
    "decode_base",
    "encode_base",
    "forget_bases",
    "forget_mapping",
    "load_bases",
    "save_bases",
]

#: Rows written by one statement of :func:`save_bases`.
BATCH = 500
_NUMBERS = (CampaignType.DOUBLE, CampaignType.FLOAT)
#: The types whose values JSON holds as they are (booleans aside: see :func:`_encode_value`).
_AS_IS: dict[CampaignType, type] = {
    CampaignType.STRING: str,
    CampaignType.TEXT: str,
    CampaignType.INTEGER: int,
}


@dataclass(frozen=True, slots=True)
class Base:
    """One record's last synced values (Campaign field → value) and each field's type."""

    values: Mapping[str, Any]
    types: Mapping[str, CampaignType]
    #: The CRM record's version (Dataverse) or none, and its last-modified time, at that sync.
    crm_version: str | None = None
    crm_modified_at: datetime | None = None
    #: When the base was written (set when it is loaded).
    updated_at: datetime | None = None
    #: Read from the Campaign row and the change log, not from a base row
    #: (:mod:`crmsync.twoway.implicit`): its version is the row's, which edits made before the
    #: capture existed may not match.
    implicit: bool = False
    #: The fields the Campaign → CRM round that made this base wrote to the CRM, with the values
    #: the CRM held before that write, at ``crm_version``. A CRM keeping whole seconds gives its
    #: write the version it was read at when both fall in one second: a change of that version
    #: holding such a value is the record as read, not a CRM change (:meth:`holds`).
    written_over: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if set(self.values) != set(self.types) or not set(self.written_over) <= set(self.types):
            raise ValueError(
                f"a base needs a type for each value: values {sorted(self.values)}, "
                f"types {sorted(self.types)}, written over {sorted(self.written_over)}"
            )
        if self.crm_modified_at is not None and self.crm_modified_at.utcoffset() is None:
            raise ValueError(f"naive time {self.crm_modified_at.isoformat()} has no time zone")
        object.__setattr__(self, "values", MappingProxyType(dict(self.values)))
        object.__setattr__(self, "types", MappingProxyType(dict(self.types)))
        object.__setattr__(self, "written_over", MappingProxyType(dict(self.written_over)))

    def values_for(self, fields: Mapping[str, CampaignType]) -> dict[str, Any]:
        """The base of :func:`~crmsync.twoway.rule.merge` for today's ``fields``: the values of
        the fields that have the same type as at the last sync."""
        return {
            name: self.values[name]
            for name, kind in fields.items()
            if name in self.types and self.types[name] is kind
        }

    def as_of_version(
        self, crm: Mapping[str, Any], fields: Mapping[str, CampaignType]
    ) -> dict[str, Any]:
        """The CRM's values ``crm`` (in Campaign terms) of a change with this base's very
        version, each field that holds what the CRM had before the base's own write
        (:attr:`written_over`) taken as that write's value: that is the record as it was read,
        delivered late."""
        values = dict(crm)
        for name, before in self.written_over.items():
            kind = fields.get(name)
            if kind is self.types[name] and same_value(kind, crm[name], before):
                values[name] = self.values[name]
        return values

    def holds(self, crm: Mapping[str, Any], fields: Mapping[str, CampaignType]) -> bool:
        """Whether a change with this base's very version (``crm``, in Campaign terms) is the
        state it was made from: every field the base knows holds its value, or what the CRM
        had before the base's own write."""
        values = self.as_of_version(crm, fields)
        return all(
            same_value(kind, values[name], self.values[name])
            for name, kind in fields.items()
            if name in self.types and self.types[name] is kind
        )


def load_bases(conn: sa.Connection, mapping: str, keys: Iterable[str]) -> dict[str, Base]:
    """The bases of the records of ``mapping`` with these ``keys`` (a key without one is left
    out)."""
    wanted = list(dict.fromkeys(keys))
    if not wanted:
        return {}
    found = conn.execute(
        sa.select(BASES).where(
            BASES.c.mapping == mapping, one_of(BASES.c.record_key, wanted, conn.dialect)
        )
    )
    return {
        row.record_key: decode_base(
            row.field_values,
            f"{mapping} record {row.record_key!r}",
            crm_version=row.crm_version,
            crm_modified_at=row.crm_modified_at,
            updated_at=row.updated_at,
        )
        for row in found
    }


def save_bases(conn: sa.Connection, mapping: str, bases: Mapping[str, Base]) -> None:
    """Write the bases of the records of ``mapping`` (record key → base), replacing those kept.

    Saving the same bases again changes nothing but their ``updated_at``."""
    rows = [
        {
            "mapping": mapping,
            "record_key": _check_key(key, mapping),
            "field_values": encode_base(base, mapping, key),
            "crm_version": base.crm_version,
            "crm_modified_at": base.crm_modified_at,
        }
        for key, base in bases.items()
    ]
    upsert = _upsert(conn.dialect.name)
    now = {"updated_at": datetime.now(UTC)}
    for start in range(0, len(rows), BATCH):
        execute_many(conn, upsert, BASES, rows[start : start + BATCH], constants=now)


#: The upsert of :func:`save_bases` per database, built once: its compiled form is kept, and its
#: rows go to the driver without SQLAlchemy's per-row parameter processing
#: (:func:`~crmsync.store.bulk.execute_many`), which cost more than the insert itself.
_UPSERTS: dict[str, Any] = {}


def _upsert(dialect: str) -> Any:
    upsert = _UPSERTS.get(dialect)
    if upsert is None:
        stmt = dialect_insert(dialect, BASES)
        upsert = _UPSERTS[dialect] = stmt.on_conflict_do_update(
            index_elements=[BASES.c.mapping, BASES.c.record_key],
            set_={
                name: stmt.excluded[name]
                for name in ("field_values", "crm_version", "crm_modified_at", "updated_at")
            },
        )
    return upsert


def forget_bases(conn: sa.Connection, mapping: str, keys: Iterable[str]) -> int:
    """Drop the bases of these records of ``mapping`` (deleted, or no longer synced); returns how
    many there were."""
    wanted = list(dict.fromkeys(keys))
    if not wanted:
        return 0
    done = conn.execute(
        sa.delete(BASES).where(
            BASES.c.mapping == mapping, one_of(BASES.c.record_key, wanted, conn.dialect)
        )
    )
    return done.rowcount


def forget_mapping(conn: sa.Connection, mapping: str) -> int:
    """Drop every base of ``mapping``; returns how many there were."""
    return conn.execute(sa.delete(BASES).where(BASES.c.mapping == mapping)).rowcount


def _check_key(key: object, mapping: str) -> str:
    if not isinstance(key, str) or not key:
        raise ValueError(f"base of {mapping}: a record key must be a non-empty text, not {key!r}")
    return key


def encode_base(base: Base, mapping: str, key: str) -> str:
    """The JSON text of ``base``'s values and types (see the module), for the record ``key``
    of ``mapping`` (named in errors)."""
    values, before = base.values, base.written_over
    document = {}
    for name, kind in base.types.items():
        try:
            document[name] = [kind.value, _encode_value(kind, values[name])]
            if name in before:
                document[name].append(_encode_value(kind, before[name]))
        except ValueError as exc:
            raise ValueError(f"base of {mapping} record {key!r}, field {name!r}: {exc}") from None
    return orjson.dumps(document, option=orjson.OPT_SORT_KEYS).decode()


def _encode_value(kind: CampaignType, value: Any) -> Any:
    """``value`` as JSON holds it; :class:`ValueError` when it is not a value of ``kind``."""
    if value is None:
        return None
    if isinstance(value, bool):  # a bool is an int to Python: a boolean only here
        if kind is CampaignType.BOOLEAN:
            return value
    elif isinstance(value, _AS_IS.get(kind, ())):
        return value
    elif kind in _NUMBERS and isinstance(value, float | int | Decimal):
        return repr(value) if isinstance(value, float) else str(value)
    elif kind is CampaignType.DATETIME and isinstance(value, datetime):
        if value.utcoffset() is None:
            raise ValueError(f"naive date and time {value.isoformat()}")
        return value.astimezone(UTC).isoformat()
    elif kind is CampaignType.DATE and isinstance(value, date) and not isinstance(value, datetime):
        return value.isoformat()
    raise ValueError(f"a {kind} value cannot be {type(value).__name__} {value!r}")


def decode_base(text: str, where: str, **known: Any) -> Base:
    """The base of :func:`encode_base`'s text, with the ``known`` attributes kept beside it
    (``crm_version``, ``crm_modified_at``, ``updated_at``)."""
    values: dict[str, Any] = {}
    types: dict[str, CampaignType] = {}
    before: dict[str, Any] = {}
    try:
        for name, (kind_name, encoded, *rest) in orjson.loads(text).items():
            kind = CampaignType(kind_name)
            values[name], types[name] = _decode_value(kind, encoded), kind
            if len(rest) > 1:
                raise ValueError(f"field {name!r} has {len(rest) + 2} elements")
            if rest:
                before[name] = _decode_value(kind, rest[0])
    except (ValueError, TypeError) as exc:
        raise ValueError(f"base of {where} is not a valid base: {exc}") from exc
    return Base(values, types, written_over=before, **known)


def _decode_value(kind: CampaignType, encoded: Any) -> Any:
    if encoded is None:
        return None
    if kind in _NUMBERS:
        return float(encoded)
    if kind is CampaignType.DATETIME:
        return datetime.fromisoformat(encoded).astimezone(UTC)
    if kind is CampaignType.DATE:
        return date.fromisoformat(encoded)
    return encoded
