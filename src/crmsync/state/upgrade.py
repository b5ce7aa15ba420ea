"""Schema versions of crmsync's own tables, and their upgrade to the version this crmsync knows.

crmsync's own tables (sync state, revisions, users, jobs, outboxes…) are made and changed only by
the Alembic migrations in ``migrations/versions``. The store's version is kept in
``crmsync_schema_version`` (Alembic's version table, under a reserved name so that it never meets
another application's); each upgrade is recorded in ``crmsync_schema_upgrades``.

Whoever opens the store's own tables calls :func:`ensure_store_schema` first: a new store gets
every migration; a store made before versions existed (its tables present, no version) gets the
baseline, which creates only the tables it lacks, and then the later migrations; a store whose
version this crmsync does not know was upgraded by a newer one, and is refused with
:class:`~crmsync.state.errors.StoreTooNewError`, nothing changed. The upgrade runs in one schema
transaction (:func:`~crmsync.store.schema.schema_transaction`: the advisory lock of the schema on
PostgreSQL, the write lock on SQLite), the version read again inside it, so that processes
starting together upgrade once and the others find it done.
"""

from __future__ import annotations

import functools
import threading
import weakref
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from crmsync import __version__
from crmsync.state.errors import StoreTooNewError
from crmsync.state.history import Upgrade, last_upgrades, record_upgrade
from crmsync.store.names import OWN_TABLES
from crmsync.store.schema import schema_transaction

__all__ = [
    "VERSION_TABLE",
    "Migration",
    "SchemaVersion",
    "ensure_store_schema",
    "new_store_schema",
    "store_schema",
    "upgrade_store",
]

#: Alembic's version table, under crmsync's reserved prefix.
VERSION_TABLE = "crmsync_schema_version"
_MIGRATIONS = Path(__file__).parent / "migrations"


@dataclass(frozen=True, slots=True)
class Migration:
    """One migration: its version id and what it does."""

    version: str
    title: str


@dataclass(frozen=True, slots=True)
class SchemaVersion:
    """Where a store's own tables stand against this crmsync."""

    #: The store's version (``None``: none recorded, a new store or one made before versions).
    current: str | None
    #: The newest version this crmsync knows.
    head: str
    #: The migrations an upgrade would run, oldest first (empty: up to date, or too new).
    pending: tuple[Migration, ...]
    #: No version recorded, but crmsync's tables present: made before versions existed.
    unversioned: bool
    #: The upgrades recorded in the store, newest first.
    upgrades: tuple[Upgrade, ...]

    @property
    def too_new(self) -> bool:
        """The store's version is unknown to this crmsync: a newer one upgraded it."""
        return self.current is not None and self.current not in _known_versions()

    def refusal(self) -> StoreTooNewError:
        """The error that says why this crmsync cannot open the store (when :attr:`too_new`)."""
        assert self.current is not None
        release = next((u.release for u in self.upgrades if u.to_version == self.current), None)
        by = f"crmsync {release}" if release else "a newer crmsync"
        needed = f"crmsync {release} or newer" if release else "the crmsync that upgraded it"
        return StoreTooNewError(
            f"the store's crmsync tables are at schema version {self.current}, upgraded by {by};"
            f" this crmsync {__version__} knows versions up to {self.head} and cannot use them:"
            f" run {needed} (nothing was changed)",
            version=self.current,
            release=release,
        )


#: The engines whose store was found up to date (or brought there) by this process.
_UP_TO_DATE: weakref.WeakSet[sa.Engine] = weakref.WeakSet()
_UP_TO_DATE_LOCK = threading.Lock()


def ensure_store_schema(engine: sa.Engine) -> None:
    """Bring the store's own tables to this crmsync's version, once per engine: what every
    opener of crmsync's tables calls first. Raises :class:`StoreTooNewError` for a store a newer
    crmsync upgraded."""
    with _UP_TO_DATE_LOCK:
        if engine in _UP_TO_DATE:
            return
    found = store_schema(engine)  # no lock when nothing is to be done, the usual case
    if found.too_new:
        raise found.refusal()
    if found.pending:
        upgrade_store(engine)
    with _UP_TO_DATE_LOCK:
        _UP_TO_DATE.add(engine)


def store_schema(engine: sa.Engine) -> SchemaVersion:
    """Where the store's own tables stand (read only)."""
    with engine.connect() as conn:
        return _schema_version(conn)


def new_store_schema() -> SchemaVersion:
    """Where a store not made yet would stand: no version, every migration pending (what a
    read-only command says instead of opening, and so creating, a SQLite file)."""
    return SchemaVersion(
        current=None, head=_head(), pending=_pending(None), unversioned=False, upgrades=()
    )


def upgrade_store(engine: sa.Engine) -> SchemaVersion:
    """Run the pending migrations in one schema transaction; the version found before them.
    Raises :class:`StoreTooNewError`, changing nothing, for a store a newer crmsync upgraded."""
    with schema_transaction(engine) as conn:
        found = _schema_version(conn)
        if found.too_new:
            raise found.refusal()
        if not found.pending:
            return found
        config = AlembicConfig()
        config.set_main_option("script_location", str(_MIGRATIONS))
        config.attributes["connection"] = conn
        command.upgrade(config, found.head)
        record_upgrade(conn, found.current, found.head, __version__)
    return found


def _schema_version(conn: sa.Connection) -> SchemaVersion:
    context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
    current = context.get_current_revision()
    head = _head()
    pending = _pending(current) if current is None or current in _known_versions() else ()
    tables = set(sa.inspect(conn).get_table_names())
    return SchemaVersion(
        current=current,
        head=head,
        pending=pending,
        unversioned=current is None and bool(tables & OWN_TABLES),
        upgrades=tuple(last_upgrades(conn)),
    )


def _head() -> str:
    head = _script().get_current_head()
    assert head is not None
    return head


def _pending(current: str | None) -> tuple[Migration, ...]:
    """The migrations from ``current`` (``None``: a new store) to the head, oldest first."""
    revisions = _script().iterate_revisions(_head(), current or "base")
    return tuple(
        Migration(r.revision, r.doc or "") for r in reversed(list(revisions)) if r is not None
    )


@functools.cache
def _script() -> ScriptDirectory:
    return ScriptDirectory(str(_MIGRATIONS))


@functools.cache
def _known_versions() -> frozenset[str]:
    return frozenset(r.revision for r in _script().walk_revisions())
