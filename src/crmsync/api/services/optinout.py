"""Opt-in/out settings: the direction and the (CRM Boolean field, Campaign attribute) pairs.

Saving them makes a pending revision of ``optinout``. The Campaign side of a pair is one of the
fixed opt-out attributes; the CRM side a Boolean field of the contact table (checked against the
CRM's metadata when the workflow starts; :meth:`OptInOutService.crm_fields` lists the candidates).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from crmsync.api.models import RevisionSaved
from crmsync.api.services.crm import CrmService
from crmsync.api.services.edits import CrmPart, save_crm_edit
from crmsync.audit import Action, Actor, recorded
from crmsync.config.models import Config, OptInOutDirection, OptInOutMapping
from crmsync.config.names import CrmName
from crmsync.connectors.base import CrmType
from crmsync.store import OptOutAttribute
from crmsync.store.resources import Identifier
from crmsync.workflows.supervisor import Supervisor

__all__ = [
    "AllowedField",
    "CrmOptOutFields",
    "OptInOutFields",
    "OptInOutService",
    "OptInOutSettings",
]

WORKFLOW = "optinout"

_LABELS = {
    OptOutAttribute.EMAIL: "No longer contact by email",
    OptOutAttribute.SMS: "No longer contact by SMS",
    OptOutAttribute.PHONE: "No longer contact by phone",
    OptOutAttribute.POSTAL_MAIL: "No longer contact by postal mail",
    OptOutAttribute.FAX: "No longer contact by fax",
    OptOutAttribute.MOBILE_APP: "No longer contact by mobile app",
    OptOutAttribute.CCPA_DO_NOT_SELL: "Do not sell my data (CCPA)",
}


class OptInOutSettings(BaseModel):
    """What the opt-in/out page edits (the other keys of ``optinout`` are kept as they are)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    direction: OptInOutDirection
    connection: Identifier | None = None
    crm_table: CrmName | None = Field(
        default=None, description="Default: contact (Dataverse) or Contact (Salesforce)."
    )
    mappings: tuple[OptInOutMapping, ...] = Field(default=(), max_length=len(OptOutAttribute))
    log_decisions: bool = False


class AllowedField(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    label: str


class CrmOptOutFields(BaseModel):
    model_config = ConfigDict(frozen=True)

    connection: str
    crm_table: str
    fields: tuple[AllowedField, ...] = Field(description="The table's Boolean fields.")


class OptInOutFields(BaseModel):
    model_config = ConfigDict(frozen=True)

    campaign: tuple[AllowedField, ...] = Field(description="The Campaign opt-out attributes.")
    crm: CrmOptOutFields | None = Field(description="Null when no CRM connection is configured.")


class OptInOutService:
    def __init__(self, supervisor: Supervisor, crm: CrmService) -> None:
        self.supervisor = supervisor
        self.crm = crm

    def settings(self, *, latest: bool = False) -> OptInOutSettings:
        """The settings of ``optinout``'s active revision, what the workflow runs on
        (``latest``: with its pending edits)."""
        section = self.supervisor.config(WORKFLOW, latest=latest).optinout
        return OptInOutSettings(
            direction=section.direction,
            connection=section.connection,
            crm_table=section.crm_table,
            mappings=section.mappings,
            log_decisions=section.log_decisions,
        )

    async def save(self, settings: OptInOutSettings, *, by: Actor) -> RevisionSaved:
        """Save ``settings`` once the pairs' CRM fields pass the contact table's metadata."""

        def change(data: dict[str, Any]) -> dict[str, Any]:
            section = data.get("optinout") or {}
            section.update(settings.model_dump(mode="json"))
            data["optinout"] = {k: v for k, v in section.items() if v is not None}
            return data

        def parts(config: Config) -> list[CrmPart]:
            section = config.optinout
            linked = config.connections.get(section.connection or "")
            if section.connection is None or linked is None:
                return []
            return [CrmPart(("optinout",), section.connection, section.table_for(linked.kind))]

        with recorded(self.supervisor.engine, by, Action.OPTINOUT_UPDATE, WORKFLOW) as details:
            saved = await save_crm_edit(
                self.supervisor,
                self.crm,
                WORKFLOW,
                change,
                parts,
                author=by.user,
                note=f"opt-in/out: {settings.direction}, {len(settings.mappings)} mapping(s)",
                then="it takes effect when optinout is started again",
            )
            details.update(revision=saved.revision.id, direction=settings.direction)
            return saved

    @staticmethod
    def campaign_fields() -> list[AllowedField]:
        """The Campaign opt-out attributes, the only Campaign side a pair may have."""
        return [AllowedField(name=a.value, label=_LABELS[a]) for a in OptOutAttribute]

    async def crm_fields(
        self, connection: str | None = None, crm_table: str | None = None
    ) -> CrmOptOutFields | None:
        """The Boolean fields of the CRM contact table: of ``connection`` and ``crm_table`` when
        given, else of the saved settings (else of the first connection); ``None`` without any
        connection."""
        config = self.supervisor.config(WORKFLOW, latest=True)
        name = connection or config.optinout.connection or next(iter(config.connections), None)
        if name is None:
            return None
        linked = config.connections.get(name)
        table = crm_table or config.optinout.table_for(linked.kind if linked else "dataverse")
        detail = await self.crm.table(name, table)
        booleans = (f for f in detail.fields if f.type is CrmType.BOOLEAN)
        return CrmOptOutFields(
            connection=name,
            crm_table=detail.name,
            fields=tuple(AllowedField(name=f.name, label=f.label) for f in booleans),
        )

    async def fields(
        self, connection: str | None = None, crm_table: str | None = None
    ) -> OptInOutFields:
        """What each side of a pair may be."""
        crm = await self.crm_fields(connection, crm_table)
        return OptInOutFields(campaign=tuple(self.campaign_fields()), crm=crm)
