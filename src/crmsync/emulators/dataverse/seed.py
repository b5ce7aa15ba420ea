"""Deterministic, realistic sample data for the emulator.

Names come from built-in lists of several nationalities, e-mail addresses are derived from them,
picklists follow a plausible spread, a few percent of contacts opt out of each channel, and the
audit dates spread over the past two years while the row versions still increase in creation
order. Rows are generated in chunks and written with ``executemany`` on statements built from the
schema (never from input); the indexes of tables that were empty are built once at the end. Memory
stays bounded whatever the count: a chunk of rows, the account ids and one byte per contact.

With ``render`` (the default) each row's JSON text and formatted values are stored as they are
by a write through the API; without, rows are stored compact (a fifth of the size) and reads
render them (see :mod:`.rowjson`): what a data file of millions of contacts is seeded with.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from datetime import UTC, timedelta
from typing import Any

import sqlalchemy as sa

from crmsync.emulators.common.seeddata import (
    COMPANY_SUFFIXES,
    COMPANY_WORDS,
    EMAIL_DOMAINS,
    FIRST_NAMES,
    JOB_TITLES,
    LAST_NAMES,
    PLACES,
    STREETS,
)
from crmsync.emulators.common.sqlite import indexes_built_after
from crmsync.emulators.dataverse.schema import Table
from crmsync.emulators.dataverse.store import DataverseStore, lookup_type_column

__all__ = ["seed"]

_CHUNK = 20_000


def _guid(rng: random.Random, version: int) -> str:
    """A sequential GUID: it starts with the row version, so bulk inserts append to the index.

    Dataverse also hands out sequential GUIDs; random ones would make every insert of a large
    seed land on a random page of the primary-key B-tree.
    """
    text = f"{version:012x}{rng.getrandbits(80):020x}"
    return f"{text[:8]}-{text[8:12]}-4{text[13:16]}-{text[16:20]}-{text[20:]}"


def _insert(
    store: DataverseStore,
    table: Table,
    columns: Sequence[str],
    rows: list[tuple[Any, ...]],
    render: bool,
) -> None:
    sa_table = store.sa_table(table)
    placeholders = ", ".join("?" for _ in columns)
    names = ", ".join(f'"{name}"' for name in columns)
    # Column names come from the schema; values are bound. The driver's executemany on
    # positional tuples is several times faster than going through dicts.
    statement = f'INSERT INTO "{table.logical_name}" ({names}) VALUES ({placeholders})'  # noqa: S608
    with store.transaction() as conn:
        conn.exec_driver_sql(statement, rows)
        if render:
            # Only this chunk (versions are increasing): a full-table scan per chunk is O(n²).
            first_version = rows[0][columns.index("versionnumber")]
            store.refresh_json(conn, table, sa_table.c.versionnumber >= first_version)


def _timestamps(
    rng: random.Random, now: Any, first_version: int, count: int
) -> Iterator[tuple[str, str, int]]:
    """(createdon, modifiedon, version) with creation times increasing over two years."""
    span = 730 * 86400
    start = now - timedelta(seconds=span)
    step = span / max(count, 1)
    start = start.astimezone(UTC).replace(tzinfo=None, microsecond=0)
    random_ = rng.random
    for index in range(count):
        offset = index * step
        created = start + timedelta(seconds=int(offset))
        modified = start + timedelta(seconds=int(offset + random_() * (span - offset) * 0.3))
        # isoformat() of a naive, whole-second datetime is several times faster than strftime.
        yield f"{created.isoformat()}Z", f"{modified.isoformat()}Z", first_version + index


def _accounts(store: DataverseStore, rng: random.Random, count: int, render: bool) -> list[str]:
    table = store.schema.by_logical_name["account"]
    columns = [
        "accountid",
        "name",
        "accountnumber",
        "emailaddress1",
        "telephone1",
        "address1_city",
        "address1_country",
        "revenue",
        "numberofemployees",
        "industrycode",
        "createdon",
        "modifiedon",
        "versionnumber",
        "statecode",
        "statuscode",
    ]
    ids: list[str] = []
    first = store.reserve_versions(count)
    rows = []
    stamps = _timestamps(rng, store.clock.now(), first, count)
    for index in range(count):
        created, modified, version = next(stamps)
        word = rng.choice(COMPANY_WORDS)
        name = f"{word} {rng.choice(COMPANY_SUFFIXES)} {index + 1}"
        city, _, country = rng.choice(PLACES)
        record_id = _guid(rng, version)
        ids.append(record_id)
        rows.append(
            (
                record_id,
                name,
                f"ACC-{version:08d}",
                f"info@{word.lower().replace(chr(39), '')}{index + 1}.example.com",
                f"+1 425 555 {rng.randrange(10000):04d}",
                city,
                country,
                round(rng.lognormvariate(13, 1.5), 2),
                rng.randrange(1, 5000),
                rng.randint(1, 10),
                created,
                modified,
                version,
                0,
                1,
            )
        )
        if len(rows) >= _CHUNK:
            _insert(store, table, columns, rows, render)
            rows = []
    if rows:
        _insert(store, table, columns, rows, render)
    return ids


def _contacts(
    store: DataverseStore, rng: random.Random, count: int, accounts: list[str], render: bool
) -> int:
    """Add ``count`` contacts; returns the version of the first (theirs are consecutive)."""
    table = store.schema.by_logical_name["contact"]
    lookup_target = lookup_type_column("parentcustomerid")
    columns = (
        "contactid firstname lastname fullname emailaddress1 emailaddress2 telephone1 mobilephone "
        "jobtitle birthdate gendercode preferredcontactmethodcode donotemail donotphone "
        "donotbulkemail donotpostalmail donotfax creditlimit numberofchildren address1_line1 "
        f"address1_city address1_postalcode address1_country parentcustomerid {lookup_target} "
        "createdon modifiedon versionnumber statecode statuscode crmsync_externalid"
    ).split()
    first = store.reserve_versions(count)
    stamps = _timestamps(rng, store.clock.now(), first, count)
    rows = []
    random_ = rng.random

    def choice(items: Sequence[Any]) -> Any:  # rng.choice, without its per-call overhead
        return items[int(random_() * len(items))]

    def randint(low: int, high: int) -> int:
        return low + int(random_() * (high - low + 1))

    for index in range(count):
        created, modified, version = next(stamps)
        first_name, last_name = choice(FIRST_NAMES), choice(LAST_NAMES)
        local = f"{first_name}.{last_name}".lower().replace("'", "").replace(" ", "")
        city, postcode, country = choice(PLACES)
        record_id = _guid(rng, version)
        account = choice(accounts) if accounts and random_() < 0.7 else None
        rows.append(
            (
                record_id,
                first_name,
                last_name,
                f"{first_name} {last_name}",
                f"{local}{index}@{choice(EMAIL_DOMAINS)}",
                f"{local}{index}@work.example.org" if random_() < 0.2 else None,
                f"+1 206 555 {randint(0, 9999):04d}",
                f"+1 425 555 {randint(0, 9999):04d}" if random_() < 0.6 else None,
                choice(JOB_TITLES),
                f"{randint(1945, 2006)}-{randint(1, 12):02d}-{randint(1, 28):02d}",
                1 if random_() < 0.48 else 2,
                1 if random_() < 0.5 else randint(2, 5),
                int(random_() < 0.08),
                int(random_() < 0.06),
                int(random_() < 0.1),
                int(random_() < 0.05),
                int(random_() < 0.07),
                round(random_() * 50_000, 2) if random_() < 0.5 else None,
                randint(0, 4),
                f"{randint(1, 400)} {choice(STREETS)}",
                city,
                postcode,
                country,
                account,
                "account" if account else None,
                created,
                modified,
                version,
                0,
                1,
                # A quarter carry another system's id (the alternate key): unique as versions are.
                f"EXT-{version:09d}" if version % 4 == 0 else None,
            )
        )
        if len(rows) >= _CHUNK:
            _insert(store, table, columns, rows, render)
            rows = []
    if rows:
        _insert(store, table, columns, rows, render)
    return first


def _contact_ids(store: DataverseStore, first: int, count: int) -> Iterator[str]:
    """The ids of the contacts of versions ``first`` … ``first + count - 1``, in version order,
    read back a chunk at a time."""
    contact = store.sa_table(store.schema.by_logical_name["contact"])
    version = contact.c.versionnumber
    for start in range(first, first + count, _CHUNK):
        end = min(start + _CHUNK, first + count)
        query = (
            sa.select(contact.c.contactid).where(version >= start, version < end).order_by(version)
        )
        with store.reading() as conn:
            ids = conn.execute(query).scalars().all()
        yield from ids  # outside the read: the caller writes between chunks


def _subscriptions(
    store: DataverseStore, rng: random.Random, first_contact: int, contacts: int, render: bool
) -> None:
    """A subscription for about 30 % of the contacts of versions from ``first_contact``."""
    table = store.schema.by_logical_name["crmsync_subscription"]
    lookup_target = lookup_type_column("crmsync_contactid")
    columns = (
        "crmsync_subscriptionid crmsync_name crmsync_contactid "
        f"{lookup_target} crmsync_plan crmsync_startdate crmsync_active crmsync_externalkey "
        "createdon modifiedon versionnumber statecode statuscode"
    ).split()
    # One byte per contact says whether it has one: the count must be known before the
    # versions and dates are handed out.
    picked = bytearray(rng.random() < 0.3 for _ in range(contacts))
    total = picked.count(1)
    first = store.reserve_versions(total)
    stamps = _timestamps(rng, store.clock.now(), first, total)
    chosen = (
        c for c, p in zip(_contact_ids(store, first_contact, contacts), picked, strict=True) if p
    )
    rows = []
    for index, contact in enumerate(chosen):
        created, modified, version = next(stamps)
        plan = rng.choices((100000000, 100000001, 100000002), weights=(6, 3, 1))[0]
        rows.append(
            (
                _guid(rng, version),
                f"Subscription {index + 1}",
                contact,
                "contact",
                plan,
                created[:10],
                int(rng.random() < 0.85),
                f"SUB-{version:08d}",
                created,
                modified,
                version,
                0,
                1,
            )
        )
        if len(rows) >= _CHUNK:
            _insert(store, table, columns, rows, render)
            rows = []
    if rows:
        _insert(store, table, columns, rows, render)


def seed(
    store: DataverseStore,
    *,
    contacts: int,
    accounts: int,
    random_seed: int = 7,
    render: bool = True,
) -> None:
    """Add ``accounts`` accounts, ``contacts`` contacts and some subscriptions to ``store``
    (``render``: store each row's JSON text, see the module docstring)."""
    # Seeding a store that already holds rows continues with fresh ids (the version moved on).
    rng = random.Random(random_seed * 1_000_003 + store.current_version)  # noqa: S311
    tables = [
        store.sa_table(store.schema.by_logical_name[name])
        for name in ("account", "contact", "crmsync_subscription")
    ]
    # The version indexes stay: each chunk's rendering and the subscriptions' reading of the
    # contact ids select by version.
    versions = {f"ix_{table.name}_version" for table in tables}
    with indexes_built_after(store.transaction, tables, keep=versions):
        account_ids = _accounts(store, rng, accounts, render)
        first_contact = _contacts(store, rng, contacts, account_ids, render)
        _subscriptions(store, rng, first_contact, contacts, render)
