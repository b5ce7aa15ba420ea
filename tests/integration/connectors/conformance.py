"""The behaviour every CRM connector must show, whichever CRM it talks to.

:class:`ConnectorConformance` holds the tests; a test module subclasses it once per connector and
provides a ``crm`` fixture (a :class:`CrmUnderTest`) that says which tables and fields to use and
how to reach the emulator's fault injection. Everything goes through the
:class:`~crmsync.connectors.base.Connector` protocol, over real HTTPS.
"""

from __future__ import annotations

import ssl
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from crmsync.connectors.base import ChangePage, Connector, CrmType, Record, WriteOp

T = TypeVar("T")


@dataclass(frozen=True)
class CrmUnderTest:
    """One connector against its emulator, and the names the shared tests use."""

    name: str
    #: A fresh connector (an async context manager) on the emulator; ``transport=`` optional.
    connect: Callable[..., Any]
    #: A table with change tracking and at least two pages of seeded records.
    table: str
    #: A text field of ``table`` that creates need, and values that make a create valid.
    text_field: str
    valid: Callable[[str], Mapping[str, Any]]
    #: Values the CRM refuses on create (a missing required field, a bad option…).
    invalid: Mapping[str, Any]
    #: The page size the connector was configured with.
    page_size: int
    #: A table with a one-field alternate (external id) key, that key, and valid values.
    key_table: str
    key_field: str
    key_valid: Callable[[str], Mapping[str, Any]]
    #: Regular expression of the request path a full read of ``table`` sends first.
    read_path: str
    #: Adds a fault through ``POST /_emulator/faults``; faults are cleared after each test.
    fault: Callable[..., Any]
    #: The emulator's CA certificate (for a transport of the test's own).
    ca: Path
    #: Regular expression of the request path of a create of one ``table`` record sent alone.
    create_path: str


