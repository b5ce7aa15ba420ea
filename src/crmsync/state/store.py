"""The workflows' state in the store, one part per concern, sharing one set of tables."""

from __future__ import annotations

import sqlalchemy as sa

from crmsync.state.counters import Counters
from crmsync.state.crm_tables import CrmTables
from crmsync.state.cursors import Cursors
from crmsync.state.leases import Leases
from crmsync.state.parked import ParkedChanges
from crmsync.state.part import Clock, utcnow
from crmsync.state.rejects import Rejects
from crmsync.state.replays import Replays
from crmsync.state.snapshots import Snapshots
from crmsync.state.statuses import WorkflowStatuses
from crmsync.state.suppressions import Suppressions
from crmsync.state.tables import StateTables
from crmsync.state.tombstones import Tombstones
from crmsync.state.upgrade import ensure_store_schema
from crmsync.state.workers import Workers

__all__ = ["StateStore"]


class StateStore:
    """Every part of the state in ``engine``'s store (its tables upgraded on open), for whoever
    works with several: the inbound engine's reader and writers, the supervisor. Whoever needs
    one part opens that part alone (e.g. ``WorkflowStatuses(engine)``)."""

    def __init__(self, engine: sa.Engine, *, clock: Clock = utcnow) -> None:
        ensure_store_schema(engine)
        tables = StateTables()
        self.engine = engine
        self.tables = tables
        self.cursors = Cursors(engine, tables=tables, clock=clock)
        self.counters = Counters(engine, tables=tables, clock=clock)
        self.rejects = Rejects(engine, tables=tables, clock=clock)
        self.parked = ParkedChanges(engine, tables=tables, clock=clock, rejects=self.rejects)
        self.tombstones = Tombstones(engine, tables=tables, clock=clock)
        self.snapshots = Snapshots(engine, tables=tables, clock=clock, counters=self.counters)
        self.replays = Replays(engine, tables=tables, clock=clock)
        self.statuses = WorkflowStatuses(engine, tables=tables, clock=clock)
        self.leases = Leases(engine, tables=tables, clock=clock)
        self.workers = Workers(engine, tables=tables, clock=clock)
        self.crm_tables = CrmTables(engine, tables=tables, clock=clock)
        self.suppressions = Suppressions(engine, tables=tables, clock=clock)
