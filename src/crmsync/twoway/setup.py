"""Bringing the store in line with the configuration's two-way mappings, when inbound starts.

The resource table of each two-way mapping captures the edits of its merged fields
(:func:`~crmsync.twoway.capture.install_capture`, replaced with today's fields); every other
resource table captures nothing. Log rows of resources no two-way mapping uses any more are
dropped, and so are the bases of mappings that are no longer two-way.

A record Campaign holds without a base (the mapping was one-way until now, or turned two-way
again) gets its current Campaign values as its base, without a CRM version: what one-way sync
last wrote is the best knowledge of what both sides agreed on, and a Campaign edit made after
this start is then merged as an edit, not lost to the CRM's value. (The bases are written before
the triggers are installed: an edit made in between is not logged, and is sent with the record's
next change, which finds the Campaign value changed since its base.)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import sqlalchemy as sa

from crmsync.twoway.base import BATCH, Base, save_bases
from crmsync.twoway.capture import install_capture, remove_capture
from crmsync.twoway.mapping import TwoWayMapping
from crmsync.twoway.tables import BASES, CHANGES

__all__ = ["prepare_two_way"]


def prepare_two_way(
    engine: sa.Engine,
    mappings: Mapping[str, TwoWayMapping],
    resources: Iterable[str],
    tables: Mapping[str, sa.Table],
) -> None:
    """Install and remove the capture triggers on the ``resources`` tables (every published
    resource table, ``tables`` by name) for the two-way ``mappings``; give the records without
    a base one; drop what other mappings left."""
    by_resource = {m.resource: m for m in mappings.values()}
    with engine.begin() as conn:
        conn.execute(CHANGES.delete().where(CHANGES.c.resource.not_in(list(by_resource))))
        conn.execute(BASES.delete().where(BASES.c.mapping.not_in(list(mappings))))
    for two_way in mappings.values():
        _seed_bases(engine, two_way, tables[two_way.resource])
    for resource in dict.fromkeys(resources):
        captured = by_resource.get(resource)
        if captured is None:
            remove_capture(engine, resource)
        else:
            install_capture(engine, resource, list(captured.fields), key=captured.key_field)


def _seed_bases(engine: sa.Engine, two_way: TwoWayMapping, table: sa.Table) -> None:
    """Bases of the current values of the rows owned by a CRM record that have none."""
    key = table.c[two_way.key_field]
    missing = (
        sa.select(key, *(table.c[name] for name in two_way.fields))
        .outerjoin(BASES, sa.and_(BASES.c.mapping == two_way.name, BASES.c.record_key == key))
        .where(key.is_not(None), BASES.c.record_key.is_(None))
    )
    with engine.begin() as conn:
        # Read in full first: the loop writes to a table the query reads.
        rows = conn.execute(missing).all()
        for start in range(0, len(rows), BATCH):
            batch = rows[start : start + BATCH]
            save_bases(
                conn,
                two_way.name,
                {
                    str(row[0]): Base(
                        dict(zip(two_way.fields, row[1:], strict=True)), two_way.fields
                    )
                    for row in batch
                },
            )
