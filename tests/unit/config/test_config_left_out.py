"""Leaving list entries out and placing the rest's issues back at their paths in the file."""

from __future__ import annotations

from crmsync.config.errors import ConfigIssue
from crmsync.config.left_out import leave_out, placed_back


def test_entries_are_deleted_and_recorded_by_list() -> None:
    data = {
        "inbound": {
            "mappings": [
                {"name": "a", "replacements": ["r0", "r1", "r2"]},
                {"name": "b", "replacements": ["r0"]},
                {"name": "c"},
                {"name": "d"},
            ]
        }
    }
    left_out = leave_out(
        data,
        [
            ("inbound", "mappings", 0, "replacements", 2),
            ("inbound", "mappings", 0, "replacements", 0),
            ("inbound", "mappings", 2),
            ("inbound", "mappings", 1),
            ("inbound", "mappings", 1, "replacements", 0),  # inside a mapping left out
        ],
    )
    assert data == {"inbound": {"mappings": [{"name": "a", "replacements": ["r1"]}, {"name": "d"}]}}
    assert left_out == {
        ("inbound", "mappings"): [1, 2],
        ("inbound", "mappings", 0, "replacements"): [0, 2],
    }


def test_issues_of_the_rest_get_the_file_s_paths() -> None:
    left_out = {("inbound", "mappings"): [0, 2], ("inbound", "mappings", 1, "fields"): [0]}
    issue = ConfigIssue(
        ("inbound", "mappings", 0, "fields", 0, "campaign"),
        "already used by inbound.mappings[0]; fields[0] and 'inbound.mappings[x]' stay",
    )
    placed = placed_back(issue, left_out)
    assert placed.path == "inbound.mappings[1].fields[1].campaign"
    assert (
        placed.message
        == "already used by inbound.mappings[1]; fields[0] and 'inbound.mappings[x]' stay"
    )
    assert placed_back(issue, {}) is issue
