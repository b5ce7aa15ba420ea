"""Seeded data files: generated once, reused by every later start with the same seed.

``crmsync emulate … --data FILE --seed contacts=N,…`` makes FILE when it does not exist: the
rows are generated into a scratch file beside it (no journal, no syncs: see
:func:`.sqlite.create_sqlite_engine`), the seed is recorded in it (``emulator_state`` rows named
``seed:<kind>``), and only then is it renamed to FILE. A start that is interrupted leaves no
FILE, only a scratch file the next start replaces; a FILE always holds a complete seed.

A FILE that exists is reused as it is when the seed asked for is the one recorded in it, or when
none is asked for. Another seed is refused (:class:`DataFileError`) rather than added on top or
ignored: the rows a start serves are always the rows its options say.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Protocol, TypeVar

import sqlalchemy as sa

__all__ = [
    "DataFileError",
    "describe_seed",
    "open_seeded",
    "prepare_data_file",
    "recorded_seed",
]

_PREFIX = "seed:"
_STATE = sa.table("emulator_state", sa.column("name", sa.Text), sa.column("value", sa.Integer))


class DataFileError(ValueError):
    """The data file cannot serve the seed asked for; the message says what to do."""


def describe_seed(seed: Mapping[str, int]) -> str:
    """``contacts=N,accounts=M`` (as ``--seed`` takes it); ``nothing`` for an empty seed."""
    return ",".join(f"{kind}={count}" for kind, count in seed.items()) or "nothing"


def _wanted(seed: Mapping[str, int]) -> dict[str, int]:
    return {kind: count for kind, count in seed.items() if count}


def recorded_seed(path: Path) -> dict[str, int] | None:
    """The seed ``path`` was made with (kinds with a count of 0 left out); ``None`` when it was
    not made by seeding."""
    engine = sa.create_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table("emulator_state"):
                return None
            rows = conn.execute(
                sa.select(_STATE.c.name, _STATE.c.value).where(_STATE.c.name.like(f"{_PREFIX}%"))
            ).all()
    except sa.exc.DatabaseError as error:
        raise DataFileError(f"{path} is not an emulator data file ({error.orig})") from None
    finally:
        engine.dispose()
    if not rows:
        return None
    return _wanted({name.removeprefix(_PREFIX): int(value) for name, value in rows})


def _record(path: Path, seed: Mapping[str, int]) -> None:
    engine = sa.create_engine(f"sqlite:///{path}")
    try:
        with engine.begin() as conn:
            # Every kind, zeros included (a count of 0 compares as the kind being absent).
            rows = [{"name": f"{_PREFIX}{kind}", "value": count} for kind, count in seed.items()]
            conn.execute(sa.insert(_STATE), rows)
    finally:
        engine.dispose()


def _fsync(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def prepare_data_file(path: Path, seed: Mapping[str, int], build: Callable[[Path], None]) -> bool:
    """Make ``path`` with ``build(scratch)`` when it is missing and ``seed`` asks for rows.

    ``seed`` maps each kind of record to its count. ``build`` fills the store in the file it is
    given (a new file) and closes it. Returns whether the file was made. Raises
    :class:`DataFileError` when ``path`` exists but holds another seed.
    """
    wanted = _wanted(seed)
    if path.exists():
        if not wanted:
            return False
        recorded = recorded_seed(path)
        if recorded == wanted:
            return False
        made = (
            f"was made with --seed {describe_seed(recorded)}"
            if recorded is not None
            else "was not made by --seed"
        )
        raise DataFileError(
            f"{path} {made}, not {describe_seed(wanted)}: start with the same --seed (or none) "
            "to use it as it is, or give another --data file for this seed"
        )
    if not wanted:
        return False
    scratch = path.with_name(f"{path.name}.seeding")
    scratch.unlink(missing_ok=True)  # left by a start that did not finish
    try:
        build(scratch)
        _record(scratch, seed)
        _fsync(scratch)
        scratch.replace(path)
    except BaseException:
        scratch.unlink(missing_ok=True)
        raise
    _fsync(path.parent)
    return True


class _Store(Protocol):
    def close(self) -> None: ...


_S = TypeVar("_S", bound=_Store)


def open_seeded(
    path: Path | None,
    seed: Mapping[str, int],
    open_store: Callable[[Path | None, bool], _S],
    fill: Callable[[_S, bool], None],
) -> _S:
    """An emulator's store with ``seed`` in it: in memory when ``path`` is ``None``, else in the
    data file ``path`` (made once by :func:`prepare_data_file`).

    ``open_store(path, bulk)`` opens a store; ``fill(store, in_file)`` seeds it (``in_file``:
    into a new data file).
    """
    if path is None:
        store = open_store(None, False)
        try:
            if _wanted(seed):
                fill(store, False)
        except BaseException:
            store.close()
            raise
        return store

    def build(scratch: Path) -> None:
        bulk = open_store(scratch, True)
        try:
            fill(bulk, True)
        finally:
            bulk.close()

    prepare_data_file(path, seed, build)
    return open_store(path, False)
