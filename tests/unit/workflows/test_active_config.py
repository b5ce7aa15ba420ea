"""The active configuration of a file: seeding, comparing, the notice, apply, fast-forward, and
the store no revision may move."""

from __future__ import annotations

from pathlib import Path

import pytest

from crmsync.config import ConfigError
from crmsync.errors import ConfigurationError
from crmsync.workflows import WORKFLOW_NAMES, open_active_config
from crmsync.workflows.supervisor import Supervisor, WorkflowSpec

BASE = "version: 1\nstore:\n  url: sqlite:///store.db\n"
POLL = BASE + "optinout:\n  poll_interval_seconds: 7\n"


async def _never(*_args: object) -> None:
    raise AssertionError("no workflow runs here")


def _file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "crmsync.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_file_seeds_every_workflow_and_is_no_difference(tmp_path: Path) -> None:
    path = _file(tmp_path, BASE)
    with open_active_config(path) as active:
        for name in WORKFLOW_NAMES:
            revision = active.revision(name)
            assert (revision.state, revision.author, revision.yaml) == ("active", "file", BASE)
        assert active.differences() == []
        assert active.notice(WORKFLOW_NAMES) is None
        assert active.config("inbound").store.url == f"sqlite:///{tmp_path / 'store.db'}"
    # Opened again: the history is kept, not seeded twice.
    with open_active_config(path) as active:
        assert len(active.revisions.history()) == 3


def test_layout_comments_and_spelled_out_defaults_are_no_difference(tmp_path: Path) -> None:
    path = _file(tmp_path, BASE)
    open_active_config(path).close()
    path.write_text(
        "# the same configuration\nversion: 1\nstore: {url: 'sqlite:///store.db'}\n"
        "outbound:\n  events: {send: false, open: false}\n",
        encoding="utf-8",
    )
    with open_active_config(path) as active:
        assert active.differences() == []


def test_a_changed_file_is_noticed_with_the_revision_and_both_ways_out(tmp_path: Path) -> None:
    path = _file(tmp_path, BASE)
    with open_active_config(path) as active:
        active.revisions.propose("outbound", BASE, author="olga", note="console edit")
        active.activate(["outbound"])
    path.write_text(POLL, encoding="utf-8")
    with open_active_config(path) as active:
        assert [d.workflow for d in active.differences()] == list(WORKFLOW_NAMES)
        difference = active.difference("optinout")
        assert difference is not None
        assert "+  poll_interval_seconds: 7" in difference.diff
        assert difference.sections == ("optinout.poll_interval_seconds",)
        notice = active.notice(["outbound"])
        assert notice is not None
        assert "\n" not in notice
        revision = active.revision("outbound")
        assert f"outbound (active revision {revision.id} by olga" in notice
        assert ") in optinout.poll_interval_seconds: " in notice
        assert f"crmsync config apply {path}" in notice
        assert f"crmsync config export --workflow outbound --output {path}" in notice
        # The active revision is what commands use, not the file.
        assert active.config("optinout").optinout.poll_interval_seconds != 7


def test_apply_makes_the_file_pending_then_the_notice_says_it_waits(tmp_path: Path) -> None:
    path = _file(tmp_path, BASE)
    open_active_config(path).close()
    path.write_text(POLL, encoding="utf-8")
    with open_active_config(path) as active:
        applied = active.apply()
        assert [a.difference.workflow for a in applied] == list(WORKFLOW_NAMES)
        assert all(a.revision.state == "pending" and a.revision.author == "file" for a in applied)
        assert applied[0].difference.summary() == "2 line(s) added, 0 removed"
        assert active.apply() == []  # nothing differs from the pending revisions any more
        notice = active.notice(["optinout"])
        assert notice is not None
        assert "the file being its pending revision" in notice
        assert "config apply" not in notice
        assert active.config("optinout").optinout.poll_interval_seconds != 7
        assert active.config("optinout", latest=True).optinout.poll_interval_seconds == 7


def test_apply_refuses_a_file_that_moves_the_store_and_saves_nothing(tmp_path: Path) -> None:
    path = _file(tmp_path, BASE)
    with open_active_config(path) as active:
        # A history whose revisions name another store (copied from elsewhere).
        moved = BASE.replace("store.db", "/elsewhere/store.db")
        active.revisions.propose("inbound", moved, author="file", note="copied")
        active.activate(["inbound"])
        before = len(active.revisions.history())
        with pytest.raises(ConfigError, match="cannot move the store") as caught:
            active.apply()
        assert caught.value.issues[0].path == "store"
        assert len(active.revisions.history()) == before
        # Commands still use the file's store, whatever the revision says.
        assert active.config("inbound").store == active.file.store


