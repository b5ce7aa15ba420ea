"""Salesforce creates left under way by a stopped export, settled on resume against a fake org
that chooses ids and can lose a call's answer: found, sent again, or in doubt."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from crmsync.config import Config
from crmsync.connectors.base import (
    ChangePage,
    CrmType,
    FieldInfo,
    Record,
    TableInfo,
    WriteOp,
    WriteResult,
)
from crmsync.connectors.salesforce.created import MARGIN, Known, Settled, settle_matches
from crmsync.errors import TransientError
from crmsync.jobs import ConnectorPool, JobRunner, JobStore, RunFailed
from crmsync.jobs.store import dumps
from crmsync.store import create_engine_for, publish

INFO = TableInfo(
    "Contact",
    "Contact",
    "Id",
    "LastName",
    True,
    {"Id": FieldInfo("Id", CrmType.LOOKUP), "LastName": FieldInfo("LastName", CrmType.STRING)},
)
START = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
EXPORT = """
name: exp
steps:
  export:
    kind: crm
    operation: export
    connection: c
    object: Contact
    mapping: [{campaign: name, crm: LastName}]
    batch: true
"""


class FakeOrg:
    """Creates records with ids of its own, stamped with its clock. ``lose`` loses the answer of
    the next call: ``"after"`` it wrote the records, ``"before"`` the call reached the org."""

    def __init__(self) -> None:
        self.now = START
        self.records: dict[str, tuple[datetime, dict[str, Any]]] = {}
        self.lose: str | None = None
        self.sent_at: list[datetime] = []

    def server_now(self) -> datetime:
        return self.now

    def create(self, values: Mapping[str, Any]) -> str:
        record_id = f"003{len(self.records):012d}"
        self.records[record_id] = (self.now, dict(values))
        return record_id

    async def settle_creates(
        self, table: str, records: Sequence[Mapping[str, Any]], sent_at: datetime, known: Known
    ) -> Settled:
        self.sent_at.append(sent_at)
        since = sent_at - MARGIN
        found = [
            [i for i, (at, values) in self.records.items() if at >= since and values == record]
            for record in records
        ]
        return settle_matches(found, known({i for ids in found for i in ids}))

    async def write(self, ops: Sequence[WriteOp], *, batch: bool = True) -> list[WriteResult]:
        lose, self.lose = self.lose, None
        if lose == "before":
            raise TransientError("no answer")
        results = [WriteResult(True, id=self.create(op.values), created=True) for op in ops]
        if lose == "after":
            raise TransientError("no answer")
        return results

    def names(self) -> Counter[str]:
        return Counter(values["LastName"] for _, values in self.records.values())

    async def list_tables(self) -> list[str]:
        return ["Contact"]

    async def describe(self, table: str) -> TableInfo:
        return INFO

    async def read_all(
        self, table: str, fields: Sequence[str] | None = None, *, where: str | None = None
    ) -> AsyncIterator[list[Record]]:
        yield []

    async def track_changes(
        self, table: str, fields: Sequence[str] | None, cursor: str | None
    ) -> AsyncIterator[ChangePage]:
        yield ChangePage([], cursor="c")

    async def aclose(self) -> None:
        return None


class NoLookup(FakeOrg):
    """An org connector that cannot look created records up."""

    settle_creates = None  # type: ignore[assignment]


@pytest.fixture
def store(tmp_path: Path) -> JobStore:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'c.db'}")
    publish(engine, [])
    return JobStore(engine)


def _runner(store: JobStore, org: FakeOrg) -> JobRunner:
    pool = ConnectorPool(Config(), connectors={"c": ("salesforce", org)})  # type: ignore[dict-item]
    return JobRunner(store, store.engine, pool, now=lambda: START)


async def _interrupted(store: JobStore, org: FakeOrg, names: list[str], lose: str) -> str:
    """A run of EXPORT over ``names`` whose one call loses its answer; its id."""
    run_id = store.create_run("exp", "<t>", EXPORT, {}, "export")
    with store.engine.begin() as conn:
        rows = dumps([{"name": name} for name in names])
        conn.execute(store.t.steps.update().values(input=rows))
    org.lose = lose
    with pytest.raises(RunFailed):
        await _runner(store, org).resume(run_id)
    return run_id


@pytest.mark.parametrize(
    ("names", "lose", "others", "in_doubt"),
    [
        (["a", "b", "c"], "after", [], []),
        (["a", "b", "c"], "before", [], []),
        (["a", "a", "b"], "after", [], []),  # identical records are interchangeable
        (["a", "a", "b"], "before", [], []),
        (["a", "b"], "after", ["a"], ["a"]),  # two records hold a's values: which is it?
        (["a", "a", "b"], "after", ["a"], ["a", "a"]),
        (["a", "b"], "after", ["c"], []),  # another user's record of other values
    ],
)
async def test_in_flight_creates_are_settled(
    store: JobStore,
    names: list[str],
    lose: str,
    others: list[str],
    in_doubt: list[str],
) -> None:
    org = FakeOrg()
    run_id = await _interrupted(store, org, names, lose)
    for name in others:  # created by the same user after the call was sent
        org.now += timedelta(seconds=1)
        org.create({"LastName": name})
    await _runner(store, org).resume(run_id)
    rejects = store.rejects(run_id)
    assert [(r["errorSymbol"], r["record"]["name"]) for r in rejects] == [
        ("IN_DOUBT", name) for name in in_doubt
    ]
    assert all("external id" in r["errorMessage"] for r in rejects)
    resent = [] if lose == "after" else [n for n in names if n not in in_doubt]
    expected = Counter(names if lose == "after" else []) + Counter(others) + Counter(resent)
    assert org.names() == expected  # nothing sent twice, nothing left out
    assert store.run(run_id).status == "succeeded"  # type: ignore[union-attr]


async def test_the_look_up_starts_from_the_send_time_in_the_orgs_clock(store: JobStore) -> None:
    org = FakeOrg()
    run_id = await _interrupted(store, org, ["a"], "after")
    org.now += timedelta(seconds=30)
    await _runner(store, org).resume(run_id)
    assert org.sent_at == [START]
    assert org.names() == Counter(["a"])
    with store.engine.connect() as conn:  # the send time is forgotten with the journal
        assert conn.execute(sa.select(sa.func.count()).select_from(store.t.sends)).scalar() == 0


async def test_without_a_look_up_the_records_are_in_doubt(store: JobStore) -> None:
    org = NoLookup()
    run_id = await _interrupted(store, org, ["a", "b"], "after")
    await _runner(store, org).resume(run_id)
    rejects = store.rejects(run_id)
    assert [r["errorSymbol"] for r in rejects] == ["IN_DOUBT", "IN_DOUBT"]
    assert "external id" in rejects[0]["errorMessage"]
    assert org.names() == Counter(["a", "b"])  # never sent twice
