"""Campaign-side opt-out changes: the one path for the API, imports and manual edits.

:func:`set_opt_outs` changes a profile's opt-out attributes, moves their change times and appends
the change to the outbox **in the same transaction**, so that a committed Campaign change always
reaches the opt-in/out workflow, even if the process dies right after the commit. Values written
by the workflow itself (a CRM value that won) go through :func:`apply_crm_values`, which writes no
outbox row: that is what keeps a value from being echoed back to the CRM.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

import sqlalchemy as sa

from crmsync.errors import RejectError
from crmsync.optout.tables import OUTBOX
from crmsync.store.optouts import OPT_OUT_NAMES, changed_at_column

__all__ = ["apply_crm_values", "check_attributes", "set_opt_outs", "set_opt_outs_of_profile"]


def check_attributes(values: Mapping[str, object]) -> None:
    """Refuse anything but the fixed opt-out attributes and Boolean values."""
    for name, value in values.items():
        if name not in OPT_OUT_NAMES:
            raise RejectError(
                f"'{name}' is not an opt-out attribute (known: {', '.join(sorted(OPT_OUT_NAMES))})",
                code="UNKNOWN_OPT_OUT",
            )
        if not isinstance(value, bool):
            raise RejectError(
                f"opt-out '{name}' must be true or false, not {value!r}", code="NOT_BOOLEAN"
            )


def set_opt_outs(
    conn: sa.Connection,
    profile: sa.Table,
    external_id: str,
    values: Mapping[str, bool],
    *,
    origin: str = "api",
    now: datetime | None = None,
) -> dict[str, bool]:
    """Set opt-outs of the profile whose CRM id is ``external_id``; return those that changed.

    Unchanged values keep their change time and produce no outbox row. Raises
    :class:`~crmsync.errors.RejectError` for an unknown profile or attribute.
    """
    where = profile.c.external_id == external_id
    label = f"external_id '{external_id}'"
    return _change(conn, profile, where, (label, external_id), values, origin, now)


def set_opt_outs_of_profile(
    conn: sa.Connection,
    profile: sa.Table,
    profile_id: int,
    values: Mapping[str, bool],
    *,
    origin: str = "api",
    now: datetime | None = None,
) -> dict[str, bool]:
    """:func:`set_opt_outs` for a profile named by its Campaign id (the ``id`` of its row).

    A profile without a CRM id changes in the store only: there is no CRM record to send it to
    (the change time still lets the conflict rule decide once the profile gets one).
    """
    where = profile.c.id == profile_id
    return _change(conn, profile, where, (f"id {profile_id}", str(profile_id)), values, origin, now)


def _change(
    conn: sa.Connection,
    profile: sa.Table,
    where: sa.ColumnElement[bool],
    who: tuple[str, str],
    values: Mapping[str, bool],
    origin: str,
    now: datetime | None,
) -> dict[str, bool]:
    check_attributes(values)
    stamp = now or datetime.now(UTC)
    names = sorted(values)
    row = conn.execute(
        sa.select(profile.c.id, profile.c.external_id, *(profile.c[name] for name in names)).where(
            where
        )
    ).first()
    if row is None:
        raise RejectError(
            f"no profile has {who[0]}", code="PROFILE_NOT_FOUND", table="profile", record_id=who[1]
        )
    changed = {name: values[name] for name in names if row._mapping[name] != values[name]}
    if not changed:
        return {}
    update: dict[str, object] = {"modified_at": stamp}
    for name, value in changed.items():
        update[name] = value
        update[changed_at_column(name)] = stamp
    conn.execute(sa.update(profile).where(profile.c.id == row.id).values(update))
    external_id = row.external_id
    if external_id is None:
        return changed
    conn.execute(
        sa.insert(OUTBOX),
        [
            {
                "external_id": external_id,
                "attribute": name,
                "opted_out": value,
                "changed_at": stamp,
                "origin": origin,
            }
            for name, value in changed.items()
        ],
    )
    return changed


def apply_crm_values(
    conn: sa.Connection,
    profile: sa.Table,
    external_id: str,
    values: Mapping[str, bool],
    *,
    now: datetime,
) -> None:
    """Write opt-out values that came from (or were decided against) the CRM: no outbox row."""
    if not values:
        return
    update: dict[str, object] = {"modified_at": now}
    for name, value in values.items():
        update[name] = value
        update[changed_at_column(name)] = now
    conn.execute(sa.update(profile).where(profile.c.external_id == external_id).values(update))
