"""Writing records through sObject Collections: create, update, upsert and delete, ≤ 200 a call.

Consecutive operations of the same kind on the same object (and, for upserts, the same external id
field) share a call; calls go out one after another, so operations apply in the order given.
Every call says ``allOrNone: false``: a refused record never rolls back nor stops the others, and
each operation gets its own :class:`WriteResult`, in order, with Salesforce's error symbol
(``statusCode``, e.g. ``REQUIRED_FIELD_MISSING``) as ``code``.

A call that fails as a whole with a transient error is sent again by the client, except a create
whose answer was lost: it may have happened, and Salesforce chose the ids. The records that call
created are looked up instead (:mod:`~crmsync.connectors.salesforce.created`): those found answer
with their id, the others are sent again, and those that cannot be told apart from records created
by someone else fail with :data:`IN_DOUBT`. Upserts by an external id field are exact without
that. Records that fail alone with ``UNABLE_TO_LOCK_ROW`` (another transaction held the row) are
sent again, alone.

With ``batch=False`` every operation goes alone to the sObject Rows resource instead (``POST
sobjects/{Object}``, ``PATCH``/``DELETE sobjects/{Object}/{id}``, ``PATCH
sobjects/{Object}/{ExternalIdField}/{value}``), one request each, with the same results, retries
and refusals.

A conditional update (``WriteOp.if_version``: the ``LastModifiedDate`` read) always goes alone
to the sObject Rows resource, ``PATCH sobjects/{Object}/{id}`` with ``If-Unmodified-Since``
(collections take no preconditions); Salesforce answers 412 when the record was modified since,
which becomes the code :data:`~crmsync.connectors.base.PRECONDITION_FAILED`. HTTP dates have
whole seconds: a change within the same second as the one read is not seen by the precondition.

Lookups are written as record ids (``AccountId: "001…"``); ``{"table": …, "id": …}`` is accepted
too, for symmetry with the Dataverse connector.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any
from urllib.parse import quote

from crmsync.connectors.base import (
    PRECONDITION_FAILED,
    CrmType,
    InvalidOperation,
    TableInfo,
    WriteKind,
    WriteOp,
    WriteResult,
)
from crmsync.connectors.salesforce.client import SalesforceClient
from crmsync.connectors.salesforce.created import CreatedRecords
from crmsync.connectors.salesforce.errors import errors_from_json
from crmsync.connectors.salesforce.metadata import SalesforceMetadata
from crmsync.connectors.salesforce.soql import check_name
from crmsync.errors import ProtocolError, RejectError, TransientError

__all__ = ["INVALID_OPERATION", "IN_DOUBT", "SalesforceWriter"]

#: ``WriteResult.code`` of an operation refused before sending (unknown field, bad key…).
INVALID_OPERATION = "INVALID_OPERATION"
#: ``WriteResult.code`` of a create whose answer was lost and whose record cannot be told apart
#: from records with the same values created by someone else meanwhile.
IN_DOUBT = "IN_DOUBT"
_IN_DOUBT_MESSAGE = (
    "the answer to this create was lost, and more records with its values were created since "
    "than were sent: whether one of them is this record cannot be told; check by hand, and "
    "upsert by an external id field to make such writes exact"
)
#: How long the ids of answered creates are remembered (to tell them from a lost call's).
_REMEMBERED = timedelta(seconds=30)
_RETRY_ALONE = frozenset({"UNABLE_TO_LOCK_ROW"})


@dataclass(frozen=True, slots=True)
class _Prepared:
    index: int
    op: WriteOp
    #: What the call groups by: kind, object, external id field (upserts).
    group: tuple[WriteKind, str, str | None]
    #: The record to send (``None`` for deletes) and the id it addresses.
    record: dict[str, Any] | None
    record_id: str | None
    #: ``If-Unmodified-Since`` of a conditional update (sent alone), else ``None``.
    unmodified_since: str | None = None
    #: Sent alone to the sObject Rows resource (a conditional update, or ``batch=False``).
    alone: bool = False


class SalesforceWriter:
    """Collection writes over one :class:`SalesforceClient`."""

    def __init__(
        self,
        client: SalesforceClient,
        metadata: SalesforceMetadata,
        created: CreatedRecords,
        *,
        collection_size: int,
        max_retries: int,
    ) -> None:
        self._client = client
        self._metadata = metadata
        self._created = created
        self._size = collection_size
        self._max_retries = max_retries
        #: ``(answered at, id)`` of recent creates, the org's clock, oldest first.
        self._recent: deque[tuple[datetime, str]] = deque()

    async def write(self, ops: Sequence[WriteOp], *, batch: bool = True) -> list[WriteResult]:
        """Apply ``ops``; one result per operation, in order. Rejects never stop the others.

        ``batch=False``: one sObject Rows request per operation, no collection calls."""
        results: list[WriteResult | None] = [None] * len(ops)
        tables = {op.table: await self._metadata.describe(op.table) for op in ops}
        calls: list[list[_Prepared]] = []
        for index, op in enumerate(ops):
            try:
                item = _prepare(index, op, tables[op.table])
            except InvalidOperation as exc:
                results[index] = WriteResult(
                    ok=False, ref=op.ref, id=op.id, code=INVALID_OPERATION, message=str(exc)
                )
                continue
            if not batch:
                item = replace(item, alone=True)
            if (
                calls
                and not item.alone
                and not calls[-1][0].alone
                and calls[-1][0].group == item.group
                and len(calls[-1]) < self._size
            ):
                calls[-1].append(item)
            else:
                calls.append([item])
        for call in calls:
            await self._send(call, results)
        done = [r for r in results if r is not None]
        if len(done) != len(ops):
            raise ProtocolError(f"{len(ops) - len(done)} operations got no result")
        return done

    async def _send(self, call: list[_Prepared], results: list[WriteResult | None]) -> None:
        pending = call
        attempt = 0
        while pending:
            answers = await self._call(pending)
            again = []
            for item, answer in zip(pending, answers, strict=True):
                result = _result(item, answer)
                if not result.ok and result.code in _RETRY_ALONE and attempt < self._max_retries:
                    again.append(item)
                else:
                    results[item.index] = result
            pending = again
            if pending:
                attempt += 1
                await self._client.wait_before_retry(attempt)

    async def _call(self, call: list[_Prepared]) -> list[Any]:
        """One collection call; its per-record answers (a whole-call refusal answers for all)."""
        kind, table, key_field = call[0].group
        if kind == "create":
            return await self._create(call)
        try:
            if call[0].alone:
                return [await self._alone(call[0])]
            if kind == "delete":
                answer = await self._client.send_json(
                    "DELETE",
                    "composite/sobjects",
                    params={
                        "ids": ",".join(str(item.record_id) for item in call),
                        "allOrNone": "false",
                    },
                    table=table,
                )
            else:
                method, path = {
                    "update": ("PATCH", "composite/sobjects"),
                    "upsert": ("PATCH", f"composite/sobjects/{table}/{key_field}"),
                }[kind]
                body = {"allOrNone": False, "records": [item.record for item in call]}
                answer = await self._client.send_json(method, path, body, table=table)
        except RejectError as exc:
            return [_refusal(exc)] * len(call)
        return _answers(answer, call)

    async def _create(self, call: list[_Prepared]) -> list[Any]:
        """One create collection; when its answer is lost, the records it created are looked up
        and the others sent again (at most ``max_retries`` times)."""
        table = call[0].group[1]
        answers: dict[int, Any] = {}
        pending, attempt = call, 0
        while pending:
            sent_at = self._client.server_now()
            try:
                answer = await self._send_create(table, pending)
            except RejectError as exc:
                answers.update((item.index, _refusal(exc)) for item in pending)
                break
            except TransientError as exc:
                if exc.status is not None or attempt >= self._max_retries:
                    raise
                attempt += 1
                values = [
                    {k: v for k, v in (i.record or {}).items() if k != "attributes"}
                    for i in pending
                ]
                settled = await self._created.settle(table, values, sent_at, self._known)
                found = {
                    pending[p].index: {"success": True, "id": i} for p, i in settled.created.items()
                }
                self._remember(list(found.values()))
                answers.update(found)
                for position in settled.doubtful:
                    answers[pending[position].index] = {
                        "success": False,
                        "errors": [{"statusCode": IN_DOUBT, "message": _IN_DOUBT_MESSAGE}],
                    }
                pending = [pending[position] for position in settled.again]
                continue
            results = _answers(answer, pending)
            self._remember(results)
            answers.update(zip((item.index for item in pending), results, strict=True))
            pending = []
        return [answers[item.index] for item in call]

    async def _send_create(self, table: str, pending: list[_Prepared]) -> Any:
        """One create call, never sent again when its answer is lost: a collection, or
        (``batch=False``) the sObject Rows resource, whose answer has a collection's shape."""
        if pending[0].alone:
            (item,) = pending
            body = {k: v for k, v in (item.record or {}).items() if k not in ("attributes", "Id")}
            rows = f"sobjects/{check_name(table, 'object')}"
            return [
                await self._client.send_json(
                    "POST", rows, body, table=table, retry_unanswered=False
                )
            ]
        body = {"allOrNone": False, "records": [item.record for item in pending]}
        return await self._client.send_json(
            "POST", "composite/sobjects", body, table=table, retry_unanswered=False
        )

    def _remember(self, answers: Sequence[Any]) -> None:
        now = self._client.server_now()
        while self._recent and self._recent[0][0] < now - _REMEMBERED:
            self._recent.popleft()
        for answer in answers:
            if isinstance(answer, Mapping) and isinstance(answer.get("id"), str):
                self._recent.append((now, answer["id"]))

    def _known(self, ids: set[str]) -> set[str]:
        """Those of ``ids`` this writer created recently: not the lost call's."""
        return ids & {record_id for _, record_id in self._recent}

    async def _alone(self, item: _Prepared) -> Any:
        """One operation through sObject Rows; its answer in a collection result's shape."""
        kind, table, key_field = item.group
        rows = f"sobjects/{check_name(table, 'object')}"
        body = {k: v for k, v in (item.record or {}).items() if k not in ("attributes", "Id")}
        done: dict[str, Any] = {"success": True, "id": item.record_id, "errors": []}
        if kind == "upsert":
            assert key_field is not None
            value = quote(str(body.pop(key_field, item.record_id)), safe="")
            answer = await self._client.send_json(
                "PATCH", f"{rows}/{key_field}/{value}", body, table=table
            )
            return answer if answer is not None else done  # 204: an update (API < 46)
        address = f"{rows}/{item.record_id}"
        if kind == "delete":
            await self._client.send_json("DELETE", address, table=table, record_id=item.record_id)
            return done
        # An update; a conditional one is refused (412) if the record changed since it was read.
        since = item.unmodified_since
        await self._client.send_json(
            "PATCH",
            address,
            body,
            table=table,
            record_id=item.record_id,
            headers={"If-Unmodified-Since": since} if since is not None else None,
        )
        return done


