"""The operator audit trail: every face records through :func:`record` (or :func:`recorded`) and
reads through :func:`query`.

What a row holds: when (UTC), who (:class:`Actor`: a user name, ``token:<user>`` for a call made
with one of the user's API tokens, ``cli:<OS user>`` for a command run on the store's machine),
through which face, which action (:class:`Action`), on what (a workflow, mapping, user or job
name), the outcome (:class:`Outcome`) and details: a JSON object of ids, names and counts. Never a
record's values, a password, a token or a secret: the callers pass ids only, and an error is
recorded by its code, never its message.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import orjson
import sqlalchemy as sa

from crmsync.audit.tables import AUDIT
from crmsync.errors import CrmsyncError
from crmsync.state.upgrade import ensure_store_schema

__all__ = [
    "Action",
    "Actor",
    "AuditEntry",
    "Face",
    "Outcome",
    "Where",
    "query",
    "record",
    "recorded",
    "settle",
]

#: Where a row is written or read: an engine (its own transaction) or a connection (the caller's
#: transaction, so that the row commits or rolls back with the writes it describes).
Where = sa.Engine | sa.Connection


class Face(StrEnum):
    """Through what the action came."""

    CLI = "cli"
    API = "api"
    CONSOLE = "console"


class Outcome(StrEnum):
    """How the action ended."""

    STARTED = "started"  # begun, no end recorded: the process stopped during it
    OK = "ok"
    REFUSED = "refused"  # the caller's role does not allow it: nothing was done
    FAILED = "failed"  # tried and failed: ``details.error`` holds the error's code


class Action(StrEnum):
    """Every action the trail records, as ``<subject>.<verb>``."""

    WORKFLOW_START = "workflow.start"
    WORKFLOW_STOP = "workflow.stop"
    REVISION_ACTIVATE = "revision.activate"
    CONFIG_APPLY = "config.apply"
    MAPPING_CREATE = "mapping.create"
    MAPPING_UPDATE = "mapping.update"
    MAPPING_DELETE = "mapping.delete"
    MAPPING_REPLAY = "mapping.replay"
    RESOURCE_CREATE = "resource.create"
    RESOURCE_UPDATE = "resource.update"
    RESOURCE_DELETE = "resource.delete"
    EVENTS_UPDATE = "events.update"
    OPTINOUT_UPDATE = "optinout.update"
    REJECTS_RETRY = "rejects.retry"
    USER_CREATE = "user.create"
    USER_UPDATE = "user.update"
    USER_DELETE = "user.delete"
    TOKEN_CREATE = "token.create"  # noqa: S105 (an action's name, not a token)
    TOKEN_REVOKE = "token.revoke"  # noqa: S105 (an action's name, not a token)
    JOB_RUN = "job.run"
    JOB_RESUME = "job.resume"
    OPTION_SET = "option.set"
    PRIVACY_DELETE = "privacy.delete"
    PRIVACY_UNSUPPRESS = "privacy.unsuppress"


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts, and through which face: ``user`` is the user's name (the OS user's at the
    command line); ``token`` says the call carried one of the user's API tokens."""

    user: str
    face: Face
    token: bool = False

    @property
    def name(self) -> str:
        """As the trail records it: ``ada``, ``token:ada`` or ``cli:root``."""
        if self.face is Face.CLI:
            return f"cli:{self.user}"
        return f"token:{self.user}" if self.token else self.user

    @classmethod
    def cli(cls) -> Actor:
        """Whoever runs this command on this machine."""
        try:
            user = getpass.getuser()
        except OSError:  # no name for the uid (a container's): the uid says who
            user = str(os.getuid())
        return cls(user, Face.CLI)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One row of the trail."""

    id: int
    at: datetime
    actor: str
    face: Face
    action: str
    target: str
    outcome: Outcome
    details: Mapping[str, Any]


def _now() -> datetime:
    return datetime.now(UTC)


def _json(details: Mapping[str, Any] | None) -> str:
    # No ``default=``: an object that is not plain JSON is refused rather than written as its repr.
    return orjson.dumps(dict(details or {})).decode()


@contextmanager
def _transaction(where: Where) -> Iterator[sa.Connection]:
    if isinstance(where, sa.Connection):
        yield where
        return
    ensure_store_schema(where)
    with where.begin() as conn:
        yield conn


def record(
    where: Where,
    *,
    actor: str,
    face: Face | str,
    action: Action | str,
    target: str,
    outcome: Outcome | str = Outcome.OK,
    details: Mapping[str, Any] | None = None,
    at: datetime | None = None,
) -> int:
    """Record one action; its row id.

    ``where``: the store's engine (a transaction of its own) or a connection (the caller's
    transaction: the row commits with the action's writes, e.g. a privacy delete's).
    ``actor``: :attr:`Actor.name` (``ada``, ``token:ada``, ``cli:root``). ``face``: ``cli``,
    ``api`` or ``console``. ``action``: an :class:`Action` (``"privacy.delete"``); ``target``:
    the name acted on (workflow, mapping, user, job; ``""`` when none). ``outcome``: ``ok``
    (default), ``started``, ``refused`` or ``failed``. ``details``: a JSON object of ids, names
    and counts (e.g. ``{"removed": {"profile": 1}, "emails": ["sha256:…"]}``), never values of
    records, passwords or tokens. Raises ``ValueError`` for an unknown face, action or outcome.
    """
    values = {
        "at": at or _now(),
        "actor": actor[:255],
        "face": Face(face).value,
        "action": Action(action).value,
        "target": target[:255],
        "outcome": Outcome(outcome).value,
        "details": _json(details),
    }
    with _transaction(where) as conn:
        key = conn.execute(sa.insert(AUDIT).values(**values)).inserted_primary_key
    assert key is not None
    return int(key[0])


def settle(
    where: Where,
    entry_id: int,
    outcome: Outcome | str,
    details: Mapping[str, Any] | None = None,
) -> None:
    """Set the outcome of entry ``entry_id`` (recorded ``started``) and its details."""
    values = {"outcome": Outcome(outcome).value, "details": _json(details)}
    with _transaction(where) as conn:
        conn.execute(sa.update(AUDIT).where(AUDIT.c.id == entry_id).values(**values))


@contextmanager
def recorded(
    engine: sa.Engine,
    by: Actor,
    action: Action,
    target: str,
    details: Mapping[str, Any] | None = None,
) -> Iterator[dict[str, Any]]:
    """Record ``action`` as ``started``, run the block, then settle it ``ok`` or, when the block
    raises, ``failed`` with the error's code (never its message). The block may add ids to the
    dict it is given (e.g. the revision saved)."""
    added = dict(details or {})
    entry_id = record(
        engine,
        actor=by.name,
        face=by.face,
        action=action,
        target=target,
        outcome=Outcome.STARTED,
        details=added,
    )
    try:
        yield added
    except BaseException as exc:
        code = exc.code if isinstance(exc, CrmsyncError) and exc.code else type(exc).__name__
        settle(engine, entry_id, Outcome.FAILED, {**added, "error": code})
        raise
    settle(engine, entry_id, Outcome.OK, added)


def _user_filter(user: str) -> sa.ColumnElement[bool]:
    """A plain name matches its own rows, its tokens' and the OS user's of that name; a name
    with its kind (``token:ada``, ``cli:root``) matches that actor only."""
    if ":" in user:
        return AUDIT.c.actor == user
    return AUDIT.c.actor.in_((user, f"token:{user}", f"cli:{user}"))


def _action_filter(action: str) -> sa.ColumnElement[bool]:
    """``workflow.`` (ending in a dot) matches every action of the subject; else one action."""
    if action.endswith("."):
        return AUDIT.c.action.startswith(action, autoescape=True)
    return AUDIT.c.action == action


def query(
    engine: sa.Engine,
    *,
    actor: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[AuditEntry]:
    """The entries matching every filter given, newest first. ``actor``: a plain name matches
    the user's rows, their tokens' (``token:ada``) and the OS user's of that name (``cli:ada``);
    with its kind (``token:ada``) it matches that actor only. ``action``: one action, or every
    action of a subject with a prefix ending in ``.`` (``workflow.``). ``since`` (inclusive)
    and ``until`` (exclusive): aware datetimes."""
    for name, moment in (("since", since), ("until", until)):
        if moment is not None and moment.tzinfo is None:
            raise ValueError(f"{name}: give a time with its zone (e.g. 2025-01-02T03:04:05Z)")
    conditions: list[sa.ColumnElement[bool]] = []
    if actor:
        conditions.append(_user_filter(actor))
    if action:
        conditions.append(_action_filter(action))
    if since is not None:
        conditions.append(AUDIT.c.at >= since)
    if until is not None:
        conditions.append(AUDIT.c.at < until)
    statement = (
        sa.select(AUDIT)
        .where(*conditions)
        .order_by(AUDIT.c.at.desc(), AUDIT.c.id.desc())
        .limit(limit)
        .offset(offset)
    )
    ensure_store_schema(engine)
    with engine.connect() as conn:
        rows = conn.execute(statement).all()
    return [
        AuditEntry(
            id=row.id,
            at=row.at,
            actor=row.actor,
            face=Face(row.face),
            action=row.action,
            target=row.target,
            outcome=Outcome(row.outcome),
            details=orjson.loads(row.details),
        )
        for row in rows
    ]
