"""Edits of a workflow's configuration saved as its pending revision, the one way services do it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from crmsync.api.models import RevisionSaved
from crmsync.api.services.workflows import revision_out
from crmsync.workflows.supervisor import Supervisor

__all__ = ["Change", "replace_named", "save_edit"]

#: Turns the workflow's latest configuration (plain data) into the edited one.
Change = Callable[[dict[str, Any]], dict[str, Any]]


def replace_named(
    items: list[dict[str, Any]] | None, name: str, new: dict[str, Any] | None
) -> list[dict[str, Any]]:
    """``items`` with the one called ``name`` replaced by ``new`` (removed when ``None``)."""
    kept = [item for item in items or [] if item.get("name") != name or new is not None]
    return [item if item.get("name") != name or new is None else new for item in kept]


def save_edit(
    supervisor: Supervisor, workflow: str, change: Change, *, author: str, note: str, then: str
) -> RevisionSaved:
    """Save ``change`` as ``workflow``'s pending revision (checked first: nothing is saved when
    the checks refuse it); ``then`` tells what makes it take effect."""
    revision = supervisor.edit(workflow, change, author=author, note=note)
    return RevisionSaved(
        revision=revision_out(revision),
        message=f"saved as pending revision {revision.id} of {workflow}: {then}",
    )
