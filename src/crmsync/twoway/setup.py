"""Bringing the store in line with the configuration's two-way mappings, when inbound starts.

The resource table of each two-way mapping captures the edits of its merged fields
(:func:`~crmsync.twoway.capture.install_capture`, replaced with today's fields); every other
resource table captures nothing. Log rows of resources no two-way mapping uses any more are
dropped, and so are the bases (and values being sent) of mappings that are no longer two-way.

A record Campaign holds without a base row (the mapping was one-way until now, or turned two-way
again) has its row as its base (:mod:`crmsync.twoway.implicit`): what one-way sync last wrote is
the best knowledge of what both sides agreed on, and a Campaign edit made after this start is
merged as an edit, not lost to the CRM's value.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import sqlalchemy as sa

from crmsync.twoway.capture import install_capture, remove_capture
from crmsync.twoway.mapping import TwoWayMapping
from crmsync.twoway.tables import BASES, CHANGES, SENT

__all__ = ["prepare_two_way"]


def prepare_two_way(
    engine: sa.Engine,
    mappings: Mapping[str, TwoWayMapping],
    resources: Iterable[str],
) -> None:
    """Install and remove the capture triggers on the ``resources`` tables (every published
    resource table) for the two-way ``mappings``; drop what other mappings left."""
    by_resource = {m.resource: m for m in mappings.values()}
    with engine.begin() as conn:
        conn.execute(CHANGES.delete().where(CHANGES.c.resource.not_in(list(by_resource))))
        for kept in (BASES, SENT):
            conn.execute(kept.delete().where(kept.c.mapping.not_in(list(mappings))))
    for resource in dict.fromkeys(resources):
        captured = by_resource.get(resource)
        if captured is None:
            remove_capture(engine, resource)
        else:
            install_capture(engine, resource, list(captured.fields), key=captured.key_field)
