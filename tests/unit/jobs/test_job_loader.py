"""Job files: every problem reported with the path of the offending key and its line."""

from __future__ import annotations

import pytest

from crmsync.config.errors import ConfigError
from crmsync.jobs import check_job_text, load_job_text
from crmsync.jobs.models import CrmStep

GOOD = """
name: contacts
timezone: Europe/Paris
steps:
  read:
    kind: crm
    operation: import
    connection: dyn
    object: contact
    fields: [{name: emailaddress1, as: email}, {name: birthdate, conversion: date_only}]
    filter:
      - {field: statecode, op: eq, value: 0}
    automatic_index: {}
    process_rejects: true
    on_reject: log
    next: dedupe
  dedupe:
    kind: deduplicate
    keys: [email]
    next: update
  update:
    kind: update_campaign
    resource: profile
    key: external_id
    fields: {external_id: contactid, email: email}
  log:
    kind: write_file
    path: rejects.jsonl
"""


def _errors(text: str) -> list[tuple[str, int | None, str]]:
    job, issues = check_job_text(text, source="job.yaml")
    assert job is None
    return [(issue.path, issue.line, issue.message) for issue in issues if issue.is_error]


def test_a_good_job_loads() -> None:
    job = load_job_text(GOOD)
    read = job.steps["read"]
    assert isinstance(read, CrmStep)
    assert read.fields[0].output == "email"
    assert job.first_step == "read"


@pytest.mark.parametrize(
    ("old", "new", "path", "line", "message"),
    [
        (
            "    keys: [email]\n",
            "    key: [email]\n",
            "steps.dedupe.key",
            19,
            "did you mean 'keys'",
        ),
        ("    kind: deduplicate\n", "    kind: dedupe\n", "steps.dedupe.kind", 18, "dedupe"),
        (
            "    next: update\n",
            "    next: updat\n",
            "steps.dedupe.next",
            20,
            "did you mean 'update'",
        ),
        ("    on_reject: log\n", "    on_reject: nowhere\n", "steps.read.on_reject", 15, "no step"),
        ("    process_rejects: true\n", "", "steps.read.on_reject", 14, "process_rejects"),
        ("timezone: Europe/Paris", "timezone: Mars/Base", "timezone", 3, "unknown time zone"),
        ("conversion: date_only", "conversion: date", "steps.read.fields[1].conversion", 10, ""),
        (
            "      - {field: statecode, op: eq, value: 0}\n",
            "      - {field: statecode, op: eq, value: 0}\n      - {join: and not, field: a,"
            " op: eq, value: 1}\n",
            "steps.read.filter[1].join",
            13,
            "'and not' is not supported",
        ),
        (
            "    automatic_index: {}\n",
            "    automatic_index: {}\n    batch: true\n",
            "steps.read.batch",
            14,
            "does not apply to the 'import' operation",
        ),
        (
            "    automatic_index: {}\n",
            "    automatic_index: {overlap_seconds: 7200}\n",
            "steps.read.automatic_index.overlap_seconds",
            13,
            "less than or equal to 3600",
        ),
        (
            "  dedupe:\n    kind",
            "  dedupe:\n    kind: wait\n    kind",
            "steps.dedupe.kind",
            19,
            "given twice",
        ),
    ],
)
def test_errors_name_the_path_and_line(
    old: str, new: str, path: str, line: int, message: str
) -> None:
    assert old in GOOD
    errors = _errors(GOOD.replace(old, new, 1))
    assert any(p == path and ln == line and message in m for p, ln, m in errors), errors


def test_a_connection_missing_from_the_configuration_is_an_error_at_its_line() -> None:
    job, issues = check_job_text(GOOD, source="job.yaml", connections=["dyn365", "org"])
    assert job is None
    assert [(i.path, i.line, i.message) for i in issues] == [
        (
            "steps.read.connection",
            8,
            "no connection named 'dyn' in the configuration (did you mean 'dyn365'?)",
        )
    ]
    assert check_job_text(GOOD, connections=["dyn"])[0] is not None
    assert check_job_text(GOOD)[0] is not None  # no configuration given: not checked


def test_operation_rules() -> None:
    export = """
name: e
steps:
  out:
    kind: crm
    operation: export
    connection: sf
    object: Contact
    mapping: [{campaign: email, crm: Email}, {campaign: x, crm: Email}]
    key: External__c
"""
    errors = _errors(export)
    assert ("steps.out.mapping[1].crm", 9, "'Email' is mapped twice") in errors
    assert any(p == "steps.out.key" and "one of the mapped CRM fields" in m for p, _, m in errors)
    deleted = export.replace("operation: export", "operation: import_deleted").split("    mapping")[
        0
    ]
    errors = _errors(deleted)
    assert {p for p, _, _ in errors} == {"steps.out.start", "steps.out.end"}
    delete = export.replace("operation: export", "operation: delete").split("    mapping")[0]
    assert [p for p, _, _ in _errors(delete)] == ["steps.out.id_field"]


def test_not_yaml_and_not_a_mapping() -> None:
    assert _errors("name: [unclosed\n")[0][2].startswith("not valid YAML")
    assert "mapping" in _errors("- a\n- b\n")[0][2]


def test_load_raises_with_every_error() -> None:
    with pytest.raises(ConfigError) as raised:
        load_job_text(GOOD.replace("next: update", "next: nope").replace("keys:", "kes:"))
    assert "kes" in str(raised.value)
