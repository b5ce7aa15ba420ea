"""The active configuration of a file: seeding, comparing, the notice, apply, fast-forward, and
the store no revision may move."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from crmsync.config import ConfigError
from crmsync.errors import ConfigurationError
from crmsync.workflows import WORKFLOW_NAMES, open_active_config
from crmsync.workflows.supervisor import Supervisor, WorkflowSpec

BASE = "version: 1\nstore:\n  url: sqlite:///store.db\n"
POLL = BASE + "optinout:\n  poll_interval_seconds: 7\n"
#: A change to a section every workflow reads (not one a workflow's revisions own).
QUEUE = BASE + "queue:\n  path: elsewhere.db\n"


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
    path.write_text(QUEUE, encoding="utf-8")
    with open_active_config(path) as active:
        # The queue is shared: the file differs from every workflow's revision.
        assert [d.workflow for d in active.differences()] == list(WORKFLOW_NAMES)
        difference = active.difference("optinout")
        assert difference is not None
        assert "+  path: elsewhere.db" in difference.diff
        assert difference.sections == ("queue.path",)
        notice = active.notice(["outbound"])
        assert notice is not None
        assert "\n" not in notice
        revision = active.revision("outbound")
        assert f"outbound (active revision {revision.id} by olga" in notice
        assert ") in queue.path: " in notice
        assert f"crmsync config apply {path}" in notice
        assert f"crmsync config export --config {path} --output {path}" in notice
        # The active revision is what commands use, not the file.
        assert active.config("optinout").queue.path != tmp_path / "elsewhere.db"


def test_a_change_to_a_workflows_own_section_differs_from_that_workflow_only(
    tmp_path: Path,
) -> None:
    path = _file(tmp_path, BASE)
    with open_active_config(path) as active:
        # An inbound revision holding another workflow's section: inbound does not read it.
        stale = BASE + "outbound:\n  batch_size: 5\n"
        active.revisions.propose("inbound", stale, author="olga", note="console edit")
        active.activate(["inbound"])
    path.write_text(POLL, encoding="utf-8")
    with open_active_config(path) as active:
        assert [d.workflow for d in active.differences()] == ["optinout"]
        assert active.notice(["inbound", "outbound"]) is None
        difference = active.difference("optinout")
        assert difference is not None
        assert difference.sections == ("optinout.poll_interval_seconds",)
        assert difference.summary() == "2 line(s) added, 0 removed"
        # Applied, the file becomes the revision of optinout alone.
        applied = active.apply()
        assert [a.difference.workflow for a in applied] == ["optinout"]
        assert active.revisions.pending("inbound") is None
    # The diff shows only what the workflow reads: never another workflow's sections.
    path.write_text(BASE + "inbound:\n  poll_interval_seconds: 3\n", encoding="utf-8")
    with open_active_config(path) as active:
        assert [d.workflow for d in active.differences()] == ["inbound"]
        difference = active.difference("inbound")
        assert difference is not None
        assert difference.sections == ("inbound.poll_interval_seconds",)
        assert "+  poll_interval_seconds: 3" in difference.diff
        assert "batch_size" not in difference.diff
        assert difference.summary() == "2 line(s) added, 0 removed"


def test_apply_makes_the_file_pending_then_the_notice_says_it_waits(tmp_path: Path) -> None:
    path = _file(tmp_path, BASE)
    open_active_config(path).close()
    path.write_text(QUEUE, encoding="utf-8")
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
        assert active.config("optinout").queue.path != tmp_path / "elsewhere.db"
        assert active.config("optinout", latest=True).queue.path == tmp_path / "elsewhere.db"


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
    path.write_text(QUEUE, encoding="utf-8")
    with open_active_config(path) as active:
        applied, activated = active.fast_forward()
        assert len(applied) == 3
        assert [r.id for r in activated] == [a.revision.id for a in applied]
        assert active.config("optinout").queue.path == tmp_path / "elsewhere.db"
        assert active.differences() == []


def test_fast_forward_refuses_a_file_that_differs_from_an_edit(tmp_path: Path) -> None:
    path = _file(tmp_path, BASE)
    with open_active_config(path) as active:
        inbound = BASE + "inbound:\n  poll_interval_seconds: 3\n"
        edit = active.revisions.propose("inbound", inbound, author="olga", note="console edit")
    # The file lacks the edit of inbound's own section (and changes a shared one).
    path.write_text(QUEUE, encoding="utf-8")
    with open_active_config(path) as active:
        with pytest.raises(ConfigurationError, match="edited through the API or the console") as e:
            active.fast_forward()
        assert e.value.code == "CONFIG_EDITED"
        assert f"revision {edit.id} by olga" in e.value.message
        assert "crmsync config apply" in e.value.message
        assert f"crmsync config export --config {path} --output {path}" in e.value.message
        # Nothing changed: the edit still waits, the file is nobody's revision.
        assert active.revisions.pending("inbound") == edit
        assert active.revisions.pending("outbound") is None


def test_fast_forward_passes_an_edit_the_file_differs_from_only_in_other_sections(
    tmp_path: Path,
) -> None:
    path = _file(tmp_path, BASE)
    inbound = BASE + "inbound:\n  poll_interval_seconds: 3\n"
    with open_active_config(path) as active:
        edit = active.revisions.propose("inbound", inbound, author="olga", note="console edit")
        active.activate(["inbound"])
    # The file lacks the console's inbound edit and changes optinout's own section only.
    path.write_text(POLL, encoding="utf-8")
    with open_active_config(path) as active:
        applied, activated = active.fast_forward(["outbound", "optinout"])
        assert [a.difference.workflow for a in applied] == ["optinout"]
        assert [r.workflow for r in activated] == ["optinout"]
        assert active.config("optinout").optinout.poll_interval_seconds == 7
        # inbound's edit is untouched; crmsync run (every workflow) refuses the file for it.
        assert active.revision("inbound").id == edit.id
        with pytest.raises(ConfigurationError, match=f"inbound \\(active revision {edit.id}"):
            active.fast_forward()


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
    path.write_text(QUEUE, encoding="utf-8")
    with open_active_config(path, create=False) as active:
        assert active.config("optinout").queue.path != tmp_path / "elsewhere.db"
        assert [d.workflow for d in active.differences()] == list(WORKFLOW_NAMES)
        assert len(active.history.history()) == 3


def test_the_document_holds_each_workflows_own_sections_and_the_newest_shared_ones(
    tmp_path: Path,
) -> None:
    path = _file(tmp_path, "# as written\n" + BASE)
    with open_active_config(path) as active:
        # One text for every workflow: that text, as written.
        assert active.document() == "# as written\n" + BASE
        inbound = BASE + "inbound:\n  poll_interval_seconds: 3\noptinout:\n  batch_size: 9\n"
        active.revisions.propose("inbound", inbound, author="console", note="inbound edit")
        outbound = QUEUE + "outbound:\n  batch_size: 5\n"
        active.revisions.propose("outbound", outbound, author="file", note="file applied")
        active.activate(["inbound", "outbound"])
        active.revisions.propose("optinout", POLL, author="console", note="waits")
        document = yaml.safe_load(active.document())
        # inbound's and outbound's own sections from their revisions, the shared ones from the
        # newest (outbound's): not optinout's section from inbound's revision.
        assert document == {
            "version": 1,
            "store": {"url": "sqlite:///store.db"},
            "queue": {"path": "elsewhere.db"},
            "outbound": {"batch_size": 5},
            "inbound": {"poll_interval_seconds": 3},
        }
        pending = yaml.safe_load(active.document(latest=True))
        assert pending["optinout"] == {"poll_interval_seconds": 7}
        # The shared sections from the newest revision a file made: a console edit's are a copy.
        assert pending["queue"] == {"path": "elsewhere.db"}
        assert pending["inbound"] == {"poll_interval_seconds": 3}


def test_fast_forward_keeps_an_edit_the_file_differs_from_in_shared_sections_only(
    tmp_path: Path,
) -> None:
    path = _file(tmp_path, BASE)
    with open_active_config(path) as active:
        edit = active.revisions.propose("optinout", POLL, author="olga", note="console edit")
        active.activate(["optinout"])
    # The file holds the console's edit and changes the queue, a section every workflow reads.
    path.write_text(POLL + "queue:\n  path: elsewhere.db\n", encoding="utf-8")
    with open_active_config(path) as active:
        assert active.difference("optinout") is not None
        applied, _activated = active.fast_forward()
        assert [a.difference.workflow for a in applied] == list(WORKFLOW_NAMES)
        revision = active.revision("optinout")
        assert revision.id > edit.id
        assert active.config("optinout").optinout.poll_interval_seconds == 7  # the edit is kept
        assert active.config("optinout").queue.path == tmp_path / "elsewhere.db"
