"""``crmsync privacy delete|suppressions|unsuppress``: right-to-erasure requests (docs/privacy.md).

``delete`` removes a profile (by Campaign id, email or CRM id), everything linked to it and
everything crmsync keeps about it, and suppresses its ids so that the CRM never brings it back;
``--crm-delete`` deletes the CRM record too. It asks first, unless ``--yes`` (without a terminal
it refuses to ask). Running the same delete again finishes one a crash interrupted. Exit codes:
0 done, 1 invalid configuration, unknown profile or refused request, 2 not confirmed, 3 the CRM
refused its delete (the local delete stands), 4 the CRM delete is still pending (run again).
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console
from rich.text import Text

from crmsync.audit import Actor
from crmsync.cli.active import active_config
from crmsync.cli.config_cmds import ConfigOption
from crmsync.cli.output import Table, cli_console
from crmsync.errors import CrmsyncError
from crmsync.privacy import CrmDelete, DeleteResult, PrivacyService, Target
from crmsync.privacy.service import ProfileSummary, TargetKind
from crmsync.store import create_engine_for

__all__ = ["app"]

app = typer.Typer(help="Privacy deletes and the suppression list.", no_args_is_help=True)

#: Exit codes beside 0 (done) and 1 (refused or failed).
NOT_CONFIRMED, CRM_REFUSED, CRM_PENDING = 2, 3, 4

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]
CrmIdOption = Annotated[str | None, typer.Option("--crm-id", help="The profile's CRM id.")]
EmailOption = Annotated[str | None, typer.Option("--email", help="The profile's email.")]


def _service(path: Path) -> PrivacyService:
    config = active_config(path, "inbound")
    engine = create_engine_for(config.store.url, schema=config.store.pg_schema)
    try:
        return PrivacyService(config, engine)
    except BaseException:
        engine.dispose()
        raise


def _target(profile: str | None, email: str | None, crm_id: str | None) -> Target:
    options: tuple[tuple[TargetKind, str | None], ...] = (
        ("profile", profile),
        ("email", email),
        ("crm_id", crm_id),
    )
    given = [(kind, value) for kind, value in options if value is not None]
    if len(given) != 1:
        raise typer.BadParameter("give exactly one of --profile, --email and --crm-id")
    kind, value = given[0]
    return Target(kind, value)


@app.command("delete")
def delete(
    config: ConfigOption = Path("crmsync.yaml"),
    profile: Annotated[
        str | None, typer.Option("--profile", help="The profile's Campaign id.")
    ] = None,
    email: EmailOption = None,
    crm_id: CrmIdOption = None,
    crm_delete: Annotated[
        bool, typer.Option("--crm-delete", help="Delete the CRM record too (exactly once).")
    ] = False,
    reason: Annotated[str, typer.Option("--reason", help="Why (kept in the record).")] = "",
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Delete without asking.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Remove a profile everywhere crmsync put it, and keep the CRM from bringing it back."""
    errors = cli_console(stderr=True)
    try:
        target = _target(profile, email, crm_id)
        service = _service(config)
    except CrmsyncError as exc:
        errors.print(Text(f"privacy delete refused: {exc.message}", style="red"))
        raise typer.Exit(1) from None
    try:
        found = service.look_up(target)
        if not yes:
            _confirm(errors, target, found, crm_delete)
        result = asyncio.run(
            service.delete_profile(target, reason=reason, by=Actor.cli(), crm_delete=crm_delete)
        )
    except CrmsyncError as exc:
        errors.print(Text(f"privacy delete refused: {exc.message}", style="red"))
        raise typer.Exit(1) from None
    finally:
        service.engine.dispose()
    if as_json:
        typer.echo(json.dumps(result.as_dict(), indent=2))
    else:
        _print_result(cli_console(), result)
    if result.record.crm_delete is CrmDelete.REFUSED:
        raise typer.Exit(CRM_REFUSED)
    if result.record.crm_delete is CrmDelete.PENDING:
        raise typer.Exit(CRM_PENDING)


