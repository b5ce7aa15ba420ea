"""Privacy deletes (SPEC §8): the one service every face (CLI, API, console) calls.

:meth:`PrivacyService.delete_profile` removes a profile found by its Campaign id, email or CRM
id, in one store transaction: the profile, every record linked to it, everything crmsync keeps
about them (:mod:`crmsync.privacy.erase`), and it puts their ids and the email's hash on the
suppression list (:mod:`crmsync.state.suppressions`) and writes the action's record
(:mod:`crmsync.privacy.records`) in that same transaction. The transaction first takes the write
lock of every inbound mapping of those resources, so that no writer applies a change of the
person between the look-up and the commit; after it, every writer leaves them out.

Then, outside the store: the person's changes still waiting in a SQLite change queue are removed
from it (a NATS queue cannot rewrite its messages: the writers skip them), and, when asked, the
CRM record is deleted. The record says ``pending`` from the local commit until the CRM answered,
so a process killed at any point is finished by running the same delete again: the profile is
gone, its earlier delete is found, the queue is scrubbed again and a pending CRM delete is sent
(a CRM answering that the record does not exist counts as done). A CRM refusal is recorded and
reported; the local delete stands.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa

from crmsync.audit import Action, Actor, record
from crmsync.config.models import Config
from crmsync.connectors.base import Connector, WriteOp, WriteResult
from crmsync.errors import ConfigurationError, CrmsyncError
from crmsync.events.tables import EVENT_TABLES
from crmsync.privacy.erase import (
    collect,
    erase,
    keys_by_mapping,
    mapping_of,
    resource_tables,
    suppressions,
)
from crmsync.privacy.errors import NothingToLift, PrivacyRefused, ProfileNotFound
from crmsync.privacy.records import (
    CrmDelete,
    PrivacyAction,
    PrivacyRecord,
    add_record,
    find_earlier_delete,
    load_record,
    newest_records,
    note_removed,
    request_crm_delete,
    settle_crm_delete,
)
from crmsync.queue.sqlite import SQLiteQueue
from crmsync.runtime.connectors import ConnectorOpener, open_connector
from crmsync.runtime.queues import open_queue
from crmsync.state.store import StateStore
from crmsync.state.suppressions import EMAIL_FIELD, Suppression, email_hash
from crmsync.store.engine import write_transaction
from crmsync.store.resources import PROFILE

__all__ = ["DeleteResult", "PrivacyService", "ProfileSummary", "Target", "TargetKind"]

logger = logging.getLogger(__name__)

#: How a profile is named: its Campaign id, its email, its CRM id.
TargetKind = Literal["profile", "email", "crm_id"]
#: The record of the change queue's removed changes (outside the store).
QUEUE = "change queue"
#: Answers that say the CRM could not decide now: the delete stays pending.
_RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})
#: Statuses of errors (rather than failed results) that answer the delete for good.
_REFUSED_AS_ERROR = frozenset({403, 404})
#: Codes the CRMs give a record that does not exist (beside HTTP 404).
_NOT_FOUND_CODES = frozenset({"ENTITY_IS_DELETED", "NOT_FOUND", "INVALID_CROSS_REFERENCE_KEY"})


@dataclass(frozen=True, slots=True)
class Target:
    """The profile a request names."""

    kind: TargetKind
    value: str

    def __post_init__(self) -> None:
        if not self.value.strip():
            raise PrivacyRefused(f"the {self.label} is empty", code="INVALID_TARGET")
        if self.kind == "profile" and not self.value.strip().isdigit():
            raise PrivacyRefused(
                f"a Campaign profile id is a number, not {self.value!r}", code="INVALID_TARGET"
            )

    @property
    def label(self) -> str:
        return {"profile": "Campaign profile id", "email": "email", "crm_id": "CRM id"}[self.kind]

    def describe(self) -> str:
        """The target for a message: never the email itself."""
        if self.kind == "email":
            return "the given email"
        return f"{self.label} {self.value.strip()}"


@dataclass(frozen=True, slots=True)
class ProfileSummary:
    """What a look-up shows of a profile: its ids and how many records would go with it."""

    profile_id: int
    crm_id: str | None
    has_email: bool
    linked: Mapping[str, int]
    events: int


@dataclass(frozen=True, slots=True)
class DeleteResult:
    record: PrivacyRecord
    #: The profile was deleted by an earlier run: this one finished what it left.
    earlier: bool
    #: Why the CRM delete was refused or is still pending (the CRM's words; not stored).
    crm_message: str | None = None

    def as_dict(self) -> dict[str, object]:
        return {**self.record.as_dict(), "earlier": self.earlier, "crm_message": self.crm_message}


class PrivacyService:
    """Privacy deletes and the suppression list of ``config``'s store (``engine``)."""

    def __init__(
        self,
        config: Config,
        engine: sa.Engine,
        *,
        environ: Mapping[str, str] | None = None,
        opener: ConnectorOpener = open_connector,
    ) -> None:
        self.config = config
        self.engine = engine
        self.environ = environ
        self._opener = opener
        self.state = StateStore(engine)
        _, tables = resource_tables(config)
        self._profiles = tables[PROFILE.name]

    # -- look-up --------------------------------------------------------------------------------

    def look_up(self, target: Target) -> ProfileSummary | None:
        """The profile ``target`` names and what a delete would remove, or ``None``."""
        with self.engine.connect() as conn:
            row = self._profile(conn, target)
            if row is None:
                return None
            person = collect(conn, self.config, row)
            events = _event_count(conn, person.profile_id)
        return ProfileSummary(
            profile_id=person.profile_id,
            crm_id=person.crm_id,
            has_email=person.email_hash is not None,
            linked=person.linked_counts(),
            events=events,
        )

    def _profile(self, conn: sa.Connection, target: Target) -> Mapping[str, Any] | None:
        t = self._profiles
        value = target.value.strip()
        if target.kind == "profile":
            condition = t.c.id == int(value)
        elif target.kind == "crm_id":
            condition = t.c.external_id == value
        else:
            condition = sa.func.lower(t.c[EMAIL_FIELD]) == value.lower()
        query = sa.select(t.c.id, t.c.external_id, t.c[EMAIL_FIELD]).where(condition)
        rows = conn.execute(query.order_by(t.c.id).limit(21)).mappings().all()
        if len(rows) > 1:
            ids = ", ".join(str(row["id"]) for row in rows[:20])
            raise PrivacyRefused(
                f"{len(rows) if len(rows) <= 20 else 'more than 20'} profiles have "
                f"{target.describe()} (Campaign ids {ids}): delete each by its Campaign id",
                code="AMBIGUOUS_TARGET",
            )
        return dict(rows[0]) if rows else None

    # -- delete ---------------------------------------------------------------------------------

    async def delete_profile(
        self, target: Target, *, reason: str, by: Actor, crm_delete: bool = False
    ) -> DeleteResult:
        """Privacy-delete the profile ``target`` names (see the module). Raises
        :class:`ProfileNotFound` when neither a profile nor an earlier delete of one matches,
        :class:`PrivacyRefused` (nothing changed) when it cannot be done as asked."""
        if crm_delete:
            self._require_profile_mapping()
        record_id, earlier = await asyncio.to_thread(
            self._delete_locally, target, reason, by, crm_delete
        )
        await self._forget_queued(record_id)
        message = None
        record = await asyncio.to_thread(self.record, record_id)
        if record.crm_delete is CrmDelete.PENDING:
            message = await self._delete_in_crm(record)
            record = await asyncio.to_thread(self.record, record_id)
        return DeleteResult(record, earlier, message)

    def _require_profile_mapping(self) -> None:
        """A CRM delete goes to the CRM table the profile's inbound mapping reads."""
        if mapping_of(self.config, PROFILE.name) is None:
            raise ConfigurationError(
                "a CRM delete needs the inbound mapping that reads profiles, and the "
                "configuration has none: the CRM table of the profile is unknown"
            )

    def _delete_locally(
        self, target: Target, reason: str, by: Actor, crm_delete: bool
    ) -> tuple[str, bool]:
        """The local delete, in one transaction; the record's id and whether an earlier delete
        was found instead."""
        with write_transaction(self.engine) as conn:
            for name in self._mappings_to_hold():
                self.state.counters.hold_mapping(conn, name)
            row = self._profile(conn, target)
            if row is None:
                # Asked again (to finish its CRM delete, or to ask for one): an action too.
                earlier = self._earlier(conn, target, crm_delete)
                _audit(conn, by, Action.PRIVACY_DELETE, earlier)
                return earlier, True
            if target.kind == "profile":
                self._refuse_reused_id(conn, int(row["id"]))
            person = collect(conn, self.config, row)
            where: tuple[str | None, str | None] = (None, None)
            mapping = mapping_of(self.config, PROFILE.name)
            if mapping is not None:
                where = (mapping.connection, mapping.crm_table)
            if crm_delete and person.crm_id is None:
                raise PrivacyRefused(
                    f"profile {person.profile_id} has no CRM id: there is no CRM record to "
                    "delete (delete it without the CRM delete)",
                    code="NO_CRM_ID",
                )
            removed = erase(conn, self.config, person)
            record_id = add_record(
                conn,
                PrivacyAction.DELETE,
                actor=by.name,
                reason=reason,
                removed=removed,
                profile_id=person.profile_id,
                crm_id=person.crm_id,
                connection=where[0],
                crm_table=where[1],
                email_hash=person.email_hash,
                crm_delete=CrmDelete.PENDING if crm_delete else None,
            )
            self.state.suppressions.add(
                conn,
                suppressions(self.config, person),
                reason=reason,
                by=by.name,
                delete_id=record_id,
            )
            _audit(conn, by, Action.PRIVACY_DELETE, record_id)
        logger.info(
            "privacy delete %s of profile %d by %s: %s",
            record_id,
            person.profile_id,
            by.name,
            _summary(removed),
        )
        return record_id, False

    @staticmethod
    def _refuse_reused_id(conn: sa.Connection, profile_id: int) -> None:
        """SQLite gives the id of a deleted last row to the next one: a Campaign id a privacy
        delete removed may name another profile now, which a re-run must not delete."""
        earlier = find_earlier_delete(conn, profile_id=profile_id)
        if earlier is not None:
            raise PrivacyRefused(
                f"Campaign id {profile_id} was privacy-deleted by {earlier.id}; the profile "
                "holding that id now is another one (the database gave the id again): delete it "
                "by its CRM id or email",
                code="REUSED_ID",
            )

    def _mappings_to_hold(self) -> list[str]:
        """The inbound mappings of the profile and of every resource linked to it, sorted (one
        order for every taker)."""
        reached = {PROFILE.name}
        grew = True
        while grew:
            grew = False
            for resource in self.config.resources:
                linked = any(link.resource in reached for link in resource.links)
                if linked and resource.name not in reached:
                    reached.add(resource.name)
                    grew = True
        return sorted(m.name for m in self.config.inbound.mappings if m.resource in reached)

    def _earlier(self, conn: sa.Connection, target: Target, crm_delete: bool) -> str:
        value = target.value.strip()
        found = find_earlier_delete(
            conn,
            profile_id=int(value) if target.kind == "profile" else None,
            crm_id=value if target.kind == "crm_id" else None,
            email_hash=email_hash(value) if target.kind == "email" else None,
        )
        if found is None:
            raise ProfileNotFound(
                f"no profile has {target.describe()}, and no privacy delete removed one",
                code="PROFILE_NOT_FOUND",
            )
        if crm_delete and found.crm_delete is None:
            if found.crm_id is None or found.crm_table is None:
                raise PrivacyRefused(
                    f"the profile privacy-deleted by {found.id} had no CRM id or no mapped CRM "
                    "table: there is no CRM record to delete",
                    code="NO_CRM_ID",
                )
            request_crm_delete(conn, found.id)
        return found.id

    async def _forget_queued(self, record_id: str) -> None:
        """Remove the deleted records' changes from a SQLite change queue (a NATS queue keeps
        them: the writers skip them)."""
        by_mapping = await asyncio.to_thread(self._queued_keys, record_id)
        if not by_mapping:
            return
        queue = open_queue(self.config, environ=self.environ)
        try:
            assert isinstance(queue, SQLiteQueue)
            removed = 0
            for mapping, keys in by_mapping.items():
                removed += await queue.forget(mapping, keys)
        finally:
            await queue.aclose()
        if removed:
            await asyncio.to_thread(self._note_removed, record_id, QUEUE, removed)

    def _queued_keys(self, record_id: str) -> dict[str, list[str]]:
        """The keys the delete ``record_id`` suppressed, by mapping, when a SQLite queue exists."""
        if self.config.queue.kind != "sqlite" or not Path(self.config.queue.path).exists():
            return {}
        with self.engine.connect() as conn:
            entries = self.state.suppressions.of_delete(conn, record_id)
        return keys_by_mapping(
            self.config, ((s.resource, s.key) for s in entries if s.kind == "crm_id")
        )

    def _note_removed(self, record_id: str, table: str, count: int) -> None:
        with self.engine.begin() as conn:
            note_removed(conn, record_id, table, count)

    async def _delete_in_crm(self, record: PrivacyRecord) -> str | None:
        """Send the pending CRM delete of ``record`` and settle it; what to report (``None``:
        deleted, or already gone)."""
        assert record.connection is not None
        assert record.crm_table is not None
        assert record.crm_id is not None
        connection = self.config.connections.get(record.connection)
        if connection is None:
            return (
                f"the connection '{record.connection}' is no longer configured: the CRM "
                "delete stays pending"
            )
        try:
            connector = self._opener(record.connection, connection, self.environ)
            try:
                answer = await self._send_delete(connector, record)
            finally:
                await connector.aclose()
        except CrmsyncError as exc:
            # A refusal may come as an error (Dataverse: 403, the user may not delete).
            answer = WriteResult(ok=False, code=exc.code, message=exc.message, status=exc.status)
            if exc.status not in _REFUSED_AS_ERROR:
                return f"the CRM could not be asked ({exc.message}): the CRM delete stays pending"
        outcome, error = _outcome(answer)
        if outcome is None:
            return (
                f"the CRM could not delete now ({answer.message or answer.code}): the CRM "
                "delete stays pending"
            )
        await asyncio.to_thread(self._settle, record.id, outcome, error)
        logger.info("privacy delete %s: CRM delete %s", record.id, outcome.value)
        if outcome is CrmDelete.REFUSED:
            return f"the CRM refused the delete: {answer.message or error}"
        return None

    async def _send_delete(self, connector: Connector, record: PrivacyRecord) -> WriteResult:
        """The CRM's answer to the delete of ``record``'s CRM record."""
        assert record.crm_table is not None
        op = WriteOp("delete", record.crm_table, id=record.crm_id)
        [answer] = await connector.write([op], batch=False)  # one record: its own request
        return answer

    def _settle(self, record_id: str, outcome: CrmDelete, error: str | None) -> None:
        with self.engine.begin() as conn:
            settle_crm_delete(conn, record_id, outcome, error)

    # -- records and the suppression list -------------------------------------------------------

    def record(self, record_id: str) -> PrivacyRecord:
        with self.engine.connect() as conn:
            found = load_record(conn, record_id)
        if found is None:
            raise ProfileNotFound(f"no privacy record {record_id}", code="RECORD_NOT_FOUND")
        return found

    def records(self, *, limit: int = 100) -> list[PrivacyRecord]:
        """The newest privacy actions first."""
        with self.engine.connect() as conn:
            return newest_records(conn, limit=limit)

    def suppressions(self) -> list[Suppression]:
        """The suppression list, oldest first (ids and hashes only)."""
        return self.state.suppressions.listed()

    def is_suppressed(self, resource: str, key: str) -> bool:
        """Whether the record of ``resource`` with this key (CRM id) is suppressed."""
        with self.engine.connect() as conn:
            return bool(self.state.suppressions.found(conn, "crm_id", resource, [key]))

    def is_email_suppressed(self, email: str) -> bool:
        with self.engine.connect() as conn:
            found = self.state.suppressions.found(conn, "email", PROFILE.name, [email_hash(email)])
        return bool(found)

    def unsuppress(
        self,
        kind: Literal["crm_id", "email"],
        value: str,
        *,
        reason: str,
        by: Actor,
        resource: str = PROFILE.name,
    ) -> PrivacyRecord:
        """Lift the suppression of a CRM id (of ``resource``) or of an email: the CRM may bring
        the record back from then on. Recorded with its ``reason``, which is required."""
        if not reason.strip():
            raise PrivacyRefused("say why the suppression is lifted (a reason)", code="NO_REASON")
        value = value.strip()
        if not value:
            raise PrivacyRefused("the CRM id or email is empty", code="INVALID_TARGET")
        key = email_hash(value) if kind == "email" else value
        with write_transaction(self.engine) as conn:
            lifted = self.state.suppressions.lift(conn, kind, resource, key)
            if lifted is None:
                shown = "the given email" if kind == "email" else f"CRM id {value} of {resource}"
                raise NothingToLift(f"{shown} is not suppressed", code="NOT_SUPPRESSED")
            record_id = add_record(
                conn,
                PrivacyAction.UNSUPPRESS,
                actor=by.name,
                reason=reason,
                removed={"crmsync_suppressions": 1},
                crm_id=key if kind == "crm_id" else None,
                connection=lifted.connection,
                crm_table=lifted.crm_table,
                email_hash=key if kind == "email" else None,
            )
            _audit(conn, by, Action.PRIVACY_UNSUPPRESS, record_id)
        logger.info("suppression of a %s lifted by %s (%s)", kind, by.name, record_id)
        return self.record(record_id)