class Recorder(httpx.AsyncBaseTransport):
    """A transport that notes each request's method and path, then sends it."""

    def __init__(self, ca: Path) -> None:
        self.inner = httpx.AsyncHTTPTransport(verify=ssl.create_default_context(cafile=str(ca)))
        self.sent: list[tuple[str, str]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append((request.method, request.url.path))
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()

    def writes(self) -> list[str]:
        """The paths of the requests sent that were not reads nor token requests."""
        return [path for method, path in self.sent if method != "GET" and "token" not in path]


async def collect(iterator: AsyncIterator[T]) -> list[T]:
    return [item async for item in iterator]


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


class ConnectorConformance:
    """Shared behavioural tests; subclasses provide the ``crm`` fixture."""

    async def test_describe_a_table(self, crm: CrmUnderTest) -> None:
        async with crm.connect() as connector:
            assert isinstance(connector, Connector)
            assert crm.table in await connector.list_tables()
            info = await connector.describe(crm.table)
            assert info.name == crm.table
            assert info.fields[info.primary_key].type is CrmType.UNIQUEIDENTIFIER
            assert info.fields[crm.text_field].type in (CrmType.STRING, CrmType.MEMO)
            assert info.change_tracking is True
            assert info.version_field in info.fields
            keyed = await connector.describe(crm.key_table)
            assert (crm.key_field,) in keyed.alternate_keys

    async def test_read_all_in_pages(self, crm: CrmUnderTest) -> None:
        async with crm.connect() as connector:
            pages = await collect(connector.read_all(crm.table, [crm.text_field]))
            records: list[Record] = [r for page in pages for r in page]
            assert len(pages) >= 2
            assert all(len(page) <= crm.page_size for page in pages)
            assert len({r.id for r in records}) == len(records)
            assert all(crm.text_field in r.values for r in records)
            assert all(r.version is not None for r in records)

    async def test_snapshot_then_deltas_of_the_connectors_own_writes(
        self, crm: CrmUnderTest
    ) -> None:
        async with crm.connect() as connector:
            snapshot: list[ChangePage] = await collect(
                connector.track_changes(crm.table, [crm.text_field], None)
            )
            assert all(p.snapshot for p in snapshot)
            assert [p.cursor is not None for p in snapshot][-1] is True
            assert all(p.cursor is None for p in snapshot[:-1])
            known = [r.id for p in snapshot for r in p.records]
            assert len(known) == len(set(known))
            created_name, changed_name = _unique("Created"), _unique("Changed")
            results = await connector.write(
                [
                    WriteOp("create", crm.table, crm.valid(created_name)),
                    WriteOp("update", crm.table, {crm.text_field: changed_name}, id=known[0]),
                    WriteOp("delete", crm.table, id=known[1]),
                ]
            )
            assert [r.ok for r in results] == [True, True, True], results
            new_id = results[0].id
            assert new_id
            delta: list[ChangePage] = await collect(
                connector.track_changes(crm.table, [crm.text_field], snapshot[-1].cursor)
            )
            assert not any(p.snapshot for p in delta)
            assert delta[-1].cursor
            changed = {r.id: r.values[crm.text_field] for p in delta for r in p.records}
            assert changed == {new_id: created_name, known[0]: changed_name}
            assert [d.id for p in delta for d in p.deletions] == [known[1]]
            quiet: list[ChangePage] = await collect(
                connector.track_changes(crm.table, [crm.text_field], delta[-1].cursor)
            )
            assert sum(len(p.records) + len(p.deletions) for p in quiet) == 0
            assert quiet[-1].cursor

    async def test_upsert_by_alternate_key(self, crm: CrmUnderTest) -> None:
        key = {crm.key_field: _unique("K")}
        async with crm.connect() as connector:
            first = await connector.write(
                [WriteOp("upsert", crm.key_table, crm.key_valid("First"), key=key)]
            )
            assert first[0].ok, first
            assert first[0].id
            assert first[0].created in (True, None)
            again = await connector.write(
                [WriteOp("upsert", crm.key_table, crm.key_valid("Second"), key=key)]
            )
            assert again[0].ok, again
            assert again[0].id == first[0].id
            assert again[0].created in (False, None)

    async def test_rejects_carry_code_and_message(self, crm: CrmUnderTest) -> None:
        async with crm.connect() as connector:
            results = await connector.write(
                [
                    WriteOp("create", crm.table, crm.valid(_unique("Good")), ref="a"),
                    WriteOp("create", crm.table, crm.invalid, ref="b"),
                    WriteOp("create", crm.table, crm.valid(_unique("Good")), ref="c"),
                ]
            )
        assert [(r.ref, r.ok) for r in results] == [("a", True), ("b", False), ("c", True)]
        assert results[1].code
        assert results[1].message

    async def test_a_transient_fault_is_retried(self, crm: CrmUnderTest) -> None:
        async with crm.connect() as connector:
            await connector.describe(crm.table)
            crm.fault(kind="status", status=503, path=crm.read_path, times=2)
            pages = await collect(connector.read_all(crm.table, [crm.text_field]))
            assert sum(len(p) for p in pages) > crm.page_size
            assert connector.counters.retries == 2

    async def test_results_follow_the_order_of_operations(self, crm: CrmUnderTest) -> None:
        async with crm.connect() as connector:
            made = await connector.write(
                [WriteOp("create", crm.table, crm.valid(_unique("Order"))) for _ in range(3)]
            )
            ids = [r.id for r in made]
            assert all(ids)
            ops = [
                WriteOp("update", crm.table, {crm.text_field: "U1"}, id=ids[0], ref="1"),
                WriteOp("create", crm.table, crm.valid(_unique("Order")), ref="2"),
                WriteOp("delete", crm.table, id=ids[1], ref="3"),
                WriteOp("create", crm.table, crm.invalid, ref="4"),
                WriteOp("update", crm.table, {crm.text_field: "U2"}, id=ids[2], ref="5"),
            ]
            results = await connector.write(ops)
        assert [r.ref for r in results] == ["1", "2", "3", "4", "5"]
        assert [r.ok for r in results] == [True, True, True, False, True]
        assert results[0].id == ids[0]
        assert results[4].id == ids[2]

    @pytest.mark.parametrize("batch", [True, False], ids=["batched", "alone"])
    async def test_batch_false_sends_one_request_per_operation(
        self, crm: CrmUnderTest, batch: bool
    ) -> None:
        recorder = Recorder(crm.ca)
        async with crm.connect(transport=recorder) as connector:
            made = await connector.write(
                [WriteOp("create", crm.table, crm.valid(_unique("Alone"))) for _ in range(2)],
                batch=batch,
            )
            ids = [r.id for r in made]
            assert all(r.ok for r in made), made
            key = {crm.key_field: _unique("K")}
            ops = [
                WriteOp("update", crm.table, {crm.text_field: "Alone"}, id=ids[0], ref="1"),
                WriteOp("create", crm.table, crm.invalid, ref="2"),
                WriteOp("upsert", crm.key_table, crm.key_valid("Alone"), key=key, ref="3"),
                WriteOp("delete", crm.table, id=ids[1], ref="4"),
            ]
            await connector.describe(crm.key_table)
            recorder.sent.clear()
            results = await connector.write(ops, batch=batch)
            again = await connector.write(
                [WriteOp("upsert", crm.key_table, crm.key_valid("Again"), key=key)], batch=batch
            )
        assert [(r.ref, r.ok) for r in results] == [("1", True), ("2", False), ("3", True),
                                                   ("4", True)]  # fmt: skip
        assert results[0].id == ids[0]
        assert results[1].code
        assert results[1].message
        assert results[2].id
        assert results[2].created in (True, None)
        assert again[0].ok, again
        assert again[0].id == results[2].id
        assert again[0].created in (False, None)
        grouped = [p for p in recorder.writes() if "$batch" in p or "/composite/" in p]
        if batch:
            assert grouped
        else:
            assert grouped == []
            assert len(recorder.writes()) == len(ops) + 1

    async def test_a_transient_fault_on_a_write_sent_alone_is_retried(
        self, crm: CrmUnderTest
    ) -> None:
        async with crm.connect() as connector:
            await connector.describe(crm.table)
            crm.fault(kind="status", status=503, path=crm.create_path, times=1)
            results = await connector.write(
                [WriteOp("create", crm.table, crm.valid(_unique("Retried")))], batch=False
            )
            assert results[0].ok, results
            assert connector.counters.retries == 1