def test_fast_forward_applies_and_activates_a_file_nobody_edited_over(tmp_path: Path) -> None:
    path = _file(tmp_path, BASE)
    open_active_config(path).close()
    path.write_text(POLL, encoding="utf-8")
    with open_active_config(path) as active:
        applied, activated = active.fast_forward()
        assert len(applied) == 3
        assert [r.id for r in activated] == [a.revision.id for a in applied]
        assert active.config("optinout").optinout.poll_interval_seconds == 7
        assert active.differences() == []


def test_fast_forward_refuses_a_file_that_differs_from_an_edit(tmp_path: Path) -> None:
    path = _file(tmp_path, BASE)
    with open_active_config(path) as active:
        edit = active.revisions.propose("inbound", BASE, author="olga", note="console edit")
    path.write_text(POLL, encoding="utf-8")
    with open_active_config(path) as active:
        with pytest.raises(ConfigurationError, match="edited through the API or the console") as e:
            active.fast_forward()
        assert e.value.code == "CONFIG_EDITED"
        assert f"revision {edit.id} by olga" in e.value.message
        assert "crmsync config apply" in e.value.message
        assert "crmsync config export --workflow inbound" in e.value.message
        # Nothing changed: the edit still waits, the file is nobody's revision.
        assert active.revisions.pending("inbound") == edit
        assert active.revisions.pending("outbound") is None


def test_the_pending_notice_names_edits_not_in_effect(tmp_path: Path) -> None:
    path = _file(tmp_path, BASE)
    with open_active_config(path) as active:
        assert active.pending_notice(WORKFLOW_NAMES) is None
        edit = active.revisions.propose("inbound", POLL, author="olga", note="poll changed")
        notice = active.pending_notice(WORKFLOW_NAMES)
        assert notice == (
            "pending edits, in effect when their workflow next starts: "
            f"inbound: revision {edit.id} by olga (poll changed)"
        )
        assert active.pending_notice(["outbound"]) is None


def test_an_edit_may_not_move_the_store(tmp_path: Path) -> None:
    path = _file(tmp_path, BASE)
    with open_active_config(path) as active:
        spec = WorkflowSpec(run=_never, backlog=_never)  # type: ignore[arg-type]
        supervisor = Supervisor(active.engine, active.text, {"inbound": spec}, base=active.base)

        def move(data: dict[str, object]) -> dict[str, object]:
            return data | {"store": {"url": "sqlite:///other.db"}}

        with pytest.raises(ConfigError, match="cannot move the store") as caught:
            supervisor.edit("inbound", move, author="olga", note="moved")
        assert caught.value.issues[0].path == "store"
        assert active.revisions.pending("inbound") is None


def test_an_unknown_workflow_is_named(tmp_path: Path) -> None:
    with (
        open_active_config(_file(tmp_path, BASE)) as active,
        pytest.raises(ConfigurationError, match="no workflow 'inbond'"),
    ):
        active.config("inbond")


def test_opened_without_creating_a_store_not_made_yet_answers_from_the_file(
    tmp_path: Path,
) -> None:
    path = _file(tmp_path, POLL)
    with open_active_config(path, create=False) as active:
        assert active.revisions is None
        assert active.config("optinout").optinout.poll_interval_seconds == 7
        assert active.differences() == []
        assert (active.notice(WORKFLOW_NAMES), active.pending_notice(WORKFLOW_NAMES)) == (
            None,
            None,
        )
        with pytest.raises(ConfigurationError) as refused:
            active.apply()
        assert refused.value.code == "NO_HISTORY"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["crmsync.yaml"]


def test_opened_without_creating_an_existing_store_reads_its_history_unchanged(
    tmp_path: Path,
) -> None:
    path = _file(tmp_path, BASE)
    open_active_config(path).close()
    path.write_text(POLL, encoding="utf-8")
    with open_active_config(path, create=False) as active:
        assert active.config("optinout").optinout.poll_interval_seconds != 7
        assert [d.workflow for d in active.differences()] == list(WORKFLOW_NAMES)
        assert len(active.history.history()) == 3
