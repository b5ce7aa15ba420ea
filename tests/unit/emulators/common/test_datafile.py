"""Seeded data files: made once and whole, reused with the same seed, refused with another."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from crmsync.emulators.common.datafile import (
    DataFileError,
    describe_seed,
    prepare_data_file,
    recorded_seed,
)

SEED = {"contacts": 20, "accounts": 0}


class Builder:
    """Makes a store file with ``rows`` rows in table ``item``; counts its calls."""

    def __init__(self, rows: int = 3, fail: bool = False) -> None:
        self.rows = rows
        self.fail = fail
        self.calls: list[Path] = []

    def __call__(self, path: Path) -> None:
        self.calls.append(path)
        engine = sa.create_engine(f"sqlite:///{path}")
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE emulator_state (name TEXT PRIMARY KEY, value INT)")
            conn.exec_driver_sql("CREATE TABLE item (id INTEGER PRIMARY KEY)")
            conn.exec_driver_sql("INSERT INTO item (id) VALUES (NULL)", [()] * self.rows)
        engine.dispose()
        if self.fail:
            raise RuntimeError("interrupted")


def _items(path: Path) -> int:
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        count = int(conn.exec_driver_sql("SELECT count(*) FROM item").scalar_one())
    engine.dispose()
    return count


def test_a_missing_file_is_made_once_with_its_seed_recorded(tmp_path: Path) -> None:
    path = tmp_path / "crm.db"
    build = Builder()
    assert prepare_data_file(path, SEED, build) is True
    assert build.calls == [tmp_path / "crm.db.seeding"]
    assert recorded_seed(path) == {"contacts": 20}  # kinds seeded with nothing left out
    assert _items(path) == 3
    assert not (tmp_path / "crm.db.seeding").exists()
    # The same seed, in another order and with the zero left out, or no seed: reused as it is.
    assert prepare_data_file(path, {"accounts": 0, "contacts": 20}, build) is False
    assert prepare_data_file(path, {"contacts": 20}, build) is False
    assert prepare_data_file(path, {}, build) is False
    assert len(build.calls) == 1


def test_another_seed_is_refused_with_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "crm.db"
    prepare_data_file(path, SEED, Builder())
    build = Builder()
    with pytest.raises(DataFileError) as refused:
        prepare_data_file(path, {"contacts": 21, "accounts": 0}, build)
    message = str(refused.value)
    assert f"{path} was made with --seed contacts=20, not contacts=21" in message
    assert "another --data file" in message
    assert build.calls == []
    assert _items(path) == 3


def test_a_file_not_made_by_seeding_is_refused_a_seed(tmp_path: Path) -> None:
    path = tmp_path / "crm.db"
    Builder()(path)  # a store file that holds data but no seed record
    with pytest.raises(DataFileError, match="was not made by --seed"):
        prepare_data_file(path, SEED, Builder())
    assert prepare_data_file(path, {}, Builder()) is False


def test_something_else_than_a_data_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("not a database, " * 100)
    with pytest.raises(DataFileError, match=r"notes\.txt is not an emulator data file"):
        prepare_data_file(path, SEED, Builder())


def test_an_interrupted_seed_leaves_no_file_and_the_next_start_makes_it(tmp_path: Path) -> None:
    path = tmp_path / "crm.db"
    with pytest.raises(RuntimeError, match="interrupted"):
        prepare_data_file(path, SEED, Builder(fail=True))
    assert list(tmp_path.iterdir()) == []
    # A scratch file left by a killed start is replaced, never reused.
    (tmp_path / "crm.db.seeding").write_bytes(b"half a file")
    assert prepare_data_file(path, SEED, Builder(rows=5)) is True
    assert _items(path) == 5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["crm.db"]


def test_no_seed_and_no_file_makes_nothing(tmp_path: Path) -> None:
    build = Builder()
    assert prepare_data_file(tmp_path / "crm.db", {"contacts": 0}, build) is False
    assert build.calls == []
    assert not (tmp_path / "crm.db").exists()


def test_describe_seed() -> None:
    assert describe_seed({"contacts": 5, "accounts": 2}) == "contacts=5,accounts=2"
    assert describe_seed({}) == "nothing"
