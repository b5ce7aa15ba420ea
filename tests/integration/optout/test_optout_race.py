"""A CRM opt-out made between the sender's read and its write is never overwritten by an opt-in.

The connector is wrapped so that, right after the sender has read the CRM's current values, the
contact is opted out in the CRM through another connection: the opt-in the sender decided on is
then stale, the CRM refuses it (412), and the sender reads and decides again.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from optout_support import ENV, Crm, add_profiles, make_config, profile_table

from crmsync.connectors.base import Connector, Record
from crmsync.optout.changes import set_opt_outs
from crmsync.optout.tables import LOG
from crmsync.optout.workflow import OptInOutWorkflow
from crmsync.runtime.connectors import open_connector
from crmsync.store import create_engine_for, publish

LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)


class RacingConnector:
    """Delegates to ``inner``; after the first ``read_all`` runs ``race`` once (a CRM change)."""

    def __init__(self, inner: Connector, race: Any) -> None:
        self.inner = inner
        self.race = race
        self.reads = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def read_all(
        self, table: str, fields: Sequence[str] | None = None, *, where: str | None = None
    ) -> AsyncIterator[list[Record]]:
        async for page in self.inner.read_all(table, fields, where=where):
            yield page
        self.reads += 1
        if self.reads == 1:
            await self.race()


async def test_crm_opt_out_between_read_and_write_is_kept(crm: Crm, tmp_path: Path) -> None:
    ids = await crm.load_ids()
    person = ids[0]
    config = make_config(crm, tmp_path, "bidirectional")
    engine = create_engine_for(config.store.url)
    add_profiles(engine, [person], LONG_AGO)
    profile = profile_table()
    with engine.begin() as conn:
        set_opt_outs(conn, profile, person, {"optout_email": True}, now=LONG_AGO)
    await crm.update(person, **{crm.email: True})
    _, _, crm_time = await crm.read(person)
    # The Campaign opt-in is strictly newer than the CRM opt-out: the rule sends it to the CRM.
    await asyncio.sleep(2.1)
    with engine.begin() as conn:
        set_opt_outs(
            conn, profile, person, {"optout_email": False}, now=crm_time + timedelta(seconds=1)
        )

    async def race() -> None:
        # The person opts out (again) in the CRM, after the sender's read: now the newest change.
        await crm.update(person, **{crm.email: True, crm.phone: True})

    inner = open_connector("crm", config.connections["crm"], ENV)
    racing = RacingConnector(inner, race)
    try:
        publish(engine, config.resources)
        workflow = OptInOutWorkflow(config, racing, engine)  # type: ignore[arg-type]
        await workflow.open()
        await workflow.send_round()
    finally:
        await inner.aclose()

    assert racing.reads == 2, "the refused opt-in must be decided again on a fresh read"
    assert workflow.counts.races == 1
    email, phone, _ = await crm.read(person)
    assert (email, phone) == (True, True)
    with engine.connect() as conn:
        held = conn.execute(
            sa.select(profile.c.optout_email).where(profile.c.external_id == person)
        ).scalar_one()
        reasons = [
            (r.trigger, r.crm_value, r.result, r.reason)
            for r in conn.execute(sa.select(LOG).order_by(LOG.c.id))
        ]
    engine.dispose()
    assert held is True
    # First decision: the stale read said Campaign newer (opt-in); then the fresh one: opt-out.
    assert reasons[0][2:] == (False, "campaign_newer")
    assert reasons[-1] == ("campaign", True, True, "crm_newer_or_equal_opt_out_wins")
