"""Configuration revisions: each workflow's configuration as a history of YAML documents.

A revision holds a whole configuration document (YAML text). Each workflow has its own chain:

- the configuration file is the first revision of every workflow (``active``, author ``file``);
- an edit creates a ``pending`` revision (an earlier pending one of the workflow becomes
  ``superseded``); the running workflow keeps its ``active`` revision;
- starting the workflow activates its pending revision (the active one becomes ``superseded``).

The states move only through :meth:`RevisionStore.propose` and :meth:`RevisionStore.activate`,
each one transaction, so that a workflow always has exactly one active revision.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Literal

import sqlalchemy as sa
import yaml

from crmsync.config.defaults import without_defaults
from crmsync.config.errors import ConfigIssue
from crmsync.config.models import Config, StoreConfig
from crmsync.state.upgrade import ensure_store_schema, store_schema
from crmsync.store.engine import write_transaction
from crmsync.store.types import UtcDateTime

__all__ = [
    "JOBS_WORKFLOW",
    "OWNED_SECTIONS",
    "WORKFLOW_NAMES",
    "Revision",
    "RevisionState",
    "RevisionStore",
    "changes",
    "dump_yaml",
    "store_moved",
]

#: The table of the revisions, one of crmsync's own.
REVISIONS_TABLE = "crmsync_config_revisions"
#: The workflows, each with its own chain of revisions.
WORKFLOW_NAMES = ("inbound", "outbound", "optinout")
#: The workflow whose active configuration gives job runs their connections.
JOBS_WORKFLOW = "inbound"
#: The sections of the configuration each workflow's revisions own: an edit through the API or
#: the console changes only these (mappings and resources: inbound; the events: outbound; the
#: pairs: optinout). The other sections (connections, store, queue, guardrails) are shared by
#: every workflow and change only when a file is applied.
OWNED_SECTIONS: dict[str, tuple[str, ...]] = {
    "inbound": ("inbound", "resources"),
    "outbound": ("outbound",),
    "optinout": ("optinout",),
}

RevisionState = Literal["pending", "active", "superseded"]

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite autoincrements INTEGER only


def _utcnow() -> datetime:
    return datetime.now(UTC)


def dump_yaml(data: Any) -> str:
    """``data`` as the YAML text of an edited revision (keys in their order, block style)."""
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def store_moved(store: StoreConfig, candidate: Config) -> ConfigIssue | None:
    """Why ``candidate`` cannot be a revision of the history kept in ``store`` (the
    configuration file's store, its paths resolved): it names another store. ``None``: it may."""
    if candidate.store == store:
        return None
    return ConfigIssue(
        ("store",),
        "a configuration revision cannot move the store: its 'store:' section must be the one "
        "of the configuration file, which says where the revisions are kept (to use another "
        "store, point the file at it: its history starts from the file)",
    )


def changes(before: str | None, after: str, *, labels: tuple[str, str]) -> str:
    """A unified diff from ``before`` to ``after`` (``None``: nothing before), both written out
    the same way first, so that a file's own layout (flow style, comments) is not shown as a
    change, and both without the keys set to their default value, so that a default written
    out on one side and left out on the other is not shown as a change either."""

    def lines(text: str | None) -> list[str]:
        if text is None:
            return []
        return dump_yaml(without_defaults(yaml.safe_load(text))).splitlines(keepends=True)

    return "".join(difflib.unified_diff(lines(before), lines(after), *labels))


@dataclass(frozen=True, slots=True)
class Revision:
    id: int
    workflow: str
    yaml: str
    author: str
    created_at: datetime
    state: RevisionState
    #: What changed, in a few words (e.g. "mapping 'contacts' updated").
    note: str


def _table(metadata: sa.MetaData) -> sa.Table:
    return sa.Table(
        REVISIONS_TABLE,
        metadata,
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("workflow", sa.String(64), nullable=False, index=True),
        sa.Column("yaml", sa.Text(), nullable=False),
        sa.Column("author", sa.String(255), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("note", sa.Text(), nullable=False, server_default=""),
    )


class RevisionStore:
    """The ``crmsync_config_revisions`` table in ``engine``'s database, upgraded on open."""

    def __init__(
        self,
        engine: sa.Engine,
        *,
        clock: Callable[[], datetime] = _utcnow,
        upgrade: bool = True,
    ) -> None:
        self.engine = engine
        self._clock = clock
        metadata = sa.MetaData()
        self.table = _table(metadata)
        if upgrade:
            ensure_store_schema(engine)

    @classmethod
    def existing(cls, engine: sa.Engine) -> RevisionStore | None:
        """The history in ``engine``'s store, to read only (nothing created nor upgraded);
        ``None`` when the store has none yet. Raises
        :class:`~crmsync.state.errors.StoreTooNewError` for a store a newer crmsync upgraded."""
        found = store_schema(engine)
        if found.too_new:
            raise found.refusal()
        if not sa.inspect(engine).has_table(REVISIONS_TABLE):
            return None
        return cls(engine, upgrade=False)

    def seed(self, workflow: str, yaml_text: str) -> Revision:
        """The active revision of ``workflow``; the configuration file's text when it has none."""
        with write_transaction(self.engine) as conn:
            found = self._one(conn, workflow, "active")
            if found is not None:
                return found
            return self._insert(conn, workflow, yaml_text, "file", "active", "configuration file")

    def propose(self, workflow: str, yaml_text: str, *, author: str, note: str) -> Revision:
        """Save an edit as the pending revision of ``workflow`` (replacing a pending one)."""
        t = self.table
        with self.engine.begin() as conn:
            conn.execute(
                sa.update(t)
                .where(t.c.workflow == workflow, t.c.state == "pending")
                .values(state="superseded")
            )
            return self._insert(conn, workflow, yaml_text, author, "pending", note)

    def activate(self, workflow: str) -> Revision | None:
        """Make the pending revision of ``workflow`` its active one; ``None`` when none."""
        t = self.table
        with write_transaction(self.engine) as conn:
            pending = self._one(conn, workflow, "pending")
            if pending is None:
                return None
            conn.execute(
                sa.update(t)
                .where(t.c.workflow == workflow, t.c.state == "active")
                .values(state="superseded")
            )
            conn.execute(sa.update(t).where(t.c.id == pending.id).values(state="active"))
            return replace(pending, state="active")

    def active(self, workflow: str) -> Revision | None:
        with self.engine.connect() as conn:
            return self._one(conn, workflow, "active")

    def pending(self, workflow: str) -> Revision | None:
        with self.engine.connect() as conn:
            return self._one(conn, workflow, "pending")

    def latest(self, workflow: str) -> Revision | None:
        """The revision edits build on: the pending one, else the active one."""
        return self.pending(workflow) or self.active(workflow)

    def get(self, revision_id: int) -> Revision | None:
        t = self.table
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(t).where(t.c.id == revision_id)).first()
        return None if row is None else _revision(row)

    def previous(self, revision: Revision) -> Revision | None:
        """The revision of the same workflow saved just before ``revision``."""
        t = self.table
        query = (
            sa.select(t)
            .where(t.c.workflow == revision.workflow, t.c.id < revision.id)
            .order_by(t.c.id.desc())
            .limit(1)
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else _revision(row)

    def history(self, workflow: str | None = None, *, limit: int = 100) -> list[Revision]:
        """Revisions (of ``workflow``), newest first."""
        t = self.table
        query = sa.select(t).order_by(t.c.id.desc()).limit(limit)
        if workflow is not None:
            query = query.where(t.c.workflow == workflow)
        with self.engine.connect() as conn:
            return [_revision(row) for row in conn.execute(query)]

    def _one(self, conn: sa.Connection, workflow: str, state: RevisionState) -> Revision | None:
        t = self.table
        query = (
            sa.select(t)
            .where(t.c.workflow == workflow, t.c.state == state)
            .order_by(t.c.id.desc())
            .limit(1)
        )
        row = conn.execute(query).first()
        return None if row is None else _revision(row)

    def _insert(
        self,
        conn: sa.Connection,
        workflow: str,
        yaml_text: str,
        author: str,
        state: RevisionState,
        note: str,
    ) -> Revision:
        values = {
            "workflow": workflow,
            "yaml": yaml_text,
            "author": author,
            "created_at": self._clock(),
            "state": state,
            "note": note,
        }
        row = conn.execute(sa.insert(self.table).values(**values).returning(*self.table.c)).one()
        return _revision(row)


def _revision(row: sa.Row[Any]) -> Revision:
    return Revision(
        row.id, row.workflow, row.yaml, row.author, row.created_at, row.state, row.note or ""
    )
