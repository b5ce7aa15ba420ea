"""Fingerprints: which CRM records a re-read can skip because their Campaign row already holds them.

The writer writes, with each row it writes or finds already equal, a fingerprint of its record in
the row itself: a digest of the record's CRM values (with the mapping's definition,
:attr:`CompiledMapping.signature`, so that a changed mapping changes every digest) in
``source_digest``, and the time in ``synced_at`` (see :func:`crmsync.store.writes.upsert_batch`).
When the reader reads the record again (a replay, a new snapshot), it looks its page's rows up in
bulk and publishes no change for a record whose row has

- the record's version (``source_version``) and digest (the same CRM values, the same mapping),
- and has not been modified since the digest was written (``modified_at`` not after
  ``synced_at``: no edit from elsewhere to overwrite).

Applying such a record would write nothing: it is counted (``read``, ``unchanged``) and, in a
snapshot, its key is recorded as seen, without a queue message. Digests are written only where the
row holds every mapped field: in a snapshot, or a delta of a mapping without insert-only fields (a
delta leaves insert-only fields as they were).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
import sqlalchemy as sa
import xxhash

from crmsync.store.key_lists import one_of
from crmsync.store.writes import held_digest

__all__ = ["Fingerprints"]

_TWO_63 = 1 << 63
_TWO_64 = 1 << 64


class Fingerprints:
    """The fingerprints of one mapping's rows, in ``table`` by ``key_field``."""

    def __init__(self, table: sa.Table, *, key_field: str, signature: bytes) -> None:
        self.table = table
        self.key_field = key_field
        self._seed = int.from_bytes(hashlib.sha256(signature).digest()[:8], "big")

    def digest(self, values: Mapping[str, Any], formatted: Mapping[str, Any]) -> int:
        """The digest of a record's values and display labels (as read, as queued), a signed
        64-bit integer: a record whose content changes gets a new version anyway; the digest
        tells apart what changes without one (a changed mapping, relabelled options).

        XXH3 seeded with the mapping's signature: a checksum, not a cryptographic hash (no
        secret depends on it, and a record changed in the CRM has a new version whatever its
        digest), at a fifteenth of BLAKE2's cost on a record of 25 fields."""
        text = orjson.dumps((values, formatted), option=orjson.OPT_PASSTHROUGH_DATETIME)
        digest = xxhash.xxh3_64_intdigest(text, self._seed)
        return digest - _TWO_64 if digest >= _TWO_63 else digest

    def held(self, conn: sa.Connection, keys: Sequence[str]) -> dict[str, tuple[int, int]]:
        """Key → (version, digest) of the rows of ``keys`` that hold a fingerprint: not
        modified since it was written."""
        if not keys:
            return {}
        t = self.table
        key, digest = t.c[self.key_field], held_digest(t)
        query = sa.select(key, t.c.source_version, digest).where(
            one_of(key, keys, conn.dialect), digest.is_not(None)
        )
        result = conn.execute(query)
        # The driver's rows as they are: SQLAlchemy would build and process a Row each.
        held = {key: (version, digest) for key, version, digest in result.cursor.fetchall()}
        result.close()
        return held
