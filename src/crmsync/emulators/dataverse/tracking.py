"""Change tracking: ``Prefer: odata.track-changes``, delta links and deleted entities.

The first tracked read returns every row (ordered by version, paged as usual) and, on its last
page, an ``@odata.deltaLink`` whose ``$deltatoken`` holds the version watermark and the time it was
issued (``"<version>!<MM/dd/yyyy HH:mm:ss>"``, the shape of Dataverse's own tokens). Following the
delta link returns the rows created or updated since the watermark, then the rows deleted since,
as ``$deletedEntity`` entries, and a new delta link. A row created and deleted between two polls
only shows as deleted. Pages in between carry signed ``$skiptoken`` cursors.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import sqlalchemy as sa

from crmsync.emulators.dataverse.errors import WebApiError, bad_request
from crmsync.emulators.dataverse.formatting import AnnotationMode
from crmsync.emulators.dataverse.query import QueryOptions, SkipTokenCodec, read_page
from crmsync.emulators.dataverse.schema import Table
from crmsync.emulators.dataverse.store import DataverseStore

__all__ = [
    "CODE_EXPIRED",
    "CODE_NOT_TRACKED",
    "DeltaResult",
    "make_delta_token",
    "parse_delta_token",
    "read_changes",
]

CODE_NOT_TRACKED = "0x80072491"  # ChangeTrackingNotEnabledForEntity
CODE_EXPIRED = "0x80044352"  # ExpiredVersionStamp (the Web API's exact answer is unverified)
_REFUSED = ("$filter", "$orderby", "$expand", "$top")
_TOKEN_FORMAT = "%m/%d/%Y %H:%M:%S"  # noqa: S105 - a date format, not a secret
TRACKING_PREFIX = "T"


def make_delta_token(version: int, issued: datetime) -> str:
    return f"{version}!{issued.astimezone(UTC).strftime(_TOKEN_FORMAT)}"


def parse_delta_token(token: str) -> tuple[int, datetime]:
    """(watermark version, issue time) of a delta token; malformed → 400."""
    version_text, _, issued_text = token.partition("!")
    try:
        version = int(version_text)
        issued = datetime.strptime(issued_text, _TOKEN_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        raise bad_request(f"The delta token '{token}' is not valid.", code="0x80044354") from None
    if version < 0:
        raise bad_request(f"The delta token '{token}' is not valid.", code="0x80044354")
    return version, issued


@dataclass(slots=True)
class DeltaResult:
    """One page of a tracked read."""

    rows: list[bytes]
    deleted: list[bytes]
    next_token: str | None
    delta_token: str | None
    is_delta: bool


def check_tracking(store: DataverseStore, table: Table, params: dict[str, str]) -> None:
    if not store.tracking_enabled(table):
        raise WebApiError(
            400, CODE_NOT_TRACKED, f"Entity {table.logical_name} isn't enabled for change tracking."
        )
    for name in _REFUSED:
        if name in params:
            raise bad_request(
                f'The "{name}" query parameter isn\'t supported when Change Tracking is enabled.',
                code="0x80060888",
            )


def read_changes(
    store: DataverseStore,
    table: Table,
    options: QueryOptions,
    codec: SkipTokenCodec,
    *,
    page_size: int,
    retention_days: float,
    base_url: str,
    annotations: AnnotationMode = "none",
) -> DeltaResult:
    """The page of a tracked read asked for by ``options`` (initial, delta or a later page)."""
    check_tracking(store, table, options.raw)
    scope = f"track|{table.logical_name}"
    if options.skiptoken is not None:
        token = options.skiptoken
        if not token.startswith(TRACKING_PREFIX):
            raise bad_request("The $skiptoken value is not valid for this query.", "0x80060888")
        state = codec.decode(scope, token[len(TRACKING_PREFIX) :])
        if len(state) != 4 or not all(isinstance(v, int | str | list | None) for v in state):
            raise bad_request("The $skiptoken value is not valid for this query.", "0x80060888")
        low, high, phase, last = state
    elif options.deltatoken is not None:
        low, issued = parse_delta_token(options.deltatoken)
        if store.clock.now() - issued > timedelta(days=retention_days):
            raise WebApiError(
                400,
                CODE_EXPIRED,
                "Version stamp associated with the client has expired. Please perform a full sync.",
            )
        high, phase, last = store.current_version, "rows", None
    else:
        low, high, phase, last = None, store.current_version, "rows", None
    if not isinstance(high, int) or not (low is None or isinstance(low, int)):
        raise bad_request("The $skiptoken value is not valid for this query.", "0x80060888")
    sa_table = store.sa_table(table)
    version = table.by_name["versionnumber"]
    rows: list[bytes] = []
    if phase == "rows":
        where: list[Any] = [sa_table.c.versionnumber <= high]
        if low is not None:
            where.append(sa_table.c.versionnumber > low)
        page = read_page(
            store,
            table,
            options,
            page_size=page_size,
            sort=[(version, False)],
            after=last if isinstance(last, list) else None,
            where=where,
            annotations=annotations,
            unique_sort=True,  # versionnumber has a unique index
        )
        rows = page.rows
        if page.next_values is not None:
            state = [low, high, "rows", page.next_values]
            return DeltaResult(rows, [], _token(codec, scope, state), None, low is not None)
        phase, last = "deleted", None
    deleted: list[bytes] = []
    if low is not None and phase == "deleted":
        room = page_size - len(rows)
        after = last if isinstance(last, int) else None
        versions = _deletions(store, table, low, high, after, room + 1, base_url, deleted)
        if len(deleted) > room:
            deleted = deleted[:room]
            state = [low, high, "deleted", versions[room - 1] if room else after]
            return DeltaResult(rows, deleted, _token(codec, scope, state), None, True)
    return DeltaResult(
        rows, deleted, None, make_delta_token(high, store.clock.now()), low is not None
    )


def _token(codec: SkipTokenCodec, scope: str, state: Sequence[Any]) -> str:
    return TRACKING_PREFIX + codec.encode(scope, state)


def _deletions(
    store: DataverseStore,
    table: Table,
    low: int,
    high: int,
    after: int | None,
    limit: int,
    base_url: str,
    out: list[bytes],
) -> list[int]:
    """Append the ``$deletedEntity`` entries of rows deleted in (low, high]; return versions."""
    log = store.deletions
    sa_table = store.sa_table(table)
    primary = sa_table.c[table.primary_id]
    still_there = sa.select(primary).where(primary == log.c.id).exists()
    condition = [log.c.tablename == table.logical_name, log.c.version > low, log.c.version <= high]
    if after is not None:
        condition.append(log.c.version > after)
    statement = (
        sa.select(log.c.id, log.c.version)
        .where(*condition, ~still_there)
        .order_by(log.c.version)
        .limit(limit)
    )
    with store.reading() as conn:
        found = conn.execute(statement).all()
    context = f"{base_url}/$metadata#{table.entity_set}/$deletedEntity"
    versions = []
    for record_id, deleted_version in found:
        out.append(orjson.dumps({"@odata.context": context, "id": record_id, "reason": "deleted"}))
        versions.append(int(deleted_version))
    return versions
