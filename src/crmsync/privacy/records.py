"""The record of each privacy action (``crmsync_privacy_actions``): what it holds, one function
per step a delete's CRM delete goes through (``pending`` → ``deleted`` | ``not_found`` |
``refused``)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa

from crmsync.privacy.tables import ACTIONS

__all__ = [
    "CrmDelete",
    "PrivacyAction",
    "PrivacyRecord",
    "add_record",
    "find_earlier_delete",
    "load_record",
    "newest_records",
    "note_removed",
    "request_crm_delete",
    "settle_crm_delete",
]


class PrivacyAction(StrEnum):
    DELETE = "delete"
    UNSUPPRESS = "unsuppress"


class CrmDelete(StrEnum):
    """Where the CRM delete a privacy delete asked for stands."""

    PENDING = "pending"
    DELETED = "deleted"
    #: The CRM had no such record (already deleted): done.
    NOT_FOUND = "not_found"
    #: The CRM refused; the local delete stands.
    REFUSED = "refused"


@dataclass(frozen=True, slots=True)
class PrivacyRecord:
    """One privacy action, as kept: ids, hashes and counts, never the deleted values."""

    id: str
    action: PrivacyAction
    at: datetime
    actor: str
    reason: str
    profile_id: int | None
    crm_id: str | None
    connection: str | None
    crm_table: str | None
    email_hash: str | None
    removed: Mapping[str, int]
    crm_delete: CrmDelete | None
    crm_error: str | None
    crm_done_at: datetime | None

    def as_dict(self) -> dict[str, Any]:
        """The record as JSON-ready values (what the faces show, and what the operator audit
        trail can keep: it holds no personal data)."""
        return {
            "id": self.id,
            "action": self.action.value,
            "at": self.at.isoformat(),
            "actor": self.actor,
            "reason": self.reason,
            "profile_id": self.profile_id,
            "crm_id": self.crm_id,
            "connection": self.connection,
            "crm_table": self.crm_table,
            "email_hash": self.email_hash,
            "removed": dict(self.removed),
            "crm_delete": None if self.crm_delete is None else self.crm_delete.value,
            "crm_error": self.crm_error,
            "crm_done_at": None if self.crm_done_at is None else self.crm_done_at.isoformat(),
        }


def add_record(
    conn: sa.Connection,
    action: PrivacyAction,
    *,
    actor: str,
    reason: str,
    removed: Mapping[str, int],
    profile_id: int | None = None,
    crm_id: str | None = None,
    connection: str | None = None,
    crm_table: str | None = None,
    email_hash: str | None = None,
    crm_delete: CrmDelete | None = None,
) -> str:
    """In the caller's transaction (that of the action itself): the action's record; its id."""
    record_id = uuid.uuid4().hex
    conn.execute(
        sa.insert(ACTIONS).values(
            id=record_id,
            action=action.value,
            at=datetime.now(UTC),
            actor=actor,
            reason=reason,
            profile_id=profile_id,
            crm_id=crm_id,
            connection=connection,
            crm_table=crm_table,
            email_hash=email_hash,
            removed=json.dumps(dict(removed), sort_keys=True),
            crm_delete=None if crm_delete is None else crm_delete.value,
        )
    )
    return record_id


def load_record(conn: sa.Connection, record_id: str) -> PrivacyRecord | None:
    row = conn.execute(sa.select(ACTIONS).where(ACTIONS.c.id == record_id)).first()
    return None if row is None else _record(row)


def newest_records(conn: sa.Connection, *, limit: int = 100) -> list[PrivacyRecord]:
    query = sa.select(ACTIONS).order_by(ACTIONS.c.at.desc(), ACTIONS.c.id).limit(limit)
    return [_record(row) for row in conn.execute(query)]


def find_earlier_delete(
    conn: sa.Connection,
    *,
    profile_id: int | None = None,
    crm_id: str | None = None,
    email_hash: str | None = None,
) -> PrivacyRecord | None:
    """The newest privacy delete of the profile with this Campaign id, CRM id or email hash."""
    conditions = [
        column == value
        for column, value in (
            (ACTIONS.c.profile_id, profile_id),
            (ACTIONS.c.crm_id, crm_id),
            (ACTIONS.c.email_hash, email_hash),
        )
        if value is not None
    ]
    if not conditions:
        return None
    query = (
        sa.select(ACTIONS)
        .where(ACTIONS.c.action == PrivacyAction.DELETE.value, sa.or_(*conditions))
        .order_by(ACTIONS.c.at.desc())
        .limit(1)
    )
    row = conn.execute(query).first()
    return None if row is None else _record(row)


def note_removed(conn: sa.Connection, record_id: str, table: str, count: int) -> None:
    """Add ``count`` rows removed from ``table`` (outside the store: the change queue) to the
    record."""
    removed = json.loads(
        conn.execute(sa.select(ACTIONS.c.removed).where(ACTIONS.c.id == record_id)).scalar_one()
    )
    removed[table] = removed.get(table, 0) + count
    conn.execute(
        sa.update(ACTIONS)
        .where(ACTIONS.c.id == record_id)
        .values(removed=json.dumps(removed, sort_keys=True))
    )


def request_crm_delete(conn: sa.Connection, record_id: str) -> None:
    """A delete made without its CRM delete asks for it now: ``pending``."""
    conn.execute(
        sa.update(ACTIONS)
        .where(ACTIONS.c.id == record_id, ACTIONS.c.crm_delete.is_(None))
        .values(crm_delete=CrmDelete.PENDING.value)
    )


def settle_crm_delete(
    conn: sa.Connection, record_id: str, outcome: CrmDelete, error: str | None
) -> bool:
    """Record the CRM's answer to a pending delete; whether it was still pending."""
    done = conn.execute(
        sa.update(ACTIONS)
        .where(ACTIONS.c.id == record_id, ACTIONS.c.crm_delete == CrmDelete.PENDING.value)
        .values(crm_delete=outcome.value, crm_error=error, crm_done_at=datetime.now(UTC))
    )
    return done.rowcount == 1


def _record(row: Any) -> PrivacyRecord:
    return PrivacyRecord(
        id=row.id,
        action=PrivacyAction(row.action),
        at=row.at,
        actor=row.actor,
        reason=row.reason,
        profile_id=row.profile_id,
        crm_id=row.crm_id,
        connection=row.connection,
        crm_table=row.crm_table,
        email_hash=row.email_hash,
        removed=json.loads(row.removed),
        crm_delete=None if row.crm_delete is None else CrmDelete(row.crm_delete),
        crm_error=row.crm_error,
        crm_done_at=row.crm_done_at,
    )
