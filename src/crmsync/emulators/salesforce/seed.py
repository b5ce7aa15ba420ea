"""Deterministic, realistic sample data for the emulator.

Names of several nationalities, e-mail addresses derived from them, picklists with a plausible
spread, a few percent of contacts opting out of each channel, audit dates spread over the past two
years (``SystemModstamp`` never before ``LastModifiedDate``). The same counts always give the same
records (one random generator per chunk, seeded from the chunk's first number). Contacts are
generated column by column in chunks and written with ``executemany`` on an INSERT built from the
schema (never from input).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from typing import Any

import sqlalchemy as sa

from crmsync.emulators.common.seeddata import (
    COMPANY_SUFFIXES,
    COMPANY_WORDS,
    FIRST_NAMES,
    JOB_TITLES,
    LAST_NAMES,
    PLACES,
)
from crmsync.emulators.common.sqlite import indexes_built_after
from crmsync.emulators.salesforce.ids import make_id
from crmsync.emulators.salesforce.schema import SObject
from crmsync.emulators.salesforce.store import USER_ID, SalesforceStore

__all__ = ["seed"]

_CHUNK = 20_000
_LANGUAGES = {
    "Germany": "de",
    "France": "fr",
    "Italy": "it",
    "Spain": "es",
    "Japan": "ja",
    "China": "zh",
}
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
    rng = random.Random(f"account-{first}")  # noqa: S311 - sample data, not secrets
    for n in range(first, first + count):
        city, postal, country = rng.choice(PLACES)
        name = f"{rng.choice(COMPANY_WORDS)} {rng.choice(COMPANY_SUFFIXES)} {n}"
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


def _flags(rng: random.Random, count: int, probability: float) -> list[int]:
    return [int(rng.random() < probability) for _ in range(count)]


def _maybe(rng: random.Random, values: list[Any], probability: float) -> list[Any]:
    """``values`` with each one replaced by ``None`` with probability ``1 - probability``."""
    return [v if rng.random() < probability else None for v in values]


_BIRTHDATES = [
    time.strftime("%Y-%m-%d", time.gmtime(day * 86_400))
    for day in range(-10_957, 13_149, 3)  # 1940-01-01 to 2005-12-31, every third day
]
_ASCII_FIRST = {name: _ascii(name) for name in FIRST_NAMES}
_ASCII_LAST = {name: _ascii(name) for name in LAST_NAMES}


def _audit_columns(rng: random.Random, count: int, now: float) -> dict[str, list[Any]]:
    created, modified, modstamp = [], [], []
    span = _TWO_YEARS - 86_400
    for _ in range(count):
        born = now - 86_400 - rng.random() * span
        changed = born + rng.random() * (now - born)
        created.append(_stamp(born))
        last = _stamp(changed)
        modified.append(last)
        # A few records were touched by automation after their last user change.
        if rng.random() < 0.05:
            last = _stamp(min(now, changed + rng.random() * 3600))
        modstamp.append(last)
    return {
        "CreatedDate": created,
        "LastModifiedDate": modified,
        "SystemModstamp": modstamp,
        "IsDeleted": [0] * count,
        "OwnerId": [USER_ID] * count,
        "CreatedById": [USER_ID] * count,
        "LastModifiedById": [USER_ID] * count,
    }


def _contacts(first: int, count: int, accounts: list[str], now: float) -> dict[str, list[Any]]:
    """``count`` contacts, column by column (much faster than record by record)."""
    rng = random.Random(f"contact-{first}")  # noqa: S311 - sample data, not secrets
    numbers = range(first, first + count)
    firsts = rng.choices(FIRST_NAMES, k=count)
    lasts = rng.choices(LAST_NAMES, k=count)
    places = rng.choices(PLACES, k=count)
    countries = [place.country for place in places]
    emails = [
        f"{_ASCII_FIRST[f]}.{_ASCII_LAST[la]}.{n}@example.com"
        for f, la, n in zip(firsts, lasts, numbers, strict=True)
    ]
    # int(random() * n) rather than randrange(n): a third of the generation's time otherwise.
    random_ = rng.random
    phones = [f"+{1 + int(random_() * 98)} {10**8 + int(random_() * 9e8)}" for _ in numbers]
    mobiles = [f"+{1 + int(random_() * 98)} {10**9 + int(random_() * 9e9)}" for _ in numbers]
    linked = rng.choices(accounts, k=count) if accounts else [None] * count
    return {
        "Id": [make_id("003", n) for n in numbers],
        "AccountId": _maybe(rng, linked, 0.7),
        "Salutation": rng.choices(_SALUTATIONS, k=count),
        "FirstName": firsts,
        "LastName": lasts,
        "Name": [f"{f} {la}" for f, la in zip(firsts, lasts, strict=True)],
        "Email": _maybe(rng, emails, 0.92),
        "Phone": _maybe(rng, phones, 0.5),
        "MobilePhone": _maybe(rng, mobiles, 0.6),
        "Birthdate": _maybe(rng, rng.choices(_BIRTHDATES, k=count), 0.6),
        "Title": rng.choices(JOB_TITLES, k=count),
        "Department": rng.choices(_DEPARTMENTS, k=count),
        "LeadSource": rng.choices(_LEAD_SOURCES, k=count),
        "Preferred_Language__c": [_LANGUAGES.get(c, "en") for c in countries],
        "HasOptedOutOfEmail": _flags(rng, count, 0.05),
        "HasOptedOutOfFax": _flags(rng, count, 0.03),
        "DoNotCall": _flags(rng, count, 0.04),
        "MailingStreet": [
            f"{1 + int(random_() * 299)} {street} Street"
            for street in rng.choices(LAST_NAMES, k=count)
        ],
        "MailingCity": [place.city for place in places],
        "MailingPostalCode": [place.postcode for place in places],
        "MailingCountry": countries,
        "Loyalty_Points__c": _maybe(rng, [float(int(random_() * 10_000)) for _ in numbers], 0.3),
        "Customer_Number__c": [f"C{n:08d}" for n in numbers],
        **_audit_columns(rng, count, now),
    }


def _as_columns(rows: Iterator[dict[str, Any]]) -> dict[str, list[Any]]:
    columns: dict[str, list[Any]] = {}
    for row in rows:
        for name, value in row.items():
            columns.setdefault(name, []).append(value)
    return columns


def _subscriptions(first: int, count: int, contacts: int, now: float) -> Iterator[dict[str, Any]]:
    rng = random.Random(f"subscription-{first}")  # noqa: S311 - sample data, not secrets
    for n in range(first, first + count):
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
    columns_of: Callable[[int, int], dict[str, list[Any]]],
) -> None:
    if count <= 0:
        return
    table = store.table(obj)
    names = [f.name for f in obj.fields]
    # One INSERT built from the schema's column names (never from input), run with executemany:
    # the DB-API's fast path, which SQLAlchemy's per-row parameter handling would slow down.
    statement = str(sa.insert(table).compile(dialect=store.engine.dialect, column_keys=names))
    # One transaction (nested ones join it): a seed is added whole or not at all.
    with store.transaction() as conn, indexes_built_after(store.transaction, [table]):
        first = store.ids.reserve(obj.key_prefix, count)
        for start in range(first, first + count, _CHUNK):
            size = min(_CHUNK, first + count - start)
            columns = columns_of(start, size)
            empty = [None] * size
            rows = list(zip(*(columns.get(n, empty) for n in names), strict=True))
            conn.exec_driver_sql(statement, rows)


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
    account_ids = [make_id("001", n) for n in range(1, account_total + 1)]
    _load(store, account, accounts, lambda s, n: _as_columns(_accounts(s, n, now)))
    _load(store, contact, contacts, lambda s, n: _contacts(s, n, account_ids, now))
    _load(
        store,
        subscription,
        subscriptions,
        lambda s, n: _as_columns(_subscriptions(s, n, contact_total, now)),
    )
