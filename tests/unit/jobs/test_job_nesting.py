"""A job file nested deeper than any job is an error at its line, never a RecursionError."""

from __future__ import annotations

from crmsync.jobs import check_job_text


def test_a_deeply_nested_job_file_is_a_located_error() -> None:
    text = "name: deep\nsteps: " + "[" * 20_000 + "]" * 20_000 + "\n"
    job, issues = check_job_text(text, source="deep.yaml")
    assert job is None
    (issue,) = issues
    assert "nested too deeply at line 2" in str(issue)
