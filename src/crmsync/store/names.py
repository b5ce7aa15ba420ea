"""Which names may become SQL identifiers of the Campaign store.

Resource and field names become table and column names verbatim: one rule, no translation. A name
is lower-case ASCII letters, digits and underscores, starts with a letter and fits PostgreSQL's
63-byte identifier limit, so it never needs quoting in hand-written SQL and means the same thing on
SQLite and PostgreSQL. Names the store uses itself are reserved.
"""

from __future__ import annotations

import hashlib
import re

from crmsync.store.errors import InvalidIdentifierError

__all__ = [
    "BOOKKEEPING_COLUMNS",
    "IDENTIFIER_PATTERN",
    "OWN_TABLES",
    "RESERVED_TABLE_PREFIXES",
    "SOURCE_DIGEST",
    "SYNCED_AT",
    "check_identifier",
    "constraint_name",
    "identifier_problem",
    "snake_case",
]

IDENTIFIER_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,62}")

#: The digest of the CRM record a row was last written or compared from, and when: see
#: :mod:`crmsync.sync.fingerprints`.
SOURCE_DIGEST, SYNCED_AT = "source_digest", "synced_at"
#: Columns every resource table has; user-declared fields may not use these names.
BOOKKEEPING_COLUMNS = (
    "id",
    "created_at",
    "modified_at",
    "origin",
    "source_version",
    SOURCE_DIGEST,
    SYNCED_AT,
)

#: Table names the store (``crmsync_``) or the databases themselves reserve.
RESERVED_TABLE_PREFIXES = ("crmsync_", "sqlite_", "pg_")

#: The tables crmsync keeps beside the Campaign tables in the store (state, revisions, users,
#: jobs, events, opt-in/out, two-way): no configured name may be one of them.
OWN_TABLES = frozenset(
    f"crmsync_{name}"
    for name in (
        "api_tokens",
        "audit",
        "campaign_changes",
        "config_revisions",
        "counters",
        "crm_tables",
        "cursors",
        "event_bounce",
        "event_click",
        "event_open",
        "event_send",
        "event_unsubscribe",
        "fingerprints",
        "job_deletions",
        "job_index_seen",
        "job_journal",
        "job_log",
        "job_rejects",
        "job_runs",
        "job_schedules",
        "job_sends",
        "job_steps",
        "job_variables",
        "leases",
        "options",
        "optout_cursor",
        "optout_log",
        "optout_outbox",
        "outbound_counters",
        "parked",
        "privacy_actions",
        "rejects",
        "replays",
        "resources",
        "schema_upgrades",
        "schema_version",
        "snapshot_key_sets",
        "snapshot_keys",
        "snapshot_messages",
        "snapshots",
        "suppressions",
        "tombstones",
        "twoway_base",
        "twoway_conflicts",
        "twoway_sent",
        "users",
        "watermarks",
        "workers",
        "workflows",
        "write_origin",
    )
)

_MAX_IDENTIFIER = 63


def identifier_problem(name: object) -> str | None:
    """Why ``name`` is not a valid identifier, or ``None`` when it is."""
    if not isinstance(name, str):
        return f"a name must be a string, not {type(name).__name__}"
    if IDENTIFIER_PATTERN.fullmatch(name):
        return None
    shown = name if len(name) <= 80 else name[:77] + "..."
    hint = ""
    suggestion = snake_case(name)
    if suggestion != name and IDENTIFIER_PATTERN.fullmatch(suggestion):
        hint = f" (did you mean '{suggestion}'?)"
    return (
        f"invalid name {shown!r}: use 1-63 lower-case letters, digits and underscores, "
        f"starting with a letter{hint}"
    )


def check_identifier(name: str, *, what: str = "name") -> str:
    """Return ``name`` if it is a valid identifier, else raise :class:`InvalidIdentifierError`."""
    problem = identifier_problem(name)
    if problem is not None:
        raise InvalidIdentifierError(f"{what}: {problem}")
    return name


def snake_case(name: str) -> str:
    """``externalId`` → ``external_id``: the spelling a camelCase name has in the store."""
    out = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name)
    return re.sub(r"[^a-z0-9_]", "_", out.lower()).strip("_")


def constraint_name(prefix: str, table: str, column: str) -> str:
    """A deterministic index or constraint name that fits the 63-byte limit."""
    name = f"{prefix}_{table}_{column}"
    if len(name) <= _MAX_IDENTIFIER:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[: _MAX_IDENTIFIER - 9]}_{digest}"
