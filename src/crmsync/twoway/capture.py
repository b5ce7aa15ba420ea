"""Capturing every edit of a Campaign resource table into the change log, and reading it back.

Two-way sync must see every Campaign edit, whoever makes it: plain SQL in ``sqlite3`` or ``psql``,
the REST API, a job's update step, the Python API. Database triggers see them all, so
:func:`install_capture` puts an ``AFTER INSERT`` and an ``AFTER UPDATE`` trigger on a resource
table (``profile`` or a published custom resource). For each row whose key (the column holding the
CRM record's id) is not NULL, they write one row to ``crmsync_campaign_changes`` with only the
columns that really changed (``IS DISTINCT FROM`` on PostgreSQL, ``IS NOT`` on SQLite), their old
and new values as JSON objects, and the database's clock (UTC) as the time of the edit. An edit
that changes nothing, or a row no CRM record owns, writes nothing. The values are JSON as the
database renders them: on SQLite booleans are ``0``/``1`` and timestamps its text
(``YYYY-MM-DD HH:MM:SS.ffffff``, UTC), on PostgreSQL ``true``/``false`` and ISO 8601 text.

crmsync's own writes into the store are not Campaign edits and must not be logged; every writer
of crmsync wraps them in :func:`crmsync_writes`. Any other client's writes are logged. The mark
lives inside the writing transaction, so nothing another connection does can hide behind it:

- PostgreSQL: a transaction-local setting, ``crmsync.origin = 'crmsync'``
  (``set_config(…, true)``), read with ``current_setting('crmsync.origin', true)`` by the
  triggers' ``WHEN`` clause, so crmsync's own writes do not even call the trigger function.
- SQLite has no session settings a trigger can read, so the transaction inserts a marker row into
  ``crmsync_write_origin`` and deletes it before it commits; the triggers log only while that
  table is empty. SQLite runs one write transaction at a time and no other connection sees an
  uncommitted row, so the marker covers exactly crmsync's transaction.

The consumer reads the log in order with :func:`read_changes` and drops what it has applied with
:func:`forget_changes`. On PostgreSQL, transactions commit in another order than they write, so a
row written first may become visible after a later one: a consumer that remembered the highest
row it had read would skip it. A change's ``id`` is therefore given when it is read, under a lock
that only readers take, in the order the rows were written: whatever commits later gets a higher
``id``. (On SQLite one writer at a time commits, so the written order is the committed order.)
Two edits of one record are serialised by the row lock, so their ids follow the order they were
made. Ids are never reused: a consumer that keeps the last ``id`` it applied with its own writes,
in one transaction, reads every change once.

Installing the capture is the publish step's business; the merge consumes the log.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from crmsync.store.engine import write_transaction
from crmsync.store.errors import StoreDefinitionError
from crmsync.store.names import RESERVED_TABLE_PREFIXES, check_identifier, constraint_name
from crmsync.store.schema import schema_transaction
from crmsync.twoway.tables import CHANGES, WRITE_ORIGIN

__all__ = [
    "CampaignChange",
    "crmsync_writes",
    "forget_changes",
    "install_capture",
    "read_changes",
    "remove_capture",
]

#: The setting that marks crmsync's own writes on PostgreSQL, and its value.
ORIGIN_SETTING, ORIGIN = "crmsync.origin", "crmsync"
_FUNCTION = "crmsync_capture_campaign_edit"
_SEQUENCE = "crmsync_campaign_change_ids"
#: The first key of the advisory lock readers take to number changes (the second: the schema).
_LOCK_CLASS = 0x63726D63  # "crmc"
#: SQLite's clock in the text :class:`~crmsync.store.types.UtcDateTime` stores (microseconds).
_SQLITE_NOW = "strftime('%Y-%m-%d %H:%M:%f', 'now') || '000'"


@dataclass(frozen=True, slots=True)
class CampaignChange:
    """One captured edit: the changed columns' ``old`` and ``new`` values (``old`` values are
    ``None`` for an insert) of the row of ``resource`` whose key is ``record_key``."""

    id: int
    resource: str
    record_key: str
    operation: str  # "insert" or "update"
    old: dict[str, Any]
    new: dict[str, Any]
    edited_at: datetime


def install_capture(
    engine: sa.Engine, resource_table: str, columns: Sequence[str], *, key: str
) -> None:
    """Capture the edits of ``columns`` of ``resource_table`` whose ``key`` column is set.

    Idempotent: installing again replaces the triggers (with the columns given now), in one
    schema transaction. Raises :class:`StoreDefinitionError` for a table or column that does not
    exist, or a table of crmsync's own."""
    _check_table(resource_table)
    names = [check_identifier(c, what=f"{resource_table} capture column") for c in columns]
    check_identifier(key, what=f"{resource_table} capture key")
    if not names:
        raise StoreDefinitionError(f"capture of '{resource_table}': no columns to capture")
    with schema_transaction(engine) as conn:
        _check_columns(conn, resource_table, [key, *names])
        _drop_triggers(conn, resource_table)
        if conn.dialect.name == "postgresql":
            _install_postgresql(conn, resource_table, names, key)
        else:
            _install_sqlite(conn, resource_table, names, key)


