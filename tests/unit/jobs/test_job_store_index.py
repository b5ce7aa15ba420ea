"""What an automatic index keeps of its overlap moves with its option, in one transaction."""

from __future__ import annotations

from pathlib import Path

import pytest

from crmsync.jobs.store import IndexSeen, JobStore
from crmsync.store import create_engine_for

OPTION = "LASTIMPORT_imp_read"


@pytest.fixture
def store(tmp_path: Path) -> JobStore:
    return JobStore(create_engine_for(f"sqlite:///{tmp_path / 'jobs.db'}"))


def _finish(store: JobStore, run_id: str, end: str, records: dict[str, tuple[str, str]]) -> None:
    store.finish_step(
        run_id,
        1,
        status="done",
        counts={},
        error=None,
        enqueue=[],
        variables={},
        options={OPTION: end},
        seen={OPTION: IndexSeen(end, records)},
    )


def test_the_overlap_belongs_to_the_option_value(store: JobStore) -> None:
    run_id = store.create_run("imp", "<t>", "text", {}, "read")
    _finish(store, run_id, "2024/01/01 00:01:00", {"a": ("2024-01-01T00:00:30Z", "0a0b0c0d")})
    assert store.index_seen(OPTION, "2024/01/01 00:01:00") == {"a": "0a0b0c0d"}
    _finish(store, run_id, "2024/01/01 00:02:00", {"b": ("2024-01-01T00:01:59Z", "01020304")})
    assert store.index_seen(OPTION, "2024/01/01 00:02:00") == {"b": "01020304"}
    # A user moves the option: what the last window read no longer applies.
    store.set_option(OPTION, "2024/01/01 00:00:00")
    assert store.index_seen(OPTION, "2024/01/01 00:00:00") == {}


def test_a_failure_moves_neither_the_option_nor_the_overlap(
    store: JobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id = store.create_run("imp", "<t>", "text", {}, "read")
    _finish(store, run_id, "2024/01/01 00:01:00", {"a": ("2024-01-01T00:00:30Z", "0a0b0c0d")})

    def crash(*args: object) -> None:
        raise RuntimeError("killed while storing the overlap")

    monkeypatch.setattr(store, "_set_index_seen", crash)
    with pytest.raises(RuntimeError):
        _finish(store, run_id, "2024/01/01 00:02:00", {"b": ("2024-01-01T00:01:59Z", "0")})
    assert store.option(OPTION) == "2024/01/01 00:01:00"
    assert store.index_seen(OPTION, "2024/01/01 00:01:00") == {"a": "0a0b0c0d"}
