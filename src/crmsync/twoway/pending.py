"""Records waiting for the Campaign → CRM side of the merge, as rows of the change log.

The change log (:mod:`crmsync.twoway.capture`) is the one queue of records whose Campaign values
must be merged into the CRM: the triggers add a row for each Campaign edit, and crmsync adds one
(operation ``merge``, no values) where a record still holds a Campaign value the CRM lacks and no
edit is pending: a CRM change merged while a Campaign value won, or ``crmsync rejects retry`` of a
value the CRM refused. Added in the caller's transaction, such a row commits with the decision that
needs it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

import sqlalchemy as sa

from crmsync.store.key_lists import one_of
from crmsync.twoway.tables import CHANGES

__all__ = ["MERGE", "edit_times", "request_merge"]

#: The operation of a log row crmsync adds: merge the record's values, no edit of its own.
MERGE = "merge"


def edit_times(conn: sa.Connection, resource: str, keys: Iterable[str]) -> dict[str, datetime]:
    """The time of the latest pending Campaign edit of each record of ``resource`` that has one."""
    wanted = list(dict.fromkeys(keys))
    if not wanted:
        return {}
    query = (
        sa.select(CHANGES.c.record_key, sa.func.max(CHANGES.c.edited_at))
        .where(CHANGES.c.resource == resource, one_of(CHANGES.c.record_key, wanted, conn.dialect))
        .group_by(CHANGES.c.record_key)
    )
    return {key: at for key, at in conn.execute(query) if at is not None}


def request_merge(conn: sa.Connection, resource: str, records: Mapping[str, datetime]) -> None:
    """Queue these records of ``resource`` (key → the time their Campaign values were set, the
    Campaign side's time in the merge) for the Campaign → CRM side."""
    if not records:
        return
    conn.execute(
        sa.insert(CHANGES),
        [
            {
                "resource": resource,
                "record_key": key,
                "operation": MERGE,
                "old_values": "{}",
                "new_values": "{}",
                "edited_at": at,
            }
            for key, at in records.items()
        ],
    )
