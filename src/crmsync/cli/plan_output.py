"""How ``crmsync mapping plan`` prints a plan: what is read, the counts, then one table per
direction (a row per field written, then the conflicts) and the rejects."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.text import Text

from crmsync.cli.output import Table

__all__ = ["print_plan"]

#: Each direction's key in the plan, and its title.
DIRECTIONS = {
    "campaign_to_crm": "Campaign → CRM",
    "crm_to_campaign": "CRM → Campaign",
}


def print_plan(console: Console, plan: dict[str, Any]) -> None:
    """Print ``plan`` (:meth:`crmsync.twoway.plan.MergePlan.as_dict`) readably."""
    read = "its changes since the saved cursor" if plan["crm_read"] == "changes" else "in full"
    console.print(
        Text(
            f"plan of mapping '{plan['mapping']}' ({plan['crm_table']} ↔ {plan['resource']}), "
            f"the CRM table read {read}; nothing was written"
        )
    )
    if plan["note"]:
        console.print(Text(f"note: {plan['note']}", style="yellow"))
    counts = plan["counts"]
    console.print(
        Text(
            f"{counts['pending_edits']:,} records with Campaign edits, "
            f"{counts['crm_changes']:,} changed in the CRM; {counts['unchanged']:,} unchanged, "
            f"{counts['new_records']:,} new to Campaign, {counts['deleted']:,} deleted, "
            f"{counts['skipped']:,} skipped, {counts['rejected']:,} rejected"
        )
    )
    for key, title in DIRECTIONS.items():
        _direction(console, title, plan[key], sent=key == "campaign_to_crm")
    if plan["rejects"]:
        rejects = Table(title="rejected")
        for column in ("record", "direction", "code", "message"):
            rejects.add_column(column)
        for reject in plan["rejects"]:
            rejects.add_row(
                Text(reject["key"]),
                DIRECTIONS[reject["direction"]],
                Text(reject["code"]),
                Text(reject["message"]),
            )
        console.print(rejects)


def _direction(console: Console, title: str, direction: dict[str, Any], *, sent: bool) -> None:
    counts = direction["counts"]
    heading = (
        f"{title}: {counts['records']:,} records, {counts['fields']:,} fields, "
        f"{counts['conflicts']:,} conflicts"
    )
    if direction["truncated"]:
        heading += f" (the first {len(direction['records']):,} listed)"
    if not direction["records"]:
        console.print(Text(f"{heading}: nothing to write"))
        return
    fields = Table(title=heading)
    for column in ("record", "field", "crm field", "from", "to", *(["sent"] if sent else [])):
        fields.add_column(column)
    conflicts: list[tuple[str, dict[str, Any]]] = []
    for record in direction["records"]:
        for name, change in record["fields"].items():
            cells = [record["key"], name, change["crm_field"], _shown(change["from"])]
            cells.append(_shown(change["to"]))
            if sent:
                cells.append(_shown(change["crm_value"]))
            fields.add_row(*(Text(cell) for cell in cells))
        conflicts += [(record["key"], conflict) for conflict in record["conflicts"]]
    console.print(fields)
    if conflicts:
        table = Table(title=f"{title}: conflicts")
        for column in ("record", "field", "Campaign", "CRM", "winner", "why"):
            table.add_column(column)
        for key, conflict in conflicts:
            cells = [key, conflict["field"], _shown(conflict["campaign_value"])]
            cells += [_shown(conflict["crm_value"]), conflict["winner"], conflict["reason"]]
            table.add_row(*(Text(cell) for cell in cells))
        console.print(table)


def _shown(value: Any) -> str:
    """A value as JSON writes it (texts quoted, so that an empty text shows)."""
    return json.dumps(value, ensure_ascii=False)
