"""The active configuration of a configuration file: what every face runs and shows.

The revision history in the store (:mod:`crmsync.workflows.revisions`) is the one truth. The
configuration file says where that store is (its ``store:`` section is read from the file alone)
and seeds the history of a workflow that has no revision yet. :func:`open_active_config` opens a
file's store and answers, for each workflow, with its active revision as a :class:`Config` and
with how the file compares with it:

- read-only and operating commands use the active revision, and say so (:meth:`notice`) when the
  file differs from it;
- :meth:`ActiveConfig.apply` makes the file the next pending revision of each workflow whose
  document differs (``crmsync config apply``); like an edit made in the console, it becomes
  active at the workflow's next start;
- :meth:`ActiveConfig.fast_forward` is how ``crmsync run`` starts: the file is applied when every
  revision it differs from in that workflow's own sections came from a file too (nobody edited
  them through the API or the console since), refused otherwise; then the pending revisions are
  activated, as ``crmsync serve``'s start does;
- :meth:`ActiveConfig.document` is the whole active configuration as one file (``crmsync config
  export``).

Each workflow's revisions own some sections (:data:`OWNED_SECTIONS`); an edit through the API or
the console changes only those. The file is compared with a workflow's revision only in the
sections that workflow reads: its own and the shared ones. Two documents are compared as
configurations (validated, defaults filled in, relative paths resolved against the file's folder),
so a file's layout, comments or spelled-out defaults are no difference.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType
from typing import Any

import sqlalchemy as sa
import yaml

from crmsync.config import ConfigError, check_config_text, load_config
from crmsync.config.models import Config
from crmsync.errors import ConfigurationError
from crmsync.store import create_engine_for, missing_sqlite_file
from crmsync.workflows.revisions import (
    OWNED_SECTIONS,
    WORKFLOW_NAMES,
    Revision,
    RevisionStore,
    changes,
    dump_yaml,
    store_moved,
)

__all__ = ["FILE_AUTHOR", "ActiveConfig", "Applied", "Difference", "open_active_config"]

#: The author of the revisions a configuration file made (seeded or applied).
FILE_AUTHOR = "file"


@dataclass(frozen=True, slots=True)
class Difference:
    """The configuration file differs from ``revision`` of ``workflow``."""

    workflow: str
    revision: Revision
    #: A unified diff from the revision to the file.
    diff: str
    #: Where they differ: top-level sections, or their keys (e.g. ``inbound.mappings``).
    sections: tuple[str, ...] = ()

    def describe(self) -> str:
        """E.g. ``inbound (active revision 4 by olga, 2025-03-01 09:12 UTC)``."""
        when = self.revision.created_at.strftime("%Y-%m-%d %H:%M UTC")
        return (
            f"{self.workflow} ({self.revision.state} revision {self.revision.id} by "
            f"{self.revision.author}, {when})"
        )

    def in_own_sections(self) -> bool:
        """Whether the file differs in a section the workflow's revisions own."""
        owned = OWNED_SECTIONS[self.workflow]
        return any(section.split(".", 1)[0] in owned for section in self.sections)

    def summary(self) -> str:
        """How many lines the file adds and removes, e.g. ``2 line(s) added, 1 removed``."""
        lines = self.diff.splitlines()
        added = sum(1 for line in lines if line.startswith("+") and not line.startswith("+++"))
        removed = sum(1 for line in lines if line.startswith("-") and not line.startswith("---"))
        return f"{added} line(s) added, {removed} removed"


@dataclass(frozen=True, slots=True)
class Applied:
    """The file saved as ``revision`` of a workflow, with what it changed."""

    difference: Difference
    revision: Revision


