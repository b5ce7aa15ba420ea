"""Inbound mappings: read from the latest revision of ``inbound``, edited as pending revisions."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Any

from crmsync.api.models import ConflictOut, MergePlanOut, ReplayOut, RevisionSaved
from crmsync.api.services.crm import CrmService
from crmsync.api.services.edits import ConfigEdit, CrmPart, replace_named, save_crm_edit, save_edit
from crmsync.audit import Action, Actor, recorded
from crmsync.config.models import Config, InboundMapping
from crmsync.errors import ConfigurationError
from crmsync.state import ensure_store_schema
from crmsync.state.replays import DEFAULT_REPLAY_LIMIT
from crmsync.sync.replay import request_replay
from crmsync.twoway import FoundBy, TwoWayFigures, list_conflicts, two_way_figures
from crmsync.twoway.plan import DEFAULT_LIMIT, plan_mapping
from crmsync.twoway.rule import Reason, Winner
from crmsync.workflows.supervisor import Supervisor

__all__ = ["MappingNotFound", "MappingService"]

WORKFLOW = "inbound"
_THEN = "it takes effect when inbound is started again"


class MappingNotFound(ConfigurationError):
    """No mapping of that name (404)."""


def _dump(mapping: InboundMapping) -> dict[str, Any]:
    return mapping.model_dump(mode="json", by_alias=True, exclude_defaults=True)


class MappingService:
    def __init__(
        self,
        supervisor: Supervisor,
        crm: CrmService,
        *,
        replay_limit: int = DEFAULT_REPLAY_LIMIT,
    ) -> None:
        self.supervisor = supervisor
        self.crm = crm
        self.replay_limit = replay_limit

    def list(self) -> list[InboundMapping]:
        return list(self.supervisor.config(WORKFLOW, latest=True).inbound.mappings)

    def get(self, name: str) -> InboundMapping:
        for mapping in self.list():
            if mapping.name == name:
                return mapping
        raise MappingNotFound(f"there is no inbound mapping '{name}'", table=name)

    async def _checked(
        self, name: str, change: ConfigEdit, *, author: str, note: str
    ) -> RevisionSaved:
        """Save ``change`` once mapping ``name``'s CRM names pass the CRM's metadata."""

        def parts(config: Config) -> list[CrmPart]:
            return [
                CrmPart(("inbound", "mappings", index), mapping.connection, mapping.crm_table)
                for index, mapping in enumerate(config.inbound.mappings)
                if mapping.name == name
            ]

        return await save_crm_edit(
            self.supervisor, self.crm, WORKFLOW, change, parts, author=author, note=note, then=_THEN
        )

    async def create(self, mapping: InboundMapping, *, by: Actor) -> RevisionSaved:
        with recorded(self.supervisor.engine, by, Action.MAPPING_CREATE, mapping.name) as details:
            if any(m.name == mapping.name for m in self.list()):
                raise ConfigurationError(
                    f"an inbound mapping '{mapping.name}' exists already", code="MAPPING_EXISTS"
                )

            def add(data: dict[str, Any]) -> dict[str, Any]:
                inbound = data.setdefault("inbound", {}) or {}
                data["inbound"] = inbound
                inbound["mappings"] = [*(inbound.get("mappings") or []), _dump(mapping)]
                return data

            note = f"mapping '{mapping.name}' added"
            saved = await self._checked(mapping.name, add, author=by.user, note=note)
            details["revision"] = saved.revision.id
            return saved

    async def update(self, name: str, mapping: InboundMapping, *, by: Actor) -> RevisionSaved:
        """Replace mapping ``name``; its CRM table, Campaign resource and Campaign key field
        cannot change."""
        with recorded(self.supervisor.engine, by, Action.MAPPING_UPDATE, name) as details:
            current = self.get(name)
            fixed = ("name", "crm_table", "resource")
            if any(getattr(mapping, key) != getattr(current, key) for key in fixed):
                raise ConfigurationError(
                    "a mapping's name, CRM table and Campaign resource cannot change after "
                    "saving (delete the mapping and create it again)",
                    code="MAPPING_TABLES_FIXED",
                )
            if mapping.primary_key.campaign != current.primary_key.campaign:
                raise ConfigurationError(
                    f"the Campaign key field of mapping '{name}' cannot change after saving "
                    f"(it is '{current.primary_key.campaign}'): delete the mapping and create it "
                    "again",
                    code="MAPPING_KEY_FIXED",
                )
            change = self._replace(name, _dump(mapping))
            note = f"mapping '{name}' updated"
            saved = await self._checked(name, change, author=by.user, note=note)
            details["revision"] = saved.revision.id
            return saved

    def delete(self, name: str, *, by: Actor) -> RevisionSaved:
        with recorded(self.supervisor.engine, by, Action.MAPPING_DELETE, name) as details:
            self.get(name)
            saved = save_edit(
                self.supervisor,
                WORKFLOW,
                self._replace(name, None),
                author=by.user,
                note=f"mapping '{name}' deleted",
                then=_THEN,
            )
            details["revision"] = saved.revision.id
            return saved

    @staticmethod
    def _replace(name: str, new: dict[str, Any] | None) -> ConfigEdit:
        def change(data: dict[str, Any]) -> dict[str, Any]:
            data["inbound"]["mappings"] = replace_named(data["inbound"]["mappings"], name, new)
            return data

        return change

    async def replay(self, name: str, *, by: Actor) -> ReplayOut:
        with recorded(self.supervisor.engine, by, Action.MAPPING_REPLAY, name) as details:
            self.get(name)
            request = await request_replay(
                self.supervisor.config(WORKFLOW),
                name,
                limit_backlog=self.replay_limit,
                limit_rows=self.replay_limit,
                environ=self.supervisor.environ,
                opener=self.crm.opener,
            )
            details.update(table_rows=request.table_rows, backlog=request.backlog)
        return ReplayOut(
            mapping=request.mapping,
            status=request.status,
            requested_at=request.requested_at,
            backlog=request.backlog,
            table_rows=request.table_rows,
        )

    def conflicts(
        self, name: str, *, limit: int = 100, record_key: str | None = None
    ) -> builtins.list[ConflictOut]:  # ``list`` is a method here
        """The conflicts logged for mapping ``name``, newest first (none for a one-way one)."""
        self.get(name)
        engine = self.supervisor.engine
        ensure_store_schema(engine)
        with engine.connect() as conn:
            found = list_conflicts(conn, name, limit=limit, record_key=record_key)
        return [
            ConflictOut(
                id=entry.id,
                mapping=entry.mapping,
                record_key=entry.record_key,
                field=entry.field,
                campaign_value=entry.campaign_value,
                crm_value=entry.crm_value,
                campaign_changed_at=entry.campaign_changed_at,
                crm_changed_at=entry.crm_changed_at,
                winner=Winner(entry.winner),
                reason=Reason(entry.reason),
                found_by=FoundBy(entry.found_by),
                decided_at=entry.decided_at,
            )
            for entry in found
        ]

    def figures(self, mappings: Sequence[InboundMapping] | None = None) -> dict[str, TwoWayFigures]:
        """The two-way figures of each two-way mapping among ``mappings`` (default: the latest
        revision's), by name."""
        engine = self.supervisor.engine
        ensure_store_schema(engine)
        with engine.connect() as conn:
            return two_way_figures(conn, self.list() if mappings is None else mappings)

    async def plan(self, name: str, *, limit: int = DEFAULT_LIMIT) -> MergePlanOut:
        """What the next merge of two-way mapping ``name`` would write (nothing is written)."""
        plan = await plan_mapping(
            self.supervisor.config(WORKFLOW),
            name,
            environ=self.supervisor.environ,
            limit=limit,
            opener=self.crm.opener,
        )
        return MergePlanOut.model_validate(plan.as_dict())