def _audit(conn: sa.Connection, by: Actor, action: Action, record_id: str) -> None:
    """Put the privacy action in the operator audit trail, in the action's transaction: the trail
    names the privacy record (whose ids, counts and CRM outcome ``crmsync privacy`` shows) and
    keeps no reason, which is free text."""
    found = load_record(conn, record_id)
    assert found is not None  # added by the caller's transaction
    details = {name: value for name, value in found.as_dict().items() if name != "reason"}
    record(conn, actor=by.name, face=by.face, action=action, target=record_id, details=details)


def _outcome(answer: WriteResult) -> tuple[CrmDelete | None, str | None]:
    """What the CRM's answer to a delete means (``None``: ask again later)."""
    if answer.ok:
        return CrmDelete.DELETED, None
    if answer.status == 404 or answer.code in _NOT_FOUND_CODES:
        return CrmDelete.NOT_FOUND, answer.code
    if answer.status in _RETRY_STATUS or (answer.status is None and answer.code is None):
        return None, None
    return CrmDelete.REFUSED, answer.code or f"HTTP {answer.status}"


def _event_count(conn: sa.Connection, profile_id: int) -> int:
    total = 0
    for table in EVENT_TABLES.values():
        query = sa.select(sa.func.count()).where(table.c.profile_id == profile_id)
        total += int(conn.scalar(query) or 0)
    return total


def _summary(removed: Mapping[str, int]) -> str:
    return ", ".join(f"{table} {count}" for table, count in sorted(removed.items())) or "nothing"
