"""Record writes shared by the single-record and the collection endpoints.

Each operation runs on the store's connection inside the caller's transaction or savepoint and
either returns what happened or raises :class:`~crmsync.emulators.salesforce.errors.RecordError`
(per-record failures) / :class:`~crmsync.emulators.salesforce.errors.ApiError` (the request
itself is wrong, e.g. a value of the wrong JSON type).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from crmsync.emulators.salesforce.errors import RecordError
from crmsync.emulators.salesforce.ids import normalize_id
from crmsync.emulators.salesforce.records import check_values
from crmsync.emulators.salesforce.schema import Field, FieldType, SObject
from crmsync.emulators.salesforce.store import DELETED_DATE, USER_ID, SalesforceStore

__all__ = ["Writer"]

#: The bound parameter naming the record an ``UPDATE`` changes (not a field name: those are
#: capitalised).
_RECORD_ID = "record_id"


class Writer:
    """Creates, updates, upserts and deletes records of the store."""

    def __init__(self, store: SalesforceStore) -> None:
        self.store = store
        self.schema = store.schema
        self._lookups: dict[tuple[str, str, bool], Any] = {}

    # --- helpers -----------------------------------------------------------------------------

    def _lookup(self, obj: SObject, field: str, excluding: bool) -> Any:
        """``SELECT Id`` of live records whose ``field`` equals the bound ``value`` (and whose
        id is not the bound ``record_id`` when ``excluding``), built once per shape: SQLAlchemy
        then finds it in its compiled cache without rebuilding and keying it for every record."""
        key = (obj.name, field, excluding)
        found = self._lookups.get(key)
        if found is None:
            table = self.store.table(obj)
            found = sa.select(table.c.Id).where(
                table.c[field] == sa.bindparam("value"), table.c.IsDeleted == 0
            )
            if excluding:
                found = found.where(table.c.Id != sa.bindparam(_RECORD_ID))
            found = found.limit(10)
            self._lookups[key] = found
        return found

    def _compute_name(
        self, obj: SObject, values: dict[str, Any], current: Mapping[str, Any]
    ) -> None:
        if obj.name_parts and any(part in values for part in obj.name_parts):
            parts = [values.get(p, current.get(p)) for p in obj.name_parts]
            values["Name"] = " ".join(str(p) for p in parts if p)

    def _check_unique(
        self, conn: Connection, obj: SObject, values: Mapping[str, Any], record_id: str | None
    ) -> None:
        for found in obj.fields:
            if not found.unique or values.get(found.name) is None:
                continue
            query = self._lookup(obj, found.name, record_id is not None)
            parameters = {"value": values[found.name], _RECORD_ID: record_id}
            other = conn.execute(query, parameters).scalar()
            if other is not None:
                raise RecordError(
                    "DUPLICATE_VALUE",
                    f"duplicate value found: {found.name} duplicates value on record with id: "
                    f"{other}",
                    [],
                )

    def _check_references(self, conn: Connection, obj: SObject, values: Mapping[str, Any]) -> None:
        for name, value in values.items():
            found = obj.field(name)
            if found is None or found.type != FieldType.REFERENCE or value is None:
                continue
            target = self.schema.by_prefix(value[:3])
            if target is None:
                continue  # users: the emulator has one, any user id is accepted
            table = self.store.table(target)
            exists = conn.execute(
                sa.select(table.c.Id).where(table.c.Id == value, table.c.IsDeleted == 0)
            ).first()
            if exists is None:
                raise RecordError(
                    "INVALID_CROSS_REFERENCE_KEY",
                    "invalid cross reference id",
                    [found.name],
                )

    def _live(self, conn: Connection, obj: SObject, record_id: str) -> Mapping[str, Any]:
        table = self.store.table(obj)
        row = conn.execute(sa.select(table).where(table.c.Id == record_id)).mappings().first()
        if row is None:
            raise RecordError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [])
        if row["IsDeleted"]:
            raise RecordError("ENTITY_IS_DELETED", "entity is deleted", [])
        return dict(row)

    def resolve_id(self, obj: SObject, value: Any) -> str:
        """The 18-character id of ``value`` for ``obj``, or ``MALFORMED_ID``."""
        normalized = normalize_id(value) if isinstance(value, str) else None
        if normalized is None or normalized[:3] != obj.key_prefix:
            raise RecordError(
                "MALFORMED_ID", f"{obj.label} ID: id value of incorrect type: {value}", ["Id"]
            )
        return normalized

    # --- operations --------------------------------------------------------------------------

    def create(self, conn: Connection, obj: SObject, body: Mapping[str, Any]) -> str:
        values = check_values(obj, self.schema, body, creating=True)
        missing = [f.name for f in obj.fields if f.required and values.get(f.name) is None]
        if missing:
            raise RecordError(
                "REQUIRED_FIELD_MISSING",
                f"Required fields are missing: [{', '.join(missing)}]",
                missing,
            )
        self._compute_name(obj, values, {})
        self._check_unique(conn, obj, values, None)
        self._check_references(conn, obj, values)
        record_id = self.store.ids.next(obj.key_prefix)
        now = self.store.now()
        row: dict[str, Any] = {f.name: _default(f) for f in obj.fields}
        row.update(values)
        if obj.field("Name") is not None and row.get("Name") is None:
            row["Name"] = record_id  # what Salesforce does for a custom object left unnamed
        row.update(
            Id=record_id,
            IsDeleted=0,
            OwnerId=row.get("OwnerId") or USER_ID,
            CreatedById=USER_ID,
            LastModifiedById=USER_ID,
            CreatedDate=now,
            LastModifiedDate=now,
            SystemModstamp=now,
        )
        # Values as execution parameters, not in the statement: SQLAlchemy then compiles one
        # INSERT per column set and caches it, instead of building and keying a new one per row.
        conn.execute(self.store.table(obj).insert(), row)
        return record_id

    def update(
        self, conn: Connection, obj: SObject, record_id: str, body: Mapping[str, Any]
    ) -> None:
        values = check_values(obj, self.schema, body, creating=False)
        current = self._live(conn, obj, record_id)
        self._compute_name(obj, values, current)
        self._check_unique(conn, obj, values, record_id)
        self._check_references(conn, obj, values)
        now = self.store.now()
        values.update(LastModifiedDate=now, SystemModstamp=now, LastModifiedById=USER_ID)
        table = self.store.table(obj)
        conn.execute(
            sa.update(table).where(table.c.Id == sa.bindparam(_RECORD_ID)),
            {**values, _RECORD_ID: record_id},
        )

    def find_by(self, conn: Connection, obj: SObject, found: Field, value: Any) -> list[str]:
        """Ids of live records whose ``found`` field equals ``value``."""
        if found.type == FieldType.ID:
            value = normalize_id(str(value)) or str(value)
        query = self._lookup(obj, found.name, excluding=False)
        return list(conn.execute(query, {"value": value}).scalars())

    def upsert(
        self,
        conn: Connection,
        obj: SObject,
        found: Field,
        value: Any,
        body: Mapping[str, Any],
        *,
        update_only: bool = False,
    ) -> tuple[str, bool]:
        """Create or update by external id; returns ``(id, created)``.

        Raises ``MultipleMatches`` (a :class:`RecordError` with the matching ids) when several
        records share the value.
        """
        matches = self.find_by(conn, obj, found, value)
        if len(matches) > 1:
            raise MultipleMatches(obj, found, matches)
        payload = {k: v for k, v in body.items() if k.lower() != found.name.lower()}
        if matches:
            self.update(conn, obj, matches[0], payload)
            return matches[0], False
        if update_only or found.type == FieldType.ID:
            raise RecordError(
                "NOT_FOUND",
                f"Provided external ID field does not exist or is not accessible: {value}",
                [],
            )
        payload[found.name] = value
        return self.create(conn, obj, payload), True

    def delete(self, conn: Connection, obj: SObject, record_id: str) -> None:
        self._live(conn, obj, record_id)
        now = self.store.now()
        table = self.store.table(obj)
        conn.execute(
            sa.update(table)
            .where(table.c.Id == record_id)
            .values({"IsDeleted": 1, DELETED_DATE: now, "SystemModstamp": now})
        )


class MultipleMatches(RecordError):
    """Several records have the external id value an upsert gave."""

    def __init__(self, obj: SObject, found: Field, ids: list[str]) -> None:
        super().__init__(
            "DUPLICATE_EXTERNAL_ID",
            f"{found.name}: more than one record found for external id field: [{', '.join(ids)}]",
            [found.name],
        )
        self.obj = obj
        self.ids = ids


def _default(found: Field) -> Any:
    if found.type == FieldType.BOOLEAN:
        return 0
    for option in found.picklist:
        if option.default:
            return option.value
    return None