def _refusal(exc: RejectError) -> dict[str, Any]:
    """The per-record answer of a call refused as a whole."""
    code = PRECONDITION_FAILED if exc.status == 412 else exc.code
    return {
        "success": False,
        "errors": [{"statusCode": code, "message": exc.message}],
        "status": exc.status,
    }


def _answers(answer: Any, call: list[_Prepared]) -> list[Any]:
    """A collection's per-record answers, one per record sent."""
    if not isinstance(answer, list) or len(answer) != len(call):
        kind, table, _ = call[0].group
        got = len(answer) if isinstance(answer, list) else type(answer).__name__
        raise ProtocolError(
            f"a collection {kind} of {len(call)} {table} records answered {got} results"
        )
    return answer


def _prepare(index: int, op: WriteOp, info: TableInfo) -> _Prepared:
    table = info.name
    if op.if_version is not None and op.kind != "update":
        raise InvalidOperation(f"only updates can be conditional, not {op.kind}")
    if op.kind == "delete":
        if op.key or not op.id:
            raise InvalidOperation("delete needs the record id (Salesforce deletes by Id only)")
        return _Prepared(index, op, ("delete", table, None), None, _id(op.id))
    record: dict[str, Any] = {"attributes": {"type": table}}
    record.update(_values(info, op.values))
    if op.kind == "create":
        if op.id or op.key:
            raise InvalidOperation(
                "Salesforce chooses record ids on create: upsert by an external id instead"
            )
        return _Prepared(index, op, ("create", table, None), record, None)
    if op.kind == "update":
        if op.key or not op.id:
            raise InvalidOperation("update needs the record id; use upsert to write by key")
        record["Id"] = _id(op.id)
        since = None if op.if_version is None else _http_date(op.if_version)
        return _Prepared(
            index, op, ("update", table, None), record, record["Id"], since, since is not None
        )
    if op.kind == "upsert":
        key_field, value = _key(info, op)
        if key_field in record and record[key_field] != value:
            raise InvalidOperation(f"values give {key_field} another value than the key")
        record[key_field] = value
        return _Prepared(index, op, ("upsert", table, key_field), record, op.id)
    raise InvalidOperation(f"unknown operation kind {op.kind!r}")


