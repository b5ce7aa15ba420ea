"""Reading the current opt-out values of a few CRM contacts by id.

The Campaign → CRM sender reads the CRM's current values just before it writes, so that the
conflict rule sees what the CRM holds now. The connector reads with a filter in the CRM's own
language; ids are checked against the CRM's id format first, so no text from the store reaches a
filter unchecked.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from crmsync.connectors.base import Connector, Record
from crmsync.errors import (
    AuthenticationError,
    ConfigurationError,
    CrmsyncError,
    ProtocolError,
    RejectError,
    TransientError,
)

__all__ = ["as_time", "read_by_ids", "valid_id"]

_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_SALESFORCE_ID = re.compile(r"^[A-Za-z0-9]{15}([A-Za-z0-9]{3})?$")
_IDS_PER_READ = 40


def valid_id(kind: str, record_id: str) -> bool:
    """Whether ``record_id`` has the shape of a record id of the CRM ``kind``."""
    pattern = _GUID if kind == "dataverse" else _SALESFORCE_ID
    return pattern.fullmatch(record_id) is not None


def _where(kind: str, primary_key: str, ids: Sequence[str]) -> str:
    if kind == "dataverse":
        return " or ".join(f"{primary_key} eq {record_id}" for record_id in ids)
    return f"{primary_key} IN ({', '.join(repr(str(record_id)) for record_id in ids)})"


async def read_by_ids(
    connector: Connector,
    kind: str,
    table: str,
    primary_key: str,
    fields: Sequence[str],
    ids: Sequence[str],
    *,
    per_read: int = _IDS_PER_READ,
) -> dict[str, Record]:
    """The records of ``table`` with these ids (checked by :func:`valid_id`), by id, at most
    ``per_read`` ids a request."""
    wanted = [record_id for record_id in dict.fromkeys(ids) if valid_id(kind, record_id)]
    found: dict[str, Record] = {}
    for start in range(0, len(wanted), per_read):
        chunk = wanted[start : start + per_read]
        try:
            await _read_into(found, connector, kind, table, primary_key, fields, chunk)
        except (TransientError, AuthenticationError):
            raise
        except CrmsyncError:
            # One id the CRM refuses (e.g. a Salesforce id with a wrong checksum) fails the whole
            # query: read one by one so that only that id goes unanswered.
            if len(chunk) == 1:
                continue
            for record_id in chunk:
                with contextlib.suppress(RejectError, ConfigurationError, ProtocolError):
                    await _read_into(
                        found, connector, kind, table, primary_key, fields, [record_id]
                    )
    return found


async def _read_into(
    found: dict[str, Record],
    connector: Connector,
    kind: str,
    table: str,
    primary_key: str,
    fields: Sequence[str],
    ids: Sequence[str],
) -> None:
    async for page in connector.read_all(table, fields, where=_where(kind, primary_key, ids)):
        for record in page:
            found[record.id.lower() if kind == "dataverse" else record.id] = record


def as_time(value: Any) -> datetime | None:
    """A CRM timestamp (ISO 8601 text or ``datetime``) as an aware UTC ``datetime``."""
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
    return None
