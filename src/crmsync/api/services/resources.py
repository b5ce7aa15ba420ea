"""Campaign resources: the built-in ``profile`` and the custom ones of the configuration.

Custom resources are edited as pending revisions of ``inbound`` (the workflow that writes them);
publishing a revision's resources to the store (creating or altering tables) stays a command,
``crmsync resources publish``, run once ``inbound`` is stopped.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from crmsync.api.errors import Conflict, NotFound
from crmsync.api.models import RevisionSaved
from crmsync.api.services.edits import ConfigEdit, replace_named, save_edit
from crmsync.audit import Action, Actor, recorded
from crmsync.store import PROFILE, FieldDefinition, LinkDefinition, ResourceDefinition
from crmsync.store.registry import published_definitions
from crmsync.workflows.supervisor import Supervisor

__all__ = ["Publication", "ResourceOut", "ResourceService"]

WORKFLOW = "inbound"

#: ``published``: the store holds this very definition; ``changed``: it holds another one (publish
#: to apply the edits); ``unpublished``: the store has no table for it yet.
Publication = Literal["published", "changed", "unpublished"]


class ResourceOut(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    builtin: bool = Field(description="The built-in profile resource (not editable).")
    description: str
    identifier: str | None
    fields: tuple[FieldDefinition, ...]
    links: tuple[LinkDefinition, ...]
    publication: Publication


def _publication(
    resource: ResourceDefinition, published: dict[str, ResourceDefinition]
) -> Publication:
    found = published.get(resource.name)
    if found is None:
        return "unpublished"
    return "published" if found == resource else "changed"


def _dump(resource: ResourceDefinition) -> dict[str, Any]:
    return resource.model_dump(mode="json", exclude_defaults=True)


class ResourceService:
    def __init__(self, supervisor: Supervisor) -> None:
        self.supervisor = supervisor

    def _definitions(self) -> list[ResourceDefinition]:
        custom = self.supervisor.config(WORKFLOW, latest=True).resources
        return [PROFILE, *custom]

    def _published(self) -> dict[str, ResourceDefinition]:
        with self.supervisor.engine.connect() as conn:
            return published_definitions(conn)

    def list(self) -> list[ResourceOut]:
        """Every resource of the latest revision (pending edits included), profile first."""
        published = self._published()
        return [
            ResourceOut(
                name=r.name,
                builtin=r.name == PROFILE.name,
                description=r.description,
                identifier=r.identifier,
                fields=r.fields,
                links=r.links,
                publication=_publication(r, published),
            )
            for r in self._definitions()
        ]

    def get(self, name: str) -> ResourceOut:
        for resource in self.list():
            if resource.name == name:
                return resource
        raise NotFound(f"there is no resource '{name}'", code="UNKNOWN_RESOURCE")

    def _custom(self, name: str) -> None:
        if name == PROFILE.name:
            raise Conflict(
                "'profile' is built in: its fields cannot be edited", code="RESOURCE_BUILTIN"
            )
        self.get(name)

    def _saved(
        self, action: Action, name: str, check: Callable[[], ConfigEdit], *, by: Actor, note: str
    ) -> RevisionSaved:
        """The edit ``check`` returns (raising when it is refused), saved; recorded as
        ``action`` on resource ``name``."""
        with recorded(self.supervisor.engine, by, action, name) as details:
            saved = save_edit(
                self.supervisor,
                WORKFLOW,
                check(),
                author=by.user,
                note=note,
                then="publish it to the store with 'crmsync resources publish' (inbound "
                "stopped), then start inbound",
            )
            details["revision"] = saved.revision.id
            return saved

    def create(self, resource: ResourceDefinition, *, by: Actor) -> RevisionSaved:
        def add(data: dict[str, Any]) -> dict[str, Any]:
            data["resources"] = [*(data.get("resources") or []), _dump(resource)]
            return data

        def check() -> ConfigEdit:
            if any(r.name == resource.name for r in self._definitions()):
                raise Conflict(
                    f"a resource '{resource.name}' exists already", code="RESOURCE_EXISTS"
                )
            return add

        note = f"resource '{resource.name}' added"
        return self._saved(Action.RESOURCE_CREATE, resource.name, check, by=by, note=note)

    def update(self, name: str, resource: ResourceDefinition, *, by: Actor) -> RevisionSaved:
        """Replace resource ``name`` (its name cannot change: delete and add instead)."""

        def check() -> ConfigEdit:
            self._custom(name)
            if resource.name != name:
                raise Conflict(
                    "a resource's name cannot change: add the new one and delete the old one",
                    code="RESOURCE_NAME_FIXED",
                )
            return self._replace(name, _dump(resource))

        note = f"resource '{name}' updated"
        return self._saved(Action.RESOURCE_UPDATE, name, check, by=by, note=note)

    def delete(self, name: str, *, by: Actor) -> RevisionSaved:
        def check() -> ConfigEdit:
            self._custom(name)
            return self._replace(name, None)

        note = f"resource '{name}' deleted"
        return self._saved(Action.RESOURCE_DELETE, name, check, by=by, note=note)

    @staticmethod
    def _replace(name: str, new: dict[str, Any] | None) -> ConfigEdit:
        def change(data: dict[str, Any]) -> dict[str, Any]:
            data["resources"] = replace_named(data.get("resources"), name, new)
            return data

        return change
