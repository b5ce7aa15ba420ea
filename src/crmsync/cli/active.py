"""The active configuration of ``--config``'s file, as every command that reads the configuration
opens it: the workflows' active revisions, with one notice line on stderr when the file differs
(see :mod:`crmsync.workflows.active`); and as the commands that run workflows start them."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import sqlalchemy as sa
from rich.text import Text

from crmsync.audit import Action, Actor, record
from crmsync.cli.output import cli_console
from crmsync.config.models import Config
from crmsync.workflows.active import ActiveConfig, Applied, open_active_config
from crmsync.workflows.revisions import Revision

__all__ = [
    "active_config",
    "active_configs",
    "open_active",
    "record_revisions",
    "started_configs",
]


def open_active(path: Path, workflows: Sequence[str], *, create: bool = True) -> ActiveConfig:
    """The file's active configuration; a notice on stderr when the file differs from the active
    revision of one of ``workflows`` (the ones the command uses), and one naming their pending
    revisions. Without ``create``, nothing is created (see :func:`open_active_config`)."""
    active = open_active_config(path, create=create)
    try:
        notices = (active.notice(workflows), active.pending_notice(workflows))
    except BaseException:
        active.close()
        raise
    console = cli_console(stderr=True)
    for notice in notices:
        if notice is not None:
            console.print(Text(f"notice: {notice}", style="yellow"))
    return active


def active_configs(path: Path, workflows: Sequence[str]) -> dict[str, Config]:
    """The active configuration of each of ``workflows``, by name (with the notice)."""
    with open_active(path, workflows) as active:
        return active.configs(workflows)


def active_config(path: Path, workflow: str) -> Config:
    """The active configuration of ``workflow`` (with the notice)."""
    return active_configs(path, (workflow,))[workflow]


def started_configs(path: Path, workflows: Sequence[str]) -> dict[str, Config]:
    """The configuration of each of ``workflows`` as their start makes it (``crmsync run``, and
    ``events run`` and ``optout run`` for their own): the file fast-forwarded (refused when it
    differs from an edit made through the API or the console), then the pending revisions
    activated, each change said on stderr."""
    console = cli_console(stderr=True)
    with open_active_config(path) as active:
        applied, activated = active.fast_forward(workflows)
        for item in applied:
            console.print(
                Text(
                    f"{active.path} applied as revision {item.revision.id} of "
                    f"{item.difference.workflow} ({item.difference.summary()})"
                )
            )
        for revision in activated:
            console.print(
                Text(f"{revision.workflow}: revision {revision.id} ({revision.note}) is now active")
            )
        if active.engine is not None:
            record_revisions(active.engine, applied, activated)
        return active.configs(workflows)


def record_revisions(
    engine: sa.Engine, applied: Sequence[Applied], activated: Sequence[Revision] = ()
) -> None:
    """Record in the audit trail the revisions a command saved from the file and activated."""
    by = Actor.cli()
    done = [(Action.CONFIG_APPLY, item.revision) for item in applied]
    for action, revision in [*done, *((Action.REVISION_ACTIVATE, r) for r in activated)]:
        record(
            engine,
            actor=by.name,
            face=by.face,
            action=action,
            target=revision.workflow,
            details={"revision": revision.id},
        )
