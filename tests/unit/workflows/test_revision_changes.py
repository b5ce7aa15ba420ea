"""The diff between two revisions shows what changed, and only that."""

from __future__ import annotations

from typing import Any

import yaml

from crmsync.workflows.revisions import changes

LABELS = ("revision 1", "revision 2")


def revision(*, spelled_out: bool, **mapping: Any) -> str:
    """A configuration's YAML: as a file has it (defaults written out, flow style), or as an
    edit writes it (defaults left out, block style)."""
    field = {"crm": "firstname", "campaign": "first_name"}
    people = {"name": "people", "connection": "dynamics", "crm_table": "contact"}
    people |= {"resource": "profile", "primary_key": {"campaign": "external_id"}}
    if spelled_out:
        field["apply_updates"] = True
        people |= {"apply_deletes": True, "picklist_values": "technical"}
    people |= {"fields": [field]} | mapping
    document = {"inbound": {"mappings": [people]}}
    return yaml.safe_dump(document, default_flow_style=spelled_out, sort_keys=False)


def changed_lines(diff: str) -> list[str]:
    return [line for line in diff.splitlines() if line.startswith(("+ ", "- "))]


def test_a_default_written_out_on_one_side_only_is_not_a_change() -> None:
    file, edited = revision(spelled_out=True), revision(spelled_out=False)
    assert file != edited
    assert changes(file, edited, labels=LABELS) == ""
    assert changes(edited, file, labels=LABELS) == ""


def test_a_real_change_is_the_only_line_shown() -> None:
    file, edited = revision(spelled_out=True), revision(spelled_out=False, apply_deletes=False)
    assert changed_lines(changes(file, edited, labels=LABELS)) == ["+    apply_deletes: false"]


def test_a_value_set_back_to_its_default_shows_the_old_value_removed() -> None:
    before, after = revision(spelled_out=False, apply_deletes=False), revision(spelled_out=True)
    assert changed_lines(changes(before, after, labels=LABELS)) == ["-    apply_deletes: false"]
