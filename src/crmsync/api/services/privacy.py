"""Privacy deletes and the suppression list for the API and the console (admins only): the
request and answer bodies, and the service that runs :class:`crmsync.privacy.PrivacyService` on
the server's store and active configuration of ``inbound``."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from crmsync.api.errors import Conflict, NotFound
from crmsync.audit import Actor
from crmsync.errors import CrmsyncError
from crmsync.privacy import (
    DeleteResult,
    NothingToLift,
    PrivacyRecord,
    PrivacyRefused,
    PrivacyService,
    ProfileNotFound,
    ProfileSummary,
    Target,
)
from crmsync.privacy.service import TargetKind
from crmsync.runtime.connectors import ConnectorOpener, open_connector
from crmsync.state.suppressions import Suppression
from crmsync.workflows.supervisor import Supervisor

__all__ = [
    "LookupOut",
    "PrivacyApiService",
    "PrivacyDeleteIn",
    "PrivacyDeleteOut",
    "PrivacyRecordOut",
    "ProfileIn",
    "SuppressionOut",
    "UnsuppressIn",
]

_Text = Annotated[str, Field(min_length=1, max_length=320)]


class ProfileIn(BaseModel):
    """A profile named by exactly one of its Campaign id, email and CRM id."""

    model_config = ConfigDict(extra="forbid")

    profile_id: int | None = Field(default=None, ge=1, description="The Campaign id.")
    email: _Text | None = None
    crm_id: _Text | None = None

    @model_validator(mode="after")
    def _one(self) -> Self:
        if sum(value is not None for value in (self.profile_id, self.email, self.crm_id)) != 1:
            raise ValueError("give exactly one of profile_id, email and crm_id")
        return self

    def target(self) -> Target:
        kind: TargetKind
        if self.profile_id is not None:
            kind, value = "profile", str(self.profile_id)
        elif self.email is not None:
            kind, value = "email", self.email
        else:
            kind, value = "crm_id", self.crm_id or ""
        return Target(kind, value)


class PrivacyDeleteIn(ProfileIn):
    reason: str = Field(default="", max_length=2000, description="Why (kept in the record).")
    crm_delete: bool = Field(default=False, description="Delete the CRM record too.")


class UnsuppressIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    crm_id: _Text | None = None
    email: _Text | None = None
    resource: str = Field(default="profile", max_length=63)
    reason: str = Field(min_length=1, max_length=2000)

    @model_validator(mode="after")
    def _one(self) -> Self:
        if (self.crm_id is None) == (self.email is None):
            raise ValueError("give exactly one of crm_id and email")
        return self


class PrivacyRecordOut(BaseModel):
    """A privacy action as kept: ids, hashes and counts, never the deleted values."""

    model_config = ConfigDict(frozen=True)

    id: str
    action: Literal["delete", "unsuppress"]
    at: datetime
    actor: str
    reason: str
    profile_id: int | None
    crm_id: str | None
    connection: str | None
    crm_table: str | None
    email_hash: str | None = Field(description="SHA-256 of the prefixed, lower-cased email.")
    removed: dict[str, int] = Field(description="Rows removed per table.")
    crm_delete: Literal["pending", "deleted", "not_found", "refused"] | None
    crm_error: str | None
    crm_done_at: datetime | None

    @classmethod
    def of(cls, record: PrivacyRecord) -> PrivacyRecordOut:
        return cls.model_validate(record.as_dict())


class PrivacyDeleteOut(BaseModel):
    model_config = ConfigDict(frozen=True)

    record: PrivacyRecordOut
    earlier: bool = Field(description="An earlier delete had removed the profile; finished.")
    crm_message: str | None = Field(description="Why the CRM delete was refused or is pending.")


class SuppressionOut(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: int
    kind: Literal["crm_id", "email"]
    resource: str
    key: str = Field(description="The CRM id, or the email's hash.")
    connection: str | None
    crm_table: str | None
    reason: str
    suppressed_at: datetime
    suppressed_by: str
    delete_id: str | None

    @classmethod
    def of(cls, entry: Suppression) -> SuppressionOut:
        return cls.model_validate(entry.as_dict())


class LookupOut(BaseModel):
    """A profile's ids and how many records a privacy delete would remove with it."""

    model_config = ConfigDict(frozen=True)

    profile_id: int
    crm_id: str | None
    has_email: bool
    linked: dict[str, int] = Field(description="Linked records per resource.")
    events: int

    @classmethod
    def of(cls, summary: ProfileSummary) -> LookupOut:
        return cls(
            profile_id=summary.profile_id,
            crm_id=summary.crm_id,
            has_email=summary.has_email,
            linked=dict(summary.linked),
            events=summary.events,
        )


class PrivacyApiService:
    def __init__(self, supervisor: Supervisor, *, opener: ConnectorOpener = open_connector) -> None:
        self.supervisor = supervisor
        self._opener = opener

    def _service(self) -> PrivacyService:
        return PrivacyService(
            self.supervisor.config("inbound"),
            self.supervisor.engine,
            environ=self.supervisor.environ,
            opener=self._opener,
        )

    async def look_up(self, body: ProfileIn) -> LookupOut:
        service = await asyncio.to_thread(self._service)
        try:
            found = await asyncio.to_thread(service.look_up, body.target())
        except PrivacyRefused as exc:
            raise Conflict(exc.message, code=exc.code) from None
        if found is None:
            raise NotFound("no profile matches", code="PROFILE_NOT_FOUND")
        return LookupOut.of(found)

    async def delete(self, body: PrivacyDeleteIn, by: Actor) -> PrivacyDeleteOut:
        service = await asyncio.to_thread(self._service)
        try:
            result: DeleteResult = await service.delete_profile(
                body.target(), reason=body.reason, by=by, crm_delete=body.crm_delete
            )
        except ProfileNotFound as exc:
            raise NotFound(exc.message, code=exc.code) from None
        except PrivacyRefused as exc:
            raise Conflict(exc.message, code=exc.code) from None
        return PrivacyDeleteOut(
            record=PrivacyRecordOut.of(result.record),
            earlier=result.earlier,
            crm_message=result.crm_message,
        )

    async def records(self, limit: int) -> list[PrivacyRecordOut]:
        service = await asyncio.to_thread(self._service)
        found = await asyncio.to_thread(lambda: service.records(limit=limit))
        return [PrivacyRecordOut.of(record) for record in found]

    async def suppressions(self) -> list[SuppressionOut]:
        service = await asyncio.to_thread(self._service)
        return [SuppressionOut.of(entry) for entry in await asyncio.to_thread(service.suppressions)]

    async def unsuppress(self, body: UnsuppressIn, by: Actor) -> PrivacyRecordOut:
        service = await asyncio.to_thread(self._service)
        kind: Literal["crm_id", "email"] = "crm_id" if body.crm_id is not None else "email"
        value = body.crm_id if body.crm_id is not None else body.email or ""

        def lift() -> PrivacyRecord:
            return service.unsuppress(
                kind, value, reason=body.reason, by=by, resource=body.resource
            )

        try:
            return PrivacyRecordOut.of(await asyncio.to_thread(lift))
        except NothingToLift as exc:
            raise NotFound(exc.message, code=exc.code) from None
        except CrmsyncError as exc:
            raise Conflict(exc.message, code=exc.code) from None
