"""Sample data: deterministic, realistic spreads, consistent links."""

from __future__ import annotations

from collections import Counter

import sqlalchemy as sa

from crmsync.emulators.common.clock import Clock
from crmsync.emulators.dataverse.seed import seed
from crmsync.emulators.dataverse.store import DataverseStore


def _contacts(store: DataverseStore) -> list[sa.RowMapping]:
    with store.reading() as conn:
        return list(
            conn.execute(
                sa.select(store.sa_table(store.schema.by_logical_name["contact"]))
            ).mappings()
        )


def test_seed_is_deterministic() -> None:
    rows = []
    for _ in range(2):
        store = DataverseStore.open(None, Clock())
        seed(store, contacts=50, accounts=5, random_seed=3)
        rows.append([(r["contactid"], r["emailaddress1"]) for r in _contacts(store)])
        store.close()
    assert rows[0] == rows[1]


def test_seed_spreads_and_links() -> None:
    store = DataverseStore.open(None, Clock())
    seed(store, contacts=2000, accounts=50)
    rows = _contacts(store)
    assert len(rows) == 2000
    assert 0.03 < sum(r["donotemail"] for r in rows) / 2000 < 0.15
    assert set(Counter(r["gendercode"] for r in rows)) == {1, 2}
    assert all("@" in r["emailaddress1"] for r in rows)
    assert all(r["fullname"] == f"{r['firstname']} {r['lastname']}" for r in rows)
    with store.reading() as conn:
        account_ids = {i for (i,) in conn.exec_driver_sql("SELECT accountid FROM account")}
        orphans = conn.exec_driver_sql(
            "SELECT count(*) FROM crmsync_subscription s LEFT JOIN contact c "
            "ON c.contactid = s.crmsync_contactid WHERE c.contactid IS NULL"
        ).scalar_one()
    linked = [r for r in rows if r["parentcustomerid"]]
    assert 0.5 < len(linked) / 2000 < 0.9
    assert all(r["parentcustomerid"] in account_ids for r in linked)
    assert orphans == 0
    by_version = sorted(rows, key=lambda r: r["versionnumber"])
    assert [r["createdon"] for r in by_version] == sorted(r["createdon"] for r in rows)
    store.close()


def test_seed_gives_a_quarter_of_contacts_an_external_id() -> None:
    """The alternate key's column: filled for about a quarter, unique, and a second seed into
    the same store adds more without a clash."""
    store = DataverseStore.open(None, Clock())
    seed(store, contacts=400, accounts=5)
    seed(store, contacts=400, accounts=0)
    keys = [r["crmsync_externalid"] for r in _contacts(store) if r["crmsync_externalid"]]
    store.close()
    assert 0.2 < len(keys) / 800 < 0.3
    assert len(set(keys)) == len(keys)
    assert all(key.startswith("EXT-") for key in keys)