class ActiveConfig:
    """A configuration file's store and each workflow's revisions there.

    Made by :func:`open_active_config`; close it (or use it as a context manager) to release the
    store's connections.
    """

    def __init__(
        self,
        path: Path,
        text: str,
        file: Config,
        engine: sa.Engine | None,
        *,
        environ: Mapping[str, str] | None = None,
        create: bool = True,
    ) -> None:
        self.path = path
        #: The file's text, as written: the first revision of a workflow that has none.
        self.text = text
        #: The file's configuration, its relative paths resolved against its folder.
        self.file = file
        #: ``None``: opened without creating, on a SQLite file that does not exist yet.
        self.engine = engine
        self.environ = environ
        self.base = path.absolute().parent
        self._checked: dict[int, Config] = {}
        #: The store's revisions; ``None`` when opened without creating a store that has no
        #: history yet (the file is then every workflow's configuration).
        self.revisions: RevisionStore | None = None
        if engine is None:
            return
        if not create:
            self.revisions = RevisionStore.existing(engine)
            return
        self.revisions = RevisionStore(engine)
        for name in WORKFLOW_NAMES:
            self.revisions.seed(name, text)

    def __enter__(self) -> ActiveConfig:
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        if self.engine is not None:
            self.engine.dispose()

    @property
    def history(self) -> RevisionStore:
        """The store's revisions, to change or list (:class:`ConfigurationError` when opened
        without creating a store that has none)."""
        if self.revisions is None:
            raise ConfigurationError(
                f"the store of {self.path} has no configuration history yet",
                code="NO_HISTORY",
            )
        return self.revisions

    # -- reading ----------------------------------------------------------------------------

    def revision(self, workflow: str, *, latest: bool = False) -> Revision:
        """The workflow's active revision (``latest``: its pending one when it has one)."""
        found = self._found(workflow, latest=latest)
        if found is None:
            raise ConfigurationError(
                f"the store of {self.path} has no revision of {workflow} yet",
                code="NO_HISTORY",
            )
        return found

    def _found(self, workflow: str, *, latest: bool) -> Revision | None:
        """:meth:`revision`, or ``None`` when the store has none (opened without creating)."""
        if workflow not in WORKFLOW_NAMES:
            known = ", ".join(WORKFLOW_NAMES)
            raise ConfigurationError(
                f"there is no workflow '{workflow}' (workflows: {known})", code="UNKNOWN_WORKFLOW"
            )
        if self.revisions is None:
            return None
        return self.revisions.latest(workflow) if latest else self.revisions.active(workflow)

    def config(self, workflow: str, *, latest: bool = False) -> Config:
        """The configuration the workflow runs on: its active revision (``latest``: with its
        pending edits), on the file's store; the file when the store has no revision yet
        (opened without creating)."""
        revision = self._found(workflow, latest=latest)
        if revision is None:
            return self.file
        return self._check(revision).model_copy(update={"store": self.file.store})

    def configs(self, workflows: Iterable[str] = WORKFLOW_NAMES) -> dict[str, Config]:
        """:meth:`config` of each workflow, by name."""
        return {name: self.config(name) for name in workflows}

    def _check(self, revision: Revision) -> Config:
        found = self._checked.get(revision.id)
        if found is None:
            source = f"revision {revision.id} of {revision.workflow}"
            report = check_config_text(
                revision.yaml, source=source, environ=self.environ, base=self.base
            )
            if report.config is None or report.errors:
                raise ConfigError(report.issues)
            found = self._checked[revision.id] = report.config
        return found

    def document(self, *, latest: bool = False) -> str:
        """The whole configuration as one YAML document (``crmsync config export``): each
        workflow's own sections (:data:`OWNED_SECTIONS`) from its active revision (``latest``:
        pending, else active), the shared sections from the newest of those revisions a file
        made (an edit through the API or the console changes only its workflow's own sections:
        its shared ones are a copy of an earlier file's). When every workflow holds the same
        text, that text as written, comments included."""
        revisions = [self.revision(name, latest=latest) for name in WORKFLOW_NAMES]
        if len({revision.yaml for revision in revisions}) == 1:
            return revisions[0].yaml
        made = [revision for revision in revisions if revision.author == FILE_AUTHOR]
        newest = max(made or revisions, key=lambda revision: revision.id)
        document = _loaded(newest.yaml)
        for revision in revisions:
            own = _loaded(revision.yaml)
            for section in OWNED_SECTIONS[revision.workflow]:
                if section in own:
                    document[section] = own[section]
                else:
                    document.pop(section, None)
        return dump_yaml(document)

    # -- comparing --------------------------------------------------------------------------

    def difference(self, workflow: str, *, latest: bool = False) -> Difference | None:
        """How the file differs from the workflow's active (``latest``: pending, else active)
        revision; ``None`` when it does not, or the store has no revision yet (opened without
        creating)."""
        revision = self._found(workflow, latest=latest)
        if revision is None:
            return None
        before, after = _seen_by(workflow, self._check(revision)), _seen_by(workflow, self.file)
        if before == after:
            return None
        labels = (f"{workflow}: revision {revision.id}", str(self.path))
        texts = (_text_seen_by(workflow, revision.yaml), _text_seen_by(workflow, self.text))
        diff = changes(*texts, labels=labels)
        return Difference(workflow, revision, diff, _sections(before, after))

    def differences(
        self, workflows: Iterable[str] = WORKFLOW_NAMES, *, latest: bool = False
    ) -> list[Difference]:
        found = (self.difference(name, latest=latest) for name in workflows)
        return [item for item in found if item is not None]

    def notice(self, workflows: Iterable[str]) -> str | None:
        """One line saying that the file differs from the active revision of ``workflows`` (the
        ones a command uses), which is used, and the two ways out; ``None`` when it does not."""
        found = self.differences(workflows)
        if not found:
            return None
        waiting = [item for item in found if self._is_pending(item.workflow)]
        parts = [
            item.describe()
            + f" in {', '.join(item.sections)}"
            + (", the file being its pending revision" if item in waiting else "")
            for item in found
        ]
        said = f"{self.path} differs from the active configuration of {'; '.join(parts)}: "
        if len(waiting) == len(found):
            return said + (
                "the active revision is used until the workflow next starts (crmsync workflow "
                "start under crmsync serve, or crmsync run)"
            )
        return said + (
            f"the revision is used. To use the file: crmsync config apply {self.path} (active at "
            f"the workflow's next start); to write the active configuration into the file: "
            f"crmsync config export --config {self.path} --output {self.path}"
        )

    def pending_notice(self, workflows: Iterable[str]) -> str | None:
        """One line naming the pending revisions of ``workflows`` (edits not in effect yet)."""
        revisions = self.revisions
        if revisions is None:
            return None
        found = [r for r in map(revisions.pending, workflows) if r is not None]
        if not found:
            return None
        listed = "; ".join(f"{r.workflow}: revision {r.id} by {r.author} ({r.note})" for r in found)
        return f"pending edits, in effect when their workflow next starts: {listed}"

    def _is_pending(self, workflow: str) -> bool:
        """Whether the file is the workflow's pending revision."""
        pending = self.history.pending(workflow)
        return pending is not None and _seen_by(workflow, self._check(pending)) == _seen_by(
            workflow, self.file
        )

    # -- changing ---------------------------------------------------------------------------

    def apply(
        self, workflows: Iterable[str] = WORKFLOW_NAMES, *, note: str | None = None
    ) -> list[Applied]:
        """Save the file as the next pending revision of each of ``workflows`` whose latest
        revision (pending, else active) differs from it; nothing is saved when one of them would
        move the store (:class:`ConfigError`)."""
        found = self.differences(workflows, latest=True)
        for item in found:
            moved = store_moved(self._check(item.revision).store, self.file)
            if moved is not None:
                raise ConfigError([replace(moved, source=str(self.path))])
        text = note or f"configuration file {self.path} applied"
        propose = self.history.propose
        return [
            Applied(item, propose(item.workflow, self.text, author=FILE_AUTHOR, note=text))
            for item in found
        ]

    def activate(self, workflows: Iterable[str] = WORKFLOW_NAMES) -> list[Revision]:
        """Make each workflow's pending revision its active one (what starting it does)."""
        activated = (self.history.activate(name) for name in workflows)
        return [revision for revision in activated if revision is not None]

    def fast_forward(
        self, workflows: Iterable[str] = WORKFLOW_NAMES
    ) -> tuple[list[Applied], list[Revision]]:
        """Make the file the active configuration of ``workflows`` (every one by default), as
        ``crmsync run`` starts them (and ``events run`` and ``optout run`` their own).

        Allowed only when each revision the file differs from in its workflow's own sections
        (:data:`OWNED_SECTIONS`) was made by a file (seeded or applied): an edit made through the
        API or the console is never overwritten silently (:class:`ConfigurationError`, code
        ``CONFIG_EDITED``, naming the two ways out). Such an edit changes only those sections,
        so a file that differs from it in the shared ones alone keeps it. Then every pending
        revision is activated. Returns what the file changed, and the revisions activated.
        """
        workflows = tuple(workflows)
        edited = [
            item
            for item in self.differences(workflows, latest=True)
            if item.revision.author != FILE_AUTHOR and item.in_own_sections()
        ]
        if edited:
            revisions = _describe(edited)
            raise ConfigurationError(
                f"{self.path} differs from the configuration edited through the API or the "
                f"console: {revisions}. Apply the file (replacing those edits): crmsync config "
                f"apply {self.path}; or write the active configuration into the file first: "
                f"crmsync config export --config {self.path} --output {self.path}",
                code="CONFIG_EDITED",
            )
        applied = self.apply(workflows, note=f"configuration file {self.path} run")
        return applied, self.activate(workflows)


