"""Generated data: deterministic, valid against the schema, linked, quick to load."""

from __future__ import annotations

import sqlalchemy as sa

from crmsync.emulators.common.clock import Clock
from crmsync.emulators.salesforce.ids import is_valid_id
from crmsync.emulators.salesforce.seed import seed
from crmsync.emulators.salesforce.store import SalesforceStore


def rows(store: SalesforceStore, name: str) -> list[dict[str, object]]:
    obj = store.schema.get(name)
    assert obj is not None
    table = store.table(obj)
    with store.reading() as conn:
        return [dict(r) for r in conn.execute(sa.select(table).order_by(table.c.Id)).mappings()]


def test_same_counts_give_the_same_records() -> None:
    clock = Clock()
    first, second = SalesforceStore.open(None, clock), SalesforceStore.open(None, clock)
    try:
        for store in (first, second):
            seed(store, contacts=200, accounts=10, subscriptions=20)

        def data(store: SalesforceStore) -> list[dict[str, object]]:
            return [
                {k: v for k, v in r.items() if not k.endswith("Date") and k != "SystemModstamp"}
                for r in rows(store, "Contact")
            ]

        assert data(first) == data(second)
    finally:
        first.close()
        second.close()


def test_records_are_valid_and_linked() -> None:
    store = SalesforceStore.open(None, Clock())
    try:
        seed(store, contacts=300, accounts=12, subscriptions=40)
        accounts = {r["Id"] for r in rows(store, "Account")}
        contacts = rows(store, "Contact")
        assert len(accounts) == 12
        assert len(contacts) == 300
        contact = store.schema.get("Contact")
        assert contact is not None
        language = contact.field("Preferred_Language__c")
        assert language is not None
        for record in contacts:
            assert is_valid_id(str(record["Id"]))
            assert record["LastName"]
            assert record["Name"] == f"{record['FirstName']} {record['LastName']}"
            assert record["AccountId"] is None or record["AccountId"] in accounts
            assert record["Preferred_Language__c"] in language.picklist_values
            assert str(record["LastModifiedDate"]) <= str(record["SystemModstamp"])
            assert str(record["CreatedDate"]) <= str(record["LastModifiedDate"])
        assert 0.5 < sum(r["AccountId"] is not None for r in contacts) / 300 < 0.9
        assert len({r["Customer_Number__c"] for r in contacts}) == 300
        subscriptions = rows(store, "Subscription__c")
        ids = {r["Id"] for r in contacts}
        assert all(r["Contact__c"] in ids for r in subscriptions)
        # Seeding again continues the ids instead of colliding.
        seed(store, contacts=5)
        assert store.count(contact) == 305
    finally:
        store.close()


def test_many_contacts_are_seeded_in_batches() -> None:
    store = SalesforceStore.open(None, Clock())
    try:
        seed(store, contacts=12_345, accounts=100)
        contact = store.schema.get("Contact")
        assert contact is not None
        assert store.count(contact) == 12_345
    finally:
        store.close()
