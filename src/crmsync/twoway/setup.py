"""Bringing the store in line with the configuration's two-way mappings, when inbound starts.

The resource table of each two-way mapping captures the edits of its merged fields
(:func:`~crmsync.twoway.capture.install_capture`, replaced with today's fields); every other
resource table captures nothing. Log rows of resources no two-way mapping uses any more are
dropped, and so are the bases of mappings that are no longer two-way: turned on again, such a
mapping starts afresh (its first merge of each record has no base: the CRM wins where the sides
differ, and the Campaign value it replaces is logged as a conflict).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import sqlalchemy as sa

from crmsync.twoway.capture import install_capture, remove_capture
from crmsync.twoway.mapping import TwoWayMapping
from crmsync.twoway.tables import BASES, CHANGES

__all__ = ["prepare_two_way"]


def prepare_two_way(
    engine: sa.Engine, mappings: Mapping[str, TwoWayMapping], resources: Iterable[str]
) -> None:
    """Install and remove the capture triggers on the ``resources`` tables (every published
    resource table) for the two-way ``mappings``; drop what other mappings left."""
    by_resource = {m.resource: m for m in mappings.values()}
    for resource in dict.fromkeys(resources):
        two_way = by_resource.get(resource)
        if two_way is None:
            remove_capture(engine, resource)
        else:
            install_capture(engine, resource, list(two_way.fields), key=two_way.key_field)
    with engine.begin() as conn:
        conn.execute(CHANGES.delete().where(CHANGES.c.resource.not_in(list(by_resource))))
        conn.execute(BASES.delete().where(BASES.c.mapping.not_in(list(mappings))))
