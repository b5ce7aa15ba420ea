"""Fingerprints on a real SQLite store: digests follow the values and the mapping's signature; a
fingerprint holds only while its row keeps that version and is not modified since; an older
version never replaces a newer one."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from crmsync.store import build_metadata, create_engine_for, definitions_with_profile, publish
from crmsync.store.writes import upsert_batch
from crmsync.sync.fingerprints import Fingerprints
from crmsync.sync.state import SyncState


@pytest.fixture
def state(tmp_path: Path) -> Iterator[SyncState]:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'store.db'}")
    publish(engine, [])
    yield SyncState(engine)
    engine.dispose()


def _profile() -> sa.Table:
    return build_metadata(definitions_with_profile([])).tables["profile"]


def _fingerprints(state: SyncState, signature: bytes = b"mapping-1") -> Fingerprints:
    return Fingerprints(
        state.tables.fingerprints,
        _profile(),
        name="contacts",
        key_field="external_id",
        signature=signature,
    )


def _store(state: SyncState, key: str, version: int, first_name: str) -> None:
    with state.engine.begin() as conn:
        upsert_batch(
            conn,
            _profile(),
            "external_id",
            [{"external_id": key, "first_name": first_name, "source_version": version}],
        )


def test_digests_follow_values_labels_and_the_mapping() -> None:
    engine = sa.create_engine("sqlite://")
    state = SyncState(engine)
    one, other = _fingerprints(state), _fingerprints(state, b"mapping-2")
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


def test_a_fingerprint_holds_while_its_row_keeps_it(state: SyncState) -> None:
    fingerprints = _fingerprints(state)
    _store(state, "a", 5, "Ada")
    _store(state, "b", 5, "Bob")
    with state.engine.begin() as conn:
        fingerprints.record(conn, [("a", 5, 11), ("b", 5, 22), ("c", 5, 33)])
    with state.engine.connect() as conn:
        # "c" has no row: nothing to skip.
        assert fingerprints.held(conn, ["a", "b", "c"]) == {"a": (5, 11), "b": (5, 22)}

    _store(state, "a", 6, "Ada")  # a newer version written without a fingerprint
    profile = _profile()
    with state.engine.begin() as conn:  # an edit made elsewhere, after the fingerprint
        later = datetime.now(UTC) + timedelta(seconds=1)
        conn.execute(
            profile.update()
            .where(profile.c.external_id == "b")
            .values(first_name="Edited", modified_at=later)
        )
    with state.engine.connect() as conn:
        assert fingerprints.held(conn, ["a", "b"]) == {}


def test_an_older_version_leaves_the_newer_fingerprint(state: SyncState) -> None:
    fingerprints = _fingerprints(state)
    _store(state, "a", 7, "Ada")
    with state.engine.begin() as conn:
        fingerprints.record(conn, [("a", 7, 70), ("a", 6, 60)])
        fingerprints.record(conn, [("a", 5, 50)])
    with state.engine.connect() as conn:
        assert fingerprints.held(conn, ["a"]) == {"a": (7, 70)}