def _describe(differences: Sequence[Difference]) -> str:
    return "; ".join(item.describe() for item in differences)


def _seen_by(workflow: str, config: Config) -> dict[str, Any]:
    """``config`` as ``workflow`` reads it: without the sections other workflows own (their
    revisions hold them; see :data:`OWNED_SECTIONS`)."""
    return _without_others(workflow, config.model_dump(mode="json"))


def _text_seen_by(workflow: str, text: str) -> str:
    """The YAML ``text`` of a configuration without the sections other workflows own."""
    return dump_yaml(_without_others(workflow, _loaded(text)))


def _loaded(text: str) -> dict[str, Any]:
    data = yaml.safe_load(text)
    return data if isinstance(data, dict) else {}


def _without_others(workflow: str, data: dict[str, Any]) -> dict[str, Any]:
    others = {s for name, owned in OWNED_SECTIONS.items() if name != workflow for s in owned}
    return {key: value for key, value in data.items() if key not in others}


def _sections(before: dict[str, Any], after: dict[str, Any]) -> tuple[str, ...]:
    """Where two configuration documents differ: each top-level section, or each key of a
    section that is a mapping (``inbound.mappings``), in the order of the configuration."""
    found: list[str] = []
    for key in [*before, *(k for k in after if k not in before)]:
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        if isinstance(old, dict) and isinstance(new, dict):
            keys = [*old, *(k for k in new if k not in old)]
            found += [f"{key}.{sub}" for sub in keys if old.get(sub) != new.get(sub)]
        else:
            found.append(key)
    return tuple(found)


def open_active_config(
    path: str | Path, *, environ: Mapping[str, str] | None = None, create: bool = True
) -> ActiveConfig:
    """Load the configuration file at ``path``, open its store and seed the revision history of
    each workflow that has none with the file (:class:`ConfigError` lists a bad file's errors).

    Without ``create`` nothing is created, seeded nor upgraded (for the commands that only
    read, or plan): a SQLite file that does not exist yet is not opened, a store without a
    revision history is not given one; either way the file is every workflow's configuration.
    """
    path = Path(path)
    file = load_config(path, environ=environ)
    text = path.read_text(encoding="utf-8")
    url, schema = file.store.url, file.store.pg_schema
    unmade = not create and missing_sqlite_file(url) is not None
    engine = None if unmade else create_engine_for(url, schema=schema)
    try:
        return ActiveConfig(path, text, file, engine, environ=environ, create=create)
    except BaseException:
        if engine is not None:
            engine.dispose()
        raise
