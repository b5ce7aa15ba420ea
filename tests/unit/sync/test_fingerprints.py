"""Fingerprints on a real SQLite store: digests follow the values and the mapping's signature; a
fingerprint is the version and digest a row holds, and holds only while the row is not modified
since it was written."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from crmsync.store import build_metadata, create_engine_for, definitions_with_profile, publish
from crmsync.store.writes import upsert_batch
from crmsync.sync.fingerprints import Fingerprints

PROFILE = build_metadata(definitions_with_profile([])).tables["profile"]


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[sa.Engine]:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'store.db'}")
    publish(engine, [])
    yield engine
    engine.dispose()


def _fingerprints(signature: bytes = b"mapping-1") -> Fingerprints:
    return Fingerprints(PROFILE, key_field="external_id", signature=signature)


def _store(
    engine: sa.Engine, key: str, version: int, first_name: str, digest: int | None = None
) -> None:
    row = {"external_id": key, "first_name": first_name, "source_version": version}
    if digest is not None:
        row["source_digest"] = digest
    with engine.begin() as conn:
        upsert_batch(conn, PROFILE, "external_id", [row])


def _held(engine: sa.Engine, keys: list[str]) -> dict[str, tuple[int, int]]:
    with engine.connect() as conn:
        return _fingerprints().held(conn, keys)


def test_digests_follow_values_labels_and_the_mapping() -> None:
    one, other = _fingerprints(), _fingerprints(b"mapping-2")
    values = {"firstname": "Ada", "numberofchildren": 2}
    assert one.digest(values, {}) == one.digest(dict(values), {})
    assert one.digest(values, {}) != one.digest({**values, "firstname": "Eve"}, {})
    assert one.digest(values, {}) != one.digest(values, {"gendercode": "Female"})
    assert one.digest(values, {}) != other.digest(values, {})
    # Signed 64-bit, as the store's BIGINT column holds them, spread over the whole range.
    digests = [one.digest({"n": n}, {}) for n in range(2000)]
    assert all(-(2**63) <= digest < 2**63 for digest in digests)
    assert len(set(digests)) == 2000
    assert any(digest < 0 for digest in digests)
    assert any(digest > 0 for digest in digests)


def test_a_fingerprint_holds_while_its_row_is_not_modified_since(engine: sa.Engine) -> None:
    _store(engine, "a", 5, "Ada", digest=11)
    _store(engine, "b", 5, "Bob", digest=22)
    _store(engine, "c", 5, "Cy")  # written without a digest
    # "d" has no row, "c" no digest: nothing to skip.
    assert _held(engine, ["a", "b", "c", "d"]) == {"a": (5, 11), "b": (5, 22)}

    with engine.begin() as conn:  # an edit made elsewhere, after the fingerprint
        later = datetime.now(UTC) + timedelta(seconds=1)
        conn.execute(
            PROFILE.update()
            .where(PROFILE.c.external_id == "b")
            .values(first_name="Edited", modified_at=later)
        )
    assert _held(engine, ["a", "b"]) == {"a": (5, 11)}
    # The record read and written again restores the row and its fingerprint.
    _store(engine, "b", 5, "Bob", digest=22)
    assert _held(engine, ["b"]) == {"b": (5, 22)}


def test_a_newer_version_without_a_digest_keeps_the_stored_digest(engine: sa.Engine) -> None:
    """Such a row holds the same values (or it would have been modified): the record's own
    digest decides whether it matches."""
    _store(engine, "a", 5, "Ada", digest=11)
    _store(engine, "a", 6, "Ada")
    assert _held(engine, ["a"]) == {"a": (6, 11)}
    _store(engine, "a", 7, "Eve")  # new values: modified after the digest was written
    assert _held(engine, ["a"]) == {}


def test_an_older_version_leaves_the_newer_fingerprint(engine: sa.Engine) -> None:
    _store(engine, "a", 7, "Ada", digest=70)
    _store(engine, "a", 6, "Old", digest=60)
    assert _held(engine, ["a"]) == {"a": (7, 70)}