def remove_capture(engine: sa.Engine, resource_table: str) -> None:
    """Stop capturing the edits of ``resource_table`` (nothing to do when none is installed)."""
    _check_table(resource_table)
    with schema_transaction(engine) as conn:
        _drop_triggers(conn, resource_table)


@contextmanager
def crmsync_writes(conn: sa.Connection) -> Iterator[sa.Connection]:
    """Mark the writes made on ``conn`` inside the block, in its current transaction, as
    crmsync's own: the capture does not log them. Writes after the block are logged again."""
    if conn.dialect.name == "postgresql":
        before = conn.execute(
            sa.select(sa.func.current_setting(ORIGIN_SETTING, sa.true()))
        ).scalar_one_or_none()
        _set_origin(conn, ORIGIN)
        try:
            yield conn
        finally:
            _set_origin(conn, before or "")
        return
    token = uuid.uuid4().hex
    conn.execute(WRITE_ORIGIN.insert().values(token=token))
    try:
        yield conn
    finally:
        conn.execute(WRITE_ORIGIN.delete().where(WRITE_ORIGIN.c.token == token))


def read_changes(engine: sa.Engine, after_id: int = 0, limit: int = 1000) -> list[CampaignChange]:
    """The changes after ``after_id``, oldest first, at most ``limit``; committed changes not
    numbered yet get their ids first."""
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    with write_transaction(engine) as conn:
        _number_changes(conn, limit)
        rows = conn.execute(
            sa.select(CHANGES).where(CHANGES.c.id > after_id).order_by(CHANGES.c.id).limit(limit)
        ).all()
    return [
        CampaignChange(
            id=row.id,
            resource=row.resource,
            record_key=row.record_key,
            operation=row.operation,
            old=json.loads(row.old_values),
            new=json.loads(row.new_values),
            edited_at=row.edited_at,
        )
        for row in rows
    ]


def forget_changes(engine: sa.Engine, up_to_id: int) -> int:
    """Delete the changes up to ``up_to_id`` (applied by the consumer); how many."""
    with engine.begin() as conn:
        done = conn.execute(
            CHANGES.delete().where(CHANGES.c.id.is_not(None), CHANGES.c.id <= up_to_id)
        )
    return done.rowcount


def _number_changes(conn: sa.Connection, limit: int) -> None:
    """Give the oldest committed changes without an id (at most ``limit``) the next ids."""
    oldest = (
        sa.select(CHANGES.c.entry)
        .where(CHANGES.c.id.is_(None))
        .order_by(CHANGES.c.entry)
        .limit(limit)
    )
    if conn.dialect.name != "postgresql":
        # One writer at a time commits on SQLite: the written order is the committed order.
        conn.execute(
            CHANGES.update()
            .where(CHANGES.c.entry.in_(oldest.scalar_subquery()))
            .values(id=CHANGES.c.entry)
        )
        return
    conn.execute(
        sa.select(
            sa.func.pg_advisory_xact_lock(_LOCK_CLASS, sa.func.hashtext(sa.func.current_schema()))
        )
    )
    todo = oldest.add_columns(
        sa.func.row_number().over(order_by=CHANGES.c.entry).label("n")
    ).subquery()
    last = sa.select(sa.column("last_value")).select_from(sa.table(_SEQUENCE)).scalar_subquery()
    numbered = conn.execute(
        CHANGES.update()
        .where(CHANGES.c.entry == todo.c.entry)
        .values(id=last + todo.c.n)
        .returning(CHANGES.c.id)
    ).scalars()
    top = max(numbered, default=None)
    if top is not None:
        conn.execute(sa.select(sa.func.setval(_SEQUENCE, top)))


def _set_origin(conn: sa.Connection, value: str) -> None:
    conn.execute(sa.select(sa.func.set_config(ORIGIN_SETTING, value, sa.true())))


def _check_table(resource_table: str) -> None:
    check_identifier(resource_table, what="capture table")
    if resource_table.startswith(RESERVED_TABLE_PREFIXES):
        raise StoreDefinitionError(
            f"capture of '{resource_table}': only Campaign resource tables are captured"
        )