def _values(info: TableInfo, values: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in values.items():
        field = info.fields.get(name)
        if field is None or name == "attributes":
            raise InvalidOperation(f"object {info.name!r} has no field {name!r}")
        if field.type is CrmType.LOOKUP and isinstance(value, Mapping):
            target, record_id = value.get("table"), value.get("id")
            if field.lookup_targets and target not in field.lookup_targets:
                raise InvalidOperation(
                    f"lookup {name!r} cannot point to {target!r} (targets: "
                    f"{', '.join(field.lookup_targets)})"
                )
            value = record_id
        out[name] = value
    return out


def _key(info: TableInfo, op: WriteOp) -> tuple[str, Any]:
    if op.key:
        if len(op.key) != 1:
            raise InvalidOperation("Salesforce upserts by one external id field")
        ((name, value),) = op.key.items()
        if (name,) not in info.alternate_keys and name != info.primary_key:
            keys = ", ".join(k[0] for k in info.alternate_keys) or "none"
            raise InvalidOperation(
                f"{name!r} is not an external id field of {info.name!r} (external ids: {keys})"
            )
        check_name(name, "external id field")
        if value is None or value == "":
            raise InvalidOperation(f"the external id {name!r} is empty")
        return name, value
    if op.id:
        return info.primary_key, _id(op.id)
    raise InvalidOperation(f"upsert on {info.name!r} needs an external id key")


def _http_date(value: Any) -> str:
    """A ``LastModifiedDate`` (text as Salesforce sends it, or ``datetime``) as an RFC 1123 date.

    The fraction of a second is dropped: the record then counts as unmodified since its own
    last-modified second, which is what the precondition compares."""
    when = value
    if isinstance(value, str):
        text = value.strip().replace("Z", "+00:00")
        if len(text) > 5 and text[-5] in "+-" and text[-3] != ":":
            text = text[:-2] + ":" + text[-2:]  # +0000 → +00:00
        try:
            when = datetime.fromisoformat(text)
        except ValueError:
            raise InvalidOperation(f"{value!r} is not a last-modified date") from None
    if not isinstance(when, datetime):
        raise InvalidOperation(f"{value!r} is not a last-modified date")
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return format_datetime(when.astimezone(UTC).replace(microsecond=0), usegmt=True)


def _id(value: Any) -> str:
    text = str(value).strip()
    if len(text) not in (15, 18) or not text.isalnum():
        raise InvalidOperation(f"{value!r} is not a Salesforce record id")
    return text


def _result(item: _Prepared, answer: Any) -> WriteResult:
    op = item.op
    if not isinstance(answer, Mapping):
        raise ProtocolError(f"a collection result is not an object: {answer!r:.200}")
    if answer.get("success") is True:
        record_id = answer.get("id")
        created = {"create": True, "update": False, "delete": None}.get(
            op.kind, answer.get("created")
        )
        return WriteResult(
            ok=True,
            ref=op.ref,
            id=str(record_id) if record_id else item.record_id,
            created=created if isinstance(created, bool) else None,
        )
    errors = answer.get("errors")
    entries = errors_from_json(errors) if isinstance(errors, list) else []
    first = entries[0] if entries else None
    message = first.message if first and first.message else "Salesforce refused the record"
    if first and first.fields:
        message += f" (fields: {', '.join(first.fields)})"
    status = answer.get("status")
    return WriteResult(
        ok=False,
        ref=op.ref,
        id=item.record_id,
        code=first.code if first else None,
        message=message,
        status=status if isinstance(status, int) else None,
    )