def _confirm(
    errors: Console, target: Target, found: ProfileSummary | None, crm_delete: bool
) -> None:
    if found is None:
        question = f"no profile has {target.describe()} now; finish its earlier privacy delete"
    else:
        linked = ", ".join(f"{count} {name}" for name, count in sorted(found.linked.items()))
        crm = f", CRM id {found.crm_id}" if found.crm_id else ", no CRM id"
        question = f"delete profile {found.profile_id}{crm}, its {found.events} event(s)" + (
            f" and its linked records ({linked})" if linked else ""
        )
    if crm_delete:
        question += ", and delete the CRM record"
    if not sys.stdin.isatty():
        errors.print(Text(f"{question}? Nothing deleted: give --yes to delete without a question"))
        raise typer.Exit(NOT_CONFIRMED)
    if not typer.confirm(f"{question}?", err=True):
        errors.print("nothing deleted")
        raise typer.Exit(NOT_CONFIRMED)


def _print_result(console: Console, result: DeleteResult) -> None:
    record = result.record
    removed = ", ".join(f"{table} {count}" for table, count in sorted(record.removed.items()))
    if result.earlier:
        console.print(Text(f"profile {record.profile_id} was privacy-deleted by {record.id}"))
    else:
        console.print(
            Text(f"privacy delete {record.id}: profile {record.profile_id} removed ({removed})")
        )
    crm = record.crm_delete
    if crm is None:
        return
    lines = {
        CrmDelete.DELETED: f"CRM record {record.crm_id} deleted",
        CrmDelete.NOT_FOUND: f"CRM record {record.crm_id} was already gone",
        CrmDelete.REFUSED: f"the CRM refused to delete {record.crm_id} (the local delete stands)",
        CrmDelete.PENDING: f"the CRM delete of {record.crm_id} is pending: run the command again",
    }
    console.print(Text(lines[crm]))
    if result.crm_message:
        console.print(Text(result.crm_message))


@app.command("suppressions")
def list_suppressions(
    config: ConfigOption = Path("crmsync.yaml"), as_json: JsonOption = False
) -> None:
    """The suppression list: ids and email hashes the CRM may not bring back."""
    errors = cli_console(stderr=True)
    try:
        service = _service(config)
        try:
            found = service.suppressions()
        finally:
            service.engine.dispose()
    except CrmsyncError as exc:
        errors.print(Text(f"cannot read the suppression list: {exc.message}", style="red"))
        raise typer.Exit(1) from None
    if as_json:
        typer.echo(json.dumps([entry.as_dict() for entry in found], indent=2))
        return
    table = Table("kind", "resource", "id or email hash", "CRM table", "since", "by", "reason")
    for entry in found:
        where = f"{entry.connection}.{entry.crm_table}" if entry.crm_table else ""
        table.add_row(
            entry.kind,
            entry.resource,
            entry.key,
            where,
            entry.suppressed_at.isoformat(timespec="seconds"),
            entry.suppressed_by,
            entry.reason,
        )
    cli_console().print(table if found else "no suppressions")


@app.command("unsuppress")
def unsuppress(
    reason: Annotated[str, typer.Option("--reason", help="Why the suppression is lifted.")],
    config: ConfigOption = Path("crmsync.yaml"),
    crm_id: CrmIdOption = None,
    email: EmailOption = None,
    resource: Annotated[
        str, typer.Option("--resource", help="The resource of the CRM id (default profile).")
    ] = "profile",
    as_json: JsonOption = False,
) -> None:
    """Lift one suppression: the CRM may bring that record (or email) back from then on."""
    errors = cli_console(stderr=True)
    if (crm_id is None) == (email is None):
        errors.print("give exactly one of --crm-id and --email")
        raise typer.Exit(1)
    kind: Literal["crm_id", "email"] = "crm_id" if crm_id is not None else "email"
    try:
        service = _service(config)
        try:
            record = service.unsuppress(
                kind,
                crm_id if crm_id is not None else email or "",
                reason=reason,
                by=Actor.cli(),
                resource=resource,
            )
        finally:
            service.engine.dispose()
    except CrmsyncError as exc:
        errors.print(Text(f"unsuppress refused: {exc.message}", style="red"))
        raise typer.Exit(1) from None
    if as_json:
        typer.echo(json.dumps(record.as_dict(), indent=2))
        return
    shown = f"CRM id {crm_id} of {resource}" if crm_id is not None else "the email"
    cli_console().print(Text(f"{shown} is no longer suppressed ({record.id})"))
