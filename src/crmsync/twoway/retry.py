"""``crmsync rejects retry``: Campaign values the CRM refused, sent again.

A value of a two-way mapping that the CRM refused (a validation rule, a required field, a value
too long) is kept as a reject (workflow ``twoway``) and stays in Campaign: the record's next
change sends it again, and so does a retry. :func:`retry_rejects` removes the mapping's rejects
and queues their records for the Campaign → CRM side (:mod:`crmsync.twoway.pending`), in one
transaction, with the time of the reject as the Campaign side's time (the edit was made before
it): a CRM change made since then still wins a conflict. A value refused again becomes a new
reject.

Rejects of the inbound direction (a CRM value Campaign cannot hold) are not retried here: the
CRM record's next change, or ``crmsync mapping replay``, writes it again.
"""

from __future__ import annotations

from collections.abc import Sequence

from crmsync.config.models import Config
from crmsync.errors import ConfigurationError
from crmsync.state.store import StateStore
from crmsync.twoway.pending import request_merge
from crmsync.twoway.push import WORKFLOW

__all__ = ["retry_rejects"]


def retry_rejects(
    config: Config,
    state: StateStore,
    mapping: str | None = None,
    record_ids: Sequence[str] | None = None,
) -> dict[str, int]:
    """Queue the two-way rejects of ``mapping`` (every two-way mapping when ``None``), of these
    records only when given, for sending again; returns how many records per mapping.

    Raises :class:`~crmsync.errors.ConfigurationError` for an unknown mapping or one that is
    not two-way."""
    mappings = {m.name: m for m in config.inbound.mappings}
    if mapping is not None:
        chosen = mappings.get(mapping)
        if chosen is None:
            raise ConfigurationError(f"no inbound mapping '{mapping}'", code="UNKNOWN_MAPPING")
        if not chosen.two_way:
            raise ConfigurationError(
                f"mapping '{mapping}' is not two-way: its rejects are CRM values Campaign could "
                "not hold, written again by the record's next change or `crmsync mapping replay`"
            )
    names = [mapping] if mapping is not None else [m.name for m in mappings.values() if m.two_way]
    queued: dict[str, int] = {}
    with state.engine.begin() as conn:
        for name in names:
            taken = state.rejects.take(conn, WORKFLOW, name, record_ids)
            request_merge(conn, mappings[name].resource, dict(taken))
            queued[name] = len(taken)
    return queued
