"""Recording unsubscribes: each one opts its profile out, in the transaction that records it.

An unsubscribe goes through :func:`crmsync.optout.changes.set_opt_outs_of_profile`, the Campaign
change path: the attribute's change time moves and, for a profile with a CRM id, an outbox row
carries the opt-out to the CRM through the opt-in/out workflow. Recording is idempotent on the
event id, so a re-imported file cannot opt out again someone who opted in since.

- The change time is the **recording time**, not ``occurred_at`` (kept on the event row): a late
  file would otherwise date its changes before the last file export and they would never be
  exported. The conflict rule gives the same result either way: a Campaign opt-out wins whether
  it is older or newer than the CRM's time.
- An opt-in the store holds with a change time **after** ``occurred_at`` is a strictly newer
  choice of the person: that attribute is left opted in (``superseded``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from crmsync.errors import ConfigurationError
from crmsync.events.model import Unsubscribe
from crmsync.events.tables import UNSUBSCRIBES
from crmsync.optout.changes import set_opt_outs_of_profile
from crmsync.store.optouts import changed_at_column

__all__ = ["UnsubscribeResult", "check_profile_table", "record_unsubscribes"]

#: ``origin`` of the outbox rows an unsubscribe writes.
ORIGIN = "unsubscribe"


@dataclass(frozen=True, slots=True)
class UnsubscribeResult:
    """``added`` new unsubscribes, of which ``opted_out`` changed their profile."""

    added: int
    opted_out: int


def check_profile_table(engine: sa.Engine, profile: sa.Table) -> None:
    """Refuse unsubscribes (:class:`ConfigurationError`) while the store has no profile table.

    Checked before the recording transaction, which then begins with a write: on SQLite a
    transaction that reads first cannot wait for a concurrent writer's lock.
    """
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table(profile.name, schema=profile.schema):
            raise ConfigurationError(
                "the Campaign store has no profile table yet: publish the store before "
                "recording unsubscribes (crmsync resources publish)",
                code="invalid_config",
            )


def record_unsubscribes(
    conn: sa.Connection,
    profile: sa.Table,
    unsubscribes: Sequence[Unsubscribe],
    dialect_insert: Any,
    *,
    now: datetime,
) -> UnsubscribeResult:
    """Record the unsubscribes not held yet and opt their profiles out (caller's transaction;
    the caller checked the profile table first: :func:`check_profile_table`)."""
    fresh: dict[str, Unsubscribe] = {}
    for item in unsubscribes:
        fresh.setdefault(item.id, item)
    if not fresh:
        return UnsubscribeResult(0, 0)
    added = opted_out = 0
    for item in fresh.values():
        stmt = dialect_insert(UNSUBSCRIBES).values(
            event_id=item.id,
            profile_id=item.profile_id,
            attributes=",".join(item.attributes),
            delivery_id=item.delivery_id,
            delivery_name=item.delivery_name,
            occurred_at=item.occurred_at,
            recorded_at=now,
            outcome="recording",
        )
        stmt = stmt.on_conflict_do_nothing(index_elements=[UNSUBSCRIBES.c.event_id])
        seq = conn.execute(stmt.returning(UNSUBSCRIBES.c.seq)).scalar_one_or_none()
        if seq is None:
            continue
        outcome, changed = _apply(conn, profile, item, now)
        conn.execute(
            sa.update(UNSUBSCRIBES)
            .where(UNSUBSCRIBES.c.seq == seq)
            .values(outcome=outcome, changed=",".join(changed))
        )
        added += 1
        opted_out += bool(changed)
    return UnsubscribeResult(added, opted_out)


def _apply(
    conn: sa.Connection, profile: sa.Table, item: Unsubscribe, now: datetime
) -> tuple[str, list[str]]:
    names = [attribute.value for attribute in item.attributes]
    columns = [profile.c[n] for n in names] + [profile.c[changed_at_column(n)] for n in names]
    row = conn.execute(sa.select(*columns).where(profile.c.id == item.profile_id)).first()
    if row is None:
        return "no_profile", []
    held = row._mapping
    wanted = [
        name
        for name in names
        if held[name]
        or held[changed_at_column(name)] is None
        or held[changed_at_column(name)] <= item.occurred_at
    ]
    if not wanted:
        return "superseded", []
    changed = set_opt_outs_of_profile(
        conn, profile, item.profile_id, dict.fromkeys(wanted, True), origin=ORIGIN, now=now
    )
    return ("opted_out" if changed else "unchanged"), sorted(changed)