def _check_columns(conn: sa.Connection, table: str, wanted: list[str]) -> None:
    inspector = sa.inspect(conn)
    if not inspector.has_table(table):
        raise StoreDefinitionError(f"capture of '{table}': the store has no such table")
    present = {c["name"] for c in inspector.get_columns(table)}
    missing = [c for c in wanted if c not in present]
    if missing:
        raise StoreDefinitionError(
            f"capture of '{table}': no column {', '.join(repr(c) for c in missing)}"
        )


def _trigger(table: str, operation: str) -> str:
    return constraint_name("crmsync_capture", table, operation)


def _drop_triggers(conn: sa.Connection, table: str) -> None:
    # Every name below is a checked identifier (lower-case letters, digits, underscores), so
    # it is written into the DDL as is; DDL takes no bound parameters.
    on = f" ON {table}" if conn.dialect.name == "postgresql" else ""
    for operation in ("insert", "update"):
        conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {_trigger(table, operation)}{on}")


def _install_postgresql(conn: sa.Connection, table: str, columns: list[str], key: str) -> None:
    # One function for every table: the trigger's arguments name the key and the columns.
    conn.exec_driver_sql(_POSTGRESQL_FUNCTION)
    arguments = ", ".join(f"'{name}'" for name in [key, *columns])
    for operation in ("insert", "update"):
        conn.exec_driver_sql(
            f"CREATE TRIGGER {_trigger(table, operation)} AFTER {operation.upper()} ON {table}"
            f" FOR EACH ROW WHEN (current_setting('{ORIGIN_SETTING}', true)"
            f" IS DISTINCT FROM '{ORIGIN}')"
            f" EXECUTE FUNCTION {_FUNCTION}({arguments})"
        )


# The search path of the function's creation, so that a client whose search path differs
# still writes into this store's log. The names are _FUNCTION's and CHANGES's.
_POSTGRESQL_FUNCTION = """
CREATE OR REPLACE FUNCTION crmsync_capture_campaign_edit() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    before_row jsonb := CASE WHEN TG_OP = 'UPDATE' THEN to_jsonb(OLD) ELSE '{}'::jsonb END;
    after_row jsonb := to_jsonb(NEW);
    record_key text := after_row ->> TG_ARGV[0];
    old_values jsonb := '{}'::jsonb;
    new_values jsonb := '{}'::jsonb;
    name text;
BEGIN
    IF record_key IS NULL THEN
        RETURN NULL;
    END IF;
    FOREACH name IN ARRAY TG_ARGV[1:TG_NARGS - 1] LOOP
        IF coalesce(before_row -> name, 'null'::jsonb) IS DISTINCT FROM after_row -> name THEN
            old_values := old_values || jsonb_build_object(name, before_row -> name);
            new_values := new_values || jsonb_build_object(name, after_row -> name);
        END IF;
    END LOOP;
    IF new_values <> '{}'::jsonb THEN
        INSERT INTO crmsync_campaign_changes
            (resource, record_key, operation, old_values, new_values, edited_at)
        VALUES (TG_TABLE_NAME, record_key, lower(TG_OP), old_values::text, new_values::text,
                clock_timestamp());
    END IF;
    RETURN NULL;
END
$$
"""


def _install_sqlite(conn: sa.Connection, table: str, columns: list[str], key: str) -> None:
    for operation, old in (("insert", "NULL"), ("update", "OLD.{c}")):
        changed = " UNION ALL ".join(
            f"SELECT '{c}' AS c, {old.format(c=c)} AS o, NEW.{c} AS n"
            f" WHERE {old.format(c=c)} IS NOT NEW.{c}"
            for c in columns
        )
        conn.exec_driver_sql(  # checked identifiers only, as in _drop_triggers
            f"CREATE TRIGGER {_trigger(table, operation)} AFTER {operation.upper()} ON {table}"  # noqa: S608
            f" FOR EACH ROW WHEN NEW.{key} IS NOT NULL"
            f" AND NOT EXISTS (SELECT 1 FROM {WRITE_ORIGIN.name}) BEGIN"
            f" INSERT INTO {CHANGES.name}"
            " (resource, record_key, operation, old_values, new_values, edited_at)"
            f" SELECT '{table}', CAST(NEW.{key} AS TEXT), '{operation}', o, n, {_SQLITE_NOW}"
            " FROM (SELECT json_group_object(c, o) AS o, json_group_object(c, n) AS n,"
            f" count(*) AS k FROM ({changed})) WHERE k > 0;"
            " END"
        )
