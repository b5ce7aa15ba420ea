"""On SQLite, a transaction that reads before it writes takes the write lock first: a write
committed by another connection meanwhile cannot make it fail with "database is locked"."""

from __future__ import annotations

import threading
from pathlib import Path

import sqlalchemy as sa

from crmsync.store import create_engine_for
from crmsync.store.engine import write_transaction


def test_a_transaction_that_reads_first_survives_a_write_committed_meanwhile(
    tmp_path: Path,
) -> None:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'store.db'}")
    metadata = sa.MetaData()
    table = sa.Table("t", metadata, sa.Column("x", sa.Integer))
    metadata.create_all(engine)
    read = threading.Event()
    other: list[BaseException] = []

    def write_meanwhile() -> None:
        read.wait()
        try:
            with engine.begin() as conn:
                conn.execute(sa.insert(table).values(x=1))
        except BaseException as exc:
            other.append(exc)

    thread = threading.Thread(target=write_meanwhile)
    thread.start()
    with write_transaction(engine) as conn:
        seen = conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
        read.set()
        thread.join(timeout=0.3)  # the other writer waits for this transaction's lock
        conn.execute(sa.insert(table).values(x=seen + 10))
    thread.join()
    assert other == []
    with engine.connect() as conn:
        assert sorted(conn.execute(sa.select(table.c.x)).scalars()) == [1, 10]
    engine.dispose()
