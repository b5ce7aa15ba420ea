from __future__ import annotations

from pathlib import Path

import pytest

from crmsync.errors import ConfigurationError
from crmsync.store.engine import SQLITE_BUSY_TIMEOUT_MS, create_engine_for, parse_store_url


def test_sqlite_engine_is_tuned(tmp_path: Path) -> None:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'store.db'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar_one() == 2  # FULL
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar_one() == SQLITE_BUSY_TIMEOUT_MS
    engine.dispose()


def test_sqlite_transactions_roll_back(tmp_path: Path) -> None:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'store.db'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
    with engine.connect() as conn:
        conn.exec_driver_sql("INSERT INTO t VALUES (1)")
        conn.rollback()
        assert conn.exec_driver_sql("SELECT count(*) FROM t").scalar_one() == 0
    engine.dispose()


def test_postgresql_url_defaults_to_psycopg() -> None:
    assert parse_store_url("postgresql://u@h/db").drivername == "postgresql+psycopg"


@pytest.mark.parametrize("url", ["mysql://u@h/db", "oracle://x", "not a url"])
def test_unsupported_urls_are_refused(url: str) -> None:
    with pytest.raises(ConfigurationError, match="store url"):
        parse_store_url(url)


def test_schema_only_on_postgresql() -> None:
    with pytest.raises(ConfigurationError, match="only be chosen on PostgreSQL"):
        create_engine_for("sqlite://", schema="x")


def test_hostile_schema_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="store schema"):
        create_engine_for("postgresql+psycopg://u@127.0.0.1/db", schema="x; drop")
