"""Edits of a workflow's configuration saved as its pending revision, the one way services do it.

An edit that names CRM tables and fields (an inbound mapping, the opt-in/out pairs) is also
checked against the CRM's metadata before it is saved (:func:`save_crm_edit`): a name the CRM
does not have, or a field of the wrong type, is refused with its path like any other problem.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from crmsync.api.errors import NotFound
from crmsync.api.models import RevisionSaved
from crmsync.api.services.crm import CrmService
from crmsync.api.services.workflows import revision_out
from crmsync.config import ConfigError, ConfigIssue, validate_against_metadata
from crmsync.config.errors import Loc
from crmsync.config.models import Config
from crmsync.workflows.revisions import Revision, dump_yaml
from crmsync.workflows.supervisor import Supervisor

__all__ = ["ConfigEdit", "CrmPart", "replace_named", "save_crm_edit", "save_edit"]

#: Turns the workflow's latest configuration (plain data) into the edited one.
ConfigEdit = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class CrmPart:
    """A part of the edited configuration (at ``loc``) that names fields of one CRM table."""

    loc: Loc
    connection: str
    table: str


def replace_named(
    items: list[dict[str, Any]] | None, name: str, new: dict[str, Any] | None
) -> list[dict[str, Any]]:
    """``items`` with the one called ``name`` replaced by ``new`` (removed when ``None``)."""
    kept = [item for item in items or [] if item.get("name") != name or new is not None]
    return [item if item.get("name") != name or new is None else new for item in kept]


def _saved(revision: Revision, workflow: str, then: str, warnings: Sequence[str]) -> RevisionSaved:
    message = f"saved as pending revision {revision.id} of {workflow}: {then}"
    return RevisionSaved(
        revision=revision_out(revision),
        message="; ".join([message, *(f"warning: {text}" for text in warnings)]),
    )


def save_edit(
    supervisor: Supervisor, workflow: str, change: ConfigEdit, *, author: str, note: str, then: str
) -> RevisionSaved:
    """Save ``change`` as ``workflow``'s pending revision (checked first: nothing is saved when
    the checks refuse it); ``then`` tells what makes it take effect."""
    revision = supervisor.edit(workflow, change, author=author, note=note)
    return _saved(revision, workflow, then, ())


async def save_crm_edit(
    supervisor: Supervisor,
    crm: CrmService,
    workflow: str,
    change: ConfigEdit,
    parts: Callable[[Config], Sequence[CrmPart]],
    *,
    author: str,
    note: str,
    then: str,
) -> RevisionSaved:
    """:func:`save_edit` for an edit whose ``parts`` name CRM fields: each is also checked
    against its table's metadata (:class:`ConfigError` listing the problems; a CRM that cannot
    be asked refuses the edit too, as :class:`~crmsync.api.errors.CrmFailed`)."""

    def edited() -> Config:
        return supervisor.check(workflow, dump_yaml(change(supervisor.document(workflow))))

    config = await asyncio.to_thread(edited)
    issues: list[ConfigIssue] = []
    for part in parts(config):
        issues += await _metadata_issues(crm, config, part)
    errors = [issue for issue in issues if issue.is_error]
    if errors:
        raise ConfigError(errors)
    # Applied again to the latest configuration: an edit saved while the CRM was asked is kept.
    revision = await asyncio.to_thread(supervisor.edit, workflow, change, author=author, note=note)
    return _saved(revision, workflow, then, [f"{i.path}: {i.message}" for i in issues])


async def _metadata_issues(crm: CrmService, config: Config, part: CrmPart) -> list[ConfigIssue]:
    try:
        info = await crm.table_info(part.connection, part.table)
    except NotFound as exc:
        if exc.code != "UNKNOWN_TABLE":
            raise
        message = f"connection '{part.connection}' has no CRM table '{part.table}'"
        return [ConfigIssue((*part.loc, "crm_table"), message)]
    found = validate_against_metadata(
        config, {part.table: info}, connection=part.connection, untracked="warning"
    )
    return [issue for issue in found if issue.loc[: len(part.loc)] == part.loc]
