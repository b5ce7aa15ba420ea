"""Deterministic, realistic sample data for the emulator.

Names of several nationalities, e-mail addresses derived from them, picklists with a plausible
spread, a few percent of contacts opting out of each channel, audit dates spread over the past two
years (``SystemModstamp`` never before ``LastModifiedDate``). The same counts always give the same
records. Rows are generated in chunks and written with ``executemany`` on an INSERT built from the
schema (never from input): a million contacts load in well under a minute.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from typing import Any

import sqlalchemy as sa

from crmsync.emulators.salesforce.ids import make_id
from crmsync.emulators.salesforce.schema import SObject
from crmsync.emulators.salesforce.store import USER_ID, SalesforceStore

__all__ = ["seed"]

_CHUNK = 20_000
_FIRST = [
    "James",
    "Mary",
    "John",
    "Patricia",
    "Robert",
    "Jennifer",
    "Michael",
    "Linda",
    "William",
    "Elizabeth",
    "Emma",
    "Olivia",
    "Noah",
    "Liam",
    "Sophie",
    "Lukas",
    "Lena",
    "Jonas",
    "Anna",
    "Felix",
    "Marie",
    "Louis",
    "Camille",
    "Hugo",
    "Chloé",
    "Léa",
    "Gabriel",
    "Giulia",
    "Marco",
    "Francesca",
    "Luca",
    "Sofia",
    "Matteo",
    "Lucía",
    "Mateo",
    "Valentina",
    "Diego",
    "Hiroshi",
    "Yuki",
    "Haruto",
    "Sakura",
    "Wei",
    "Fang",
    "Mei",
    "Arjun",
    "Priya",
    "Rahul",
    "Ananya",
    "Aisha",
    "Omar",
    "Fatima",
    "Youssef",
    "Zeynep",
    "Mehmet",
    "Sven",
    "Ingrid",
    "Lars",
    "Astrid",
    "Piotr",
    "Agnieszka",
    "Katarzyna",
    "Nikolai",
    "Olga",
    "Seo-yeon",
    "Min-jun",
]
_LAST = [
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Wilson",
    "Taylor",
    "Müller",
    "Schmidt",
    "Schneider",
    "Fischer",
    "Weber",
    "Meyer",
    "Wagner",
    "Martin",
    "Bernard",
    "Dubois",
    "Thomas",
    "Robert",
    "Petit",
    "Rossi",
    "Russo",
    "Ferrari",
    "Esposito",
    "Bianchi",
    "Romano",
    "González",
    "Rodríguez",
    "Fernández",
    "López",
    "Martínez",
    "Sánchez",
    "Sato",
    "Suzuki",
    "Takahashi",
    "Tanaka",
    "Watanabe",
    "Wang",
    "Li",
    "Zhang",
    "Liu",
    "Chen",
    "Sharma",
    "Patel",
    "Singh",
    "Kumar",
    "Gupta",
    "Yılmaz",
    "Kaya",
    "Demir",
    "Hansen",
    "Johansson",
    "Nowak",
    "Kowalski",
    "Wiśniewski",
    "Ivanov",
    "Smirnov",
    "Kim",
    "Lee",
    "Park",
    "O'Brien",
    "Van der Berg",
]
_CITIES = (
    ("Berlin", "Germany", "10115"),
    ("Munich", "Germany", "80331"),
    ("Paris", "France", "75001"),
    ("Lyon", "France", "69001"),
    ("Milan", "Italy", "20121"),
    ("Madrid", "Spain", "28001"),
    ("London", "United Kingdom", "EC1A 1BB"),
    ("New York", "United States", "10001"),
    ("San Francisco", "United States", "94105"),
    ("Tokyo", "Japan", "100-0001"),
    ("Shanghai", "China", "200000"),
    ("Mumbai", "India", "400001"),
    ("Istanbul", "Türkiye", "34000"),
    ("Stockholm", "Sweden", "111 20"),
    ("Warsaw", "Poland", "00-001"),
    ("Seoul", "South Korea", "04524"),
)
_LANGUAGES = {
    "Germany": "de",
    "France": "fr",
    "Italy": "it",
    "Spain": "es",
    "Japan": "ja",
    "China": "zh",
}
_TITLES = ("Manager", "Director", "Engineer", "Analyst", "Consultant", "Buyer", "Owner", None)
_DEPARTMENTS = ("Sales", "Marketing", "Finance", "IT", "Operations", "Purchasing", None)
_LEAD_SOURCES = ("Web", "Web", "Phone Inquiry", "Partner Referral", "Trade Show", "Other", None)
_SALUTATIONS = ("Mr.", "Ms.", "Mrs.", "Dr.", None, None)
_INDUSTRIES = (
    "Banking",
    "Construction",
    "Energy",
    "Healthcare",
    "Manufacturing",
    "Retail",
    "Technology",
    "Transportation",
    None,
)
_COMPANY_WORDS = (
    "Global",
    "United",
    "Alpine",
    "Nordic",
    "Pacific",
    "Atlas",
    "Summit",
    "Blue",
    "Green",
    "Silver",
    "Rapid",
    "Bright",
)
_COMPANY_KINDS = (
    "Industries",
    "Systems",
    "Logistics",
    "Foods",
    "Energy",
    "Labs",
    "Partners",
    "Holdings",
    "Media",
    "Motors",
)
_PLANS = ("Free", "Basic", "Plus", "Premium")
_TWO_YEARS = 730 * 86_400


def _ascii(text: str) -> str:
    table = str.maketrans("éèáíóúñüöäłśçıİ'", "eeaiounuoalsciI-")
    return text.translate(table).replace(" ", "").lower()


def _stamp(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000+0000", time.gmtime(epoch))


def _audit(rng: random.Random, now: float) -> dict[str, Any]:
    created = now - rng.randrange(86_400, _TWO_YEARS)
    modified = created + rng.randrange(0, int(now - created))
    modstamp = modified + (rng.randrange(0, 3600) if rng.random() < 0.05 else 0)
    return {
        "CreatedDate": _stamp(created),
        "LastModifiedDate": _stamp(modified),
        "SystemModstamp": _stamp(min(modstamp, now)),
        "IsDeleted": 0,
        "OwnerId": USER_ID,
        "CreatedById": USER_ID,
        "LastModifiedById": USER_ID,
    }


def _accounts(first: int, count: int, now: float) -> Iterator[dict[str, Any]]:
    for n in range(first, first + count):
        rng = random.Random(f"account-{n}")  # noqa: S311 - sample data, not secrets
        city, country, postal = rng.choice(_CITIES)
        name = f"{rng.choice(_COMPANY_WORDS)} {rng.choice(_COMPANY_KINDS)} {n}"
        yield {
            "Id": make_id("001", n),
            "Name": name,
            "AccountNumber": f"A-{n:07d}",
            "Type": rng.choice(("Prospect", "Customer - Direct", "Partner", None)),
            "Industry": rng.choice(_INDUSTRIES),
            "AnnualRevenue": float(rng.randrange(1, 5000) * 10_000),
            "NumberOfEmployees": rng.randrange(1, 20_000),
            "Phone": f"+{rng.randrange(1, 99)} {rng.randrange(100, 999)} {rng.randrange(10**7)}",
            "Website": f"https://www.{_ascii(name)}.example",
            "BillingStreet": f"{rng.randrange(1, 200)} Market Street",
            "BillingCity": city,
            "BillingPostalCode": postal,
            "BillingCountry": country,
            **_audit(rng, now),
        }


def _contacts(first: int, count: int, accounts: int, now: float) -> Iterator[dict[str, Any]]:
    for n in range(first, first + count):
        rng = random.Random(n)  # noqa: S311 - sample data, not secrets
        first_name, last_name = rng.choice(_FIRST), rng.choice(_LAST)
        city, country, postal = rng.choice(_CITIES)
        account = (
            make_id("001", rng.randrange(1, accounts + 1))
            if accounts and rng.random() < 0.7
            else None
        )
        birth = None
        if rng.random() < 0.6:
            birth = (
                f"{rng.randrange(1940, 2006)}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}"
            )
        yield {
            "Id": make_id("003", n),
            "AccountId": account,
            "Salutation": rng.choice(_SALUTATIONS),
            "FirstName": first_name,
            "LastName": last_name,
            "Name": f"{first_name} {last_name}",
            "Email": f"{_ascii(first_name)}.{_ascii(last_name)}.{n}@example.com"
            if rng.random() < 0.92
            else None,
            "Phone": f"+{rng.randrange(1, 99)} {rng.randrange(10**8, 10**9)}"
            if rng.random() < 0.5
            else None,
            "MobilePhone": f"+{rng.randrange(1, 99)} {rng.randrange(10**9, 10**10)}"
            if rng.random() < 0.6
            else None,
            "Birthdate": birth,
            "Title": rng.choice(_TITLES),
            "Department": rng.choice(_DEPARTMENTS),
            "LeadSource": rng.choice(_LEAD_SOURCES),
            "Preferred_Language__c": _LANGUAGES.get(country, "en"),
            "HasOptedOutOfEmail": int(rng.random() < 0.05),
            "HasOptedOutOfFax": int(rng.random() < 0.03),
            "DoNotCall": int(rng.random() < 0.04),
            "MailingStreet": f"{rng.randrange(1, 300)} {rng.choice(_LAST)} Street",
            "MailingCity": city,
            "MailingPostalCode": postal,
            "MailingCountry": country,
            "Description": None,
            "Loyalty_Points__c": float(rng.randrange(0, 10_000)) if rng.random() < 0.3 else None,
            "Customer_Number__c": f"C{n:08d}",
            **_audit(rng, now),
        }


def _subscriptions(first: int, count: int, contacts: int, now: float) -> Iterator[dict[str, Any]]:
    for n in range(first, first + count):
        rng = random.Random(f"subscription-{n}")  # noqa: S311 - sample data, not secrets
        plan = rng.choice(_PLANS)
        yield {
            "Id": make_id("a0X", n),
            "Name": f"SUB-{n:07d}",
            "Contact__c": make_id("003", rng.randrange(1, contacts + 1)) if contacts else None,
            "Plan__c": plan,
            "Start_Date__c": f"{rng.randrange(2019, 2026)}-{rng.randrange(1, 13):02d}-01",
            "Active__c": int(rng.random() < 0.8),
            "External_Key__c": f"SUB-{n:07d}",
            **_audit(rng, now),
        }


def _load(
    store: SalesforceStore,
    obj: SObject,
    count: int,
    rows: Callable[[int, int], Iterator[dict[str, Any]]],
) -> None:
    if count <= 0:
        return
    table = store.table(obj)
    columns = [f.name for f in obj.fields]
    # One INSERT built from the schema's column names (never from input), run with executemany:
    # the DB-API's fast path, which SQLAlchemy's per-row parameter handling would slow down.
    statement = str(sa.insert(table).compile(dialect=store.engine.dialect, column_keys=columns))
    with store.transaction() as conn:
        first = store.ids.reserve(obj.key_prefix, count)
        for start in range(first, first + count, _CHUNK):
            size = min(_CHUNK, first + count - start)
            batch = [tuple(row.get(c) for c in columns) for row in rows(start, size)]
            conn.exec_driver_sql(statement, batch)


def seed(
    store: SalesforceStore, *, contacts: int = 0, accounts: int = 0, subscriptions: int = 0
) -> None:
    """Add generated Accounts, Contacts (70 % linked to an Account) and Subscriptions."""
    now = store.clock.now().timestamp()
    schema = store.schema
    account, contact, subscription = (
        schema.get("Account"),
        schema.get("Contact"),
        schema.get("Subscription__c"),
    )
    assert account is not None
    assert contact is not None
    assert subscription is not None
    account_total = store.ids.counters.get("001", 0) + accounts
    contact_total = store.ids.counters.get("003", 0) + contacts
    _load(store, account, accounts, lambda s, n: _accounts(s, n, now))
    _load(store, contact, contacts, lambda s, n: _contacts(s, n, account_total, now))
    _load(store, subscription, subscriptions, lambda s, n: _subscriptions(s, n, contact_total, now))
