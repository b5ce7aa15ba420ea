"""The store's record of its schema upgrades (table ``crmsync_schema_upgrades``).

One row per upgrade: the schema version before and after, and the crmsync release that ran it.
An older crmsync that meets a store it does not know reads the last row to say which release is
needed, so its ``to_version`` and ``release`` columns keep their names and meaning in every
release.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from crmsync.store.types import UtcDateTime

__all__ = ["UPGRADES", "Upgrade", "last_upgrades", "record_upgrade"]

METADATA = sa.MetaData()
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite autoincrements INTEGER only

UPGRADES = sa.Table(
    "crmsync_schema_upgrades",
    METADATA,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("from_version", sa.String(32), nullable=True),
    sa.Column("to_version", sa.String(32), nullable=False),
    sa.Column("release", sa.String(32), nullable=False),
    sa.Column("upgraded_at", UtcDateTime(), nullable=False),
)


@dataclass(frozen=True, slots=True)
class Upgrade:
    """One upgrade of the store: from which schema version (``None``: none) to which, by which
    crmsync release, when."""

    from_version: str | None
    to_version: str
    release: str
    upgraded_at: datetime


def record_upgrade(
    conn: sa.Connection, from_version: str | None, to_version: str, release: str
) -> None:
    """In the upgrade's transaction: note that ``release`` upgraded the store."""
    conn.execute(
        sa.insert(UPGRADES).values(
            from_version=from_version,
            to_version=to_version,
            release=release,
            upgraded_at=datetime.now(UTC),
        )
    )


def last_upgrades(conn: sa.Connection, limit: int = 10) -> list[Upgrade]:
    """The newest upgrades first (none when the store has no record of them)."""
    if not sa.inspect(conn).has_table(UPGRADES.name):
        return []
    t = UPGRADES
    query = sa.select(t.c.from_version, t.c.to_version, t.c.release, t.c.upgraded_at)
    rows = conn.execute(query.order_by(t.c.id.desc()).limit(limit))
    return [Upgrade(*row) for row in rows]
