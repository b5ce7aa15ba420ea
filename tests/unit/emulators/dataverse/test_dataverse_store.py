"""Storage: persistence in a file, versions, deletions log, savepoints."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from crmsync.emulators.common.clock import Clock
from crmsync.emulators.dataverse.query import parse_options, read_page
from crmsync.emulators.dataverse.seed import seed
from crmsync.emulators.dataverse.store import DataverseStore


def test_data_and_versions_persist_in_a_file(tmp_path: Path) -> None:
    path = tmp_path / "org.sqlite"
    store = DataverseStore.open(path, Clock())
    seed(store, contacts=30, accounts=3)
    version, count = store.current_version, store.count(store.schema.by_logical_name["contact"])
    store.close()
    reopened = DataverseStore.open(path, Clock())
    assert reopened.current_version == version
    assert reopened.count(reopened.schema.by_logical_name["contact"]) == count == 30
    seed(reopened, contacts=5, accounts=1)  # seeding again adds rows, never clashes
    assert reopened.count(reopened.schema.by_logical_name["contact"]) == 35
    reopened.close()


def test_savepoint_rolls_back_rows_and_versions(store: DataverseStore) -> None:
    table = store.schema.by_logical_name["crmsync_auditnote"]
    sa_table = store.sa_table(table)
    version = store.current_version

    def fail() -> None:
        with store.savepoint() as conn:
            row = {"crmsync_auditnoteid": "a", "versionnumber": store.next_version()}
            conn.execute(sa.insert(sa_table).values(row))
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        fail()
    assert store.current_version == version
    assert store.count(table) == 0


def test_versions_strictly_increase_across_tables(store: DataverseStore) -> None:
    versions: list[int] = []
    with store.reading() as conn:
        for table in store.schema.tables:
            versions += [
                v for (v,) in conn.execute(sa.select(store.sa_table(table).c.versionnumber))
            ]
    assert len(versions) == len(set(versions))
    assert max(versions) == store.current_version


def test_deletion_log(store: DataverseStore) -> None:
    table = store.schema.by_logical_name["contact"]
    with store.transaction() as conn:
        store.record_deletion(conn, table, "abc")
    with store.reading() as conn:
        row = conn.execute(sa.select(store.deletions)).one()
    assert (row.tablename, row.id, row.version) == ("contact", "abc", store.current_version)


def _read_contacts(store: DataverseStore) -> list[bytes]:
    """Every contact as the Web API sends it, with formatted values."""
    table = store.schema.by_logical_name["contact"]
    page = read_page(
        store, table, parse_options(table, {}), page_size=1000, annotations="formatted"
    )
    return page.rows


def test_a_data_file_without_the_hidden_columns_gets_them(tmp_path: Path) -> None:
    """A file written before the stored annotations existed opens with the column, and its
    records read as before: rendered by the read until a write stores them again."""
    path = tmp_path / "old.sqlite"
    store = DataverseStore.open(path, Clock())
    seed(store, contacts=5, accounts=2)
    expected = _read_contacts(store)
    store.close()
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        for table in store.schema.tables:
            conn.exec_driver_sql(f'ALTER TABLE "{table.logical_name}" DROP COLUMN "_annotations"')
    engine.dispose()
    reopened = DataverseStore.open(path, Clock())
    found = _read_contacts(reopened)
    reopened.close()
    assert found == expected
    assert all(b"FormattedValue" in text for text in found)


def test_a_data_file_without_a_new_column_gets_it_with_its_key(tmp_path: Path) -> None:
    """A file written before ``contact.crmsync_externalid`` existed opens with the column, its
    alternate key's unique index, and every record's JSON naming it."""
    path = tmp_path / "old.sqlite"
    store = DataverseStore.open(path, Clock())
    seed(store, contacts=5, accounts=2)
    store.close()
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.exec_driver_sql('DROP INDEX "ux_contact_crmsync_externalid_key"')
        conn.exec_driver_sql('ALTER TABLE "contact" DROP COLUMN "crmsync_externalid"')
    engine.dispose()
    reopened = DataverseStore.open(path, Clock())
    contact = reopened.schema.by_logical_name["contact"]
    sa_table = reopened.sa_table(contact)
    texts = _read_contacts(reopened)
    with reopened.reading() as conn:
        indexes = {index["name"] for index in sa.inspect(conn).get_indexes("contact")}
        with pytest.raises(sa.exc.IntegrityError, match="UNIQUE"):
            conn.execute(sa.update(sa_table).values(crmsync_externalid="X-1"))
    reopened.close()
    assert len(texts) == 5
    assert all(b'"crmsync_externalid":null' in text for text in texts)
    assert "ux_contact_crmsync_externalid_key" in indexes
