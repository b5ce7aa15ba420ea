"""A replay request of one inbound mapping (SPEC §3.6), checked against its limits: the inbound
backlog and the CRM table's row count, each measured only as far as the limit.

A limit exceeded or a replay already pending is a refusal (:class:`ReplayRefused`); a pending
one is found before anything is measured. A CRM that
cannot be reached (nor its token endpoint), refuses the credentials or fails the count is not:
the request is not recorded and can be made again once the CRM answers
(:class:`~crmsync.errors.TransientError`, the connector's error as its cause)."""

from __future__ import annotations

from collections.abc import Mapping

from crmsync.config.models import Config
from crmsync.connectors.base import Connector
from crmsync.errors import AuthenticationError, ConfigurationError, CrmsyncError, TransientError
from crmsync.runtime.connectors import ConnectorOpener, open_connector
from crmsync.runtime.queues import open_queue
from crmsync.state.models import ReplayRefused, ReplayRequest
from crmsync.state.store import StateStore
from crmsync.store import create_engine_for

__all__ = ["request_replay"]


async def request_replay(
    config: Config,
    name: str,
    *,
    limit_backlog: int,
    limit_rows: int,
    environ: Mapping[str, str] | None = None,
    opener: ConnectorOpener = open_connector,
) -> ReplayRequest:
    """Check the limits and record the replay request of mapping ``name`` (the CRM's
    connector opened by ``opener``)."""
    mapping = next((m for m in config.inbound.mappings if m.name == name), None)
    if mapping is None:
        known = ", ".join(m.name for m in config.inbound.mappings) or "none"
        raise ReplayRefused(
            f"there is no inbound mapping '{name}' (mappings: {known})",
            code="UNKNOWN_MAPPING",
            mapping=name,
            value=None,
            limit=None,
        )
    engine = create_engine_for(config.store.url, schema=config.store.pg_schema)
    queue = open_queue(config)
    connector = opener(mapping.connection, config.connections[mapping.connection], environ)
    try:
        state = StateStore(engine)
        state.replays.refuse_if_pending(name)  # whether or not the CRM answers
        backlog = await queue.backlog()
        backlog += state.parked.count()
        rows = 0
        if backlog < limit_backlog:
            try:
                info = await connector.describe(mapping.crm_table)
                rows = await count_rows(connector, info.name, info.primary_key, limit=limit_rows)
            except CrmsyncError as exc:
                if isinstance(exc, ConfigurationError) and not isinstance(exc, AuthenticationError):
                    raise  # the mapping's own problem (e.g. a table the CRM does not have)
                # Unreachable (its token endpoint too), refusing us, or failing the count.
                raise TransientError(
                    f"connection '{mapping.connection}' could not count the records of "
                    f"'{mapping.crm_table}': {exc.message}; no replay was recorded: ask again "
                    "once the CRM answers",
                    code=exc.code,
                    status=exc.status,
                    table=mapping.crm_table,
                ) from exc
        return state.replays.request(
            name,
            backlog=backlog,
            table_rows=rows,
            limit_backlog=limit_backlog,
            limit_rows=limit_rows,
        )
    finally:
        await connector.aclose()
        await queue.aclose()
        engine.dispose()


async def count_rows(connector: Connector, table: str, primary_key: str, *, limit: int) -> int:
    """Rows of ``table``, counted up to ``limit`` (enough to decide a replay request).

    Counting by reading keys only works with every CRM; Dataverse's ``$count`` stops at 5,000.
    """
    total = 0
    async for page in connector.read_all(table, [primary_key]):
        total += len(page)
        if total >= limit:
            break
    return total
