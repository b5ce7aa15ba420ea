"""Writing records: create, update, upsert and delete, sent as ``$batch`` requests or alone.

Each batch holds up to ``batch_size`` operations, each outside any change set and sent with
``Prefer: odata.continue-on-error``, so that one refused record never rolls back or stops the
others. Every operation gets a :class:`WriteResult`, in order. A batch that fails as a whole with
a transient error is sent again by the client; operations that fail alone with a transient status
(429, 5xx) are sent again in a smaller batch. Updates and upserts are idempotent; creates are too
when the caller chooses the record id, which is recommended.

With ``batch=False`` each operation is its own request (``POST``/``PATCH``/``DELETE`` on the
entity set or record, the very request a batch would carry), up to ``max_concurrency`` at a time;
the client retries transient failures, a refusal becomes the operation's failed result, and an
operation still failing transiently after the retries gets a failed result with that status, as
in a batch.

Lookups are written as ``"<navigation property>@odata.bind": "/<entity set>(<id>)"``. The
navigation property is the lookup's logical name when it has one target (and for ``ownerid``);
for multi-target lookups (customer columns such as ``parentcustomerid``) it is
``<logical name>_<target table>``, and the caller gives the target as
``{"table": "account", "id": "<guid>"}``. A ``None`` value clears the lookup.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

import orjson

from crmsync.connectors.base import (
    PRECONDITION_FAILED,
    CrmType,
    FieldInfo,
    InvalidOperation,
    TableInfo,
    WriteOp,
    WriteResult,
)
from crmsync.connectors.dataverse.client import DataverseClient
from crmsync.connectors.dataverse.errors import parse_error_body, parse_retry_after
from crmsync.connectors.dataverse.metadata import DataverseMetadata, check_identifier
from crmsync.errors import ConfigurationError, ProtocolError, RejectError, TransientError
from crmsync.odata.batch import BatchRequest, BatchResponse

__all__ = ["INVALID_OPERATION", "DataverseWriter", "entity_id_from_header", "key_segment"]

#: ``WriteResult.code`` of an operation refused before sending (unknown field, bad id…).
INVALID_OPERATION = "InvalidOperation"

_GUID = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_ENTITY_ID = re.compile(r"\(([0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12})\)\s*$")
_RETRYABLE = frozenset({408, 429, 500, 502, 503, 504})
_ENTRY = "application/json; type=entry"
_NUMBER_TYPES = frozenset({CrmType.INTEGER, CrmType.BIGINT, CrmType.PICKLIST})
_DECIMAL_TYPES = frozenset({CrmType.DECIMAL, CrmType.DOUBLE, CrmType.MONEY})
_GUID_TYPES = frozenset({CrmType.UNIQUEIDENTIFIER, CrmType.LOOKUP})


def key_segment(info: TableInfo, key: Mapping[str, Any]) -> str:
    """``name='value',other=2``: an alternate key in OData literal syntax, URL-encoded.

    Names must be fields of the table (and form one of its alternate keys when the metadata
    lists any); strings are quoted with ``'`` doubled, numbers and GUIDs are bare.
    """
    if not key:
        raise InvalidOperation("the alternate key is empty")
    fields = []
    for name in key:
        check = info.fields.get(name) or _by_wire(info).get(name)
        if check is None or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise InvalidOperation(f"table {info.name!r} has no key field {name!r}")
        fields.append(check)
    if info.alternate_keys and {f.name for f in fields} not in [
        set(k) for k in info.alternate_keys
    ]:
        raise InvalidOperation(
            f"({', '.join(key)}) is not an alternate key of {info.name!r}; its keys are "
            + "; ".join("(" + ", ".join(k) + ")" for k in info.alternate_keys)
        )
    return ",".join(
        f"{field.wire_name}={_literal(field, value)}"
        for field, value in zip(fields, key.values(), strict=True)
    )


def entity_id_from_header(value: str | None) -> str | None:
    """The record id at the end of an ``OData-EntityId`` URL (``…/contacts(<guid>)``)."""
    if not value:
        return None
    match = _ENTITY_ID.search(value)
    return match.group(1).lower() if match else None


class DataverseWriter:
    """Batched writes over one :class:`DataverseClient`."""

    def __init__(
        self,
        client: DataverseClient,
        metadata: DataverseMetadata,
        *,
        batch_size: int,
        max_concurrency: int,
        max_retries: int,
    ) -> None:
        self._client = client
        self._metadata = metadata
        self._batch_size = batch_size
        self._semaphore = asyncio.Semaphore(max_concurrency)
        self._max_retries = max_retries

    async def write(self, ops: Sequence[WriteOp], *, batch: bool = True) -> list[WriteResult]:
        """Apply ``ops``; one result per operation, in order. Rejects never stop the others.

        ``batch=False``: one request per operation, no ``$batch``."""
        results: list[WriteResult | None] = [None] * len(ops)
        ready: list[tuple[int, WriteOp, BatchRequest]] = []
        tables = {op.table: await self._metadata.describe(op.table) for op in ops}
        for index, op in enumerate(ops):
            try:
                ready.append((index, op, await self._request(tables[op.table], op)))
            except InvalidOperation as exc:
                results[index] = WriteResult(
                    ok=False, ref=op.ref, id=op.id, code=INVALID_OPERATION, message=str(exc)
                )
        size = self._batch_size if batch else 1
        chunks = [ready[start : start + size] for start in range(0, len(ready), size)]
        try:
            async with asyncio.TaskGroup() as group:
                for chunk in chunks:
                    if batch:
                        group.create_task(self._send(chunk, tables, results))
                    else:
                        group.create_task(self._send_alone(chunk[0], tables, results))
        except ExceptionGroup as errors:
            # Callers expect one error from the crmsync tree, not a group.
            raise errors.exceptions[0] from None
        done = [r for r in results if r is not None]
        if len(done) != len(ops):
            raise ProtocolError(f"{len(ops) - len(done)} operations got no result")
        return done

    async def _send(
        self,
        chunk: list[tuple[int, WriteOp, BatchRequest]],
        tables: Mapping[str, TableInfo],
        results: list[WriteResult | None],
    ) -> None:
        attempt = 0
        pending = chunk
        while pending:
            async with self._semaphore:
                answers = await self._client.batch([request for _, _, request in pending])
            if len(answers) != len(pending) or not all(
                isinstance(a, BatchResponse) for a in answers
            ):
                raise ProtocolError(
                    f"$batch of {len(pending)} operations answered {len(answers)} parts "
                    "(expected one response per operation)"
                )
            again: list[tuple[int, WriteOp, BatchRequest]] = []
            retry_after: float | None = None
            for item, answer in zip(pending, answers, strict=True):
                assert isinstance(answer, BatchResponse)
                if answer.status in _RETRYABLE and attempt < self._max_retries:
                    again.append(item)
                    if answer.status == 429:
                        pause = parse_retry_after(answer.headers.get("retry-after"))
                        retry_after = max(retry_after or 0.0, pause)
                else:
                    index, op, _ = item
                    results[index] = _result(op, answer, tables[op.table])
            pending = again
            if pending:
                attempt += 1
                await self._client.wait_before_retry(attempt, retry_after)

    async def _send_alone(
        self,
        item: tuple[int, WriteOp, BatchRequest],
        tables: Mapping[str, TableInfo],
        results: list[WriteResult | None],
    ) -> None:
        index, op, request = item
        try:
            async with self._semaphore:
                response = await self._client.request(
                    request.method,
                    request.url,
                    headers=request.headers,
                    content=request.body,
                    table=op.table,
                    record_id=op.id,
                    record_operation=True,
                )
        except (RejectError, TransientError) as exc:
            if exc.status is None:
                raise  # no answer at all: as when a whole batch gets none
            code = PRECONDITION_FAILED if exc.status == 412 and op.if_version else exc.code
            results[index] = WriteResult(
                ok=False, ref=op.ref, id=op.id, code=code, message=exc.message, status=exc.status
            )
            return
        answer = BatchResponse(
            status=response.status_code,
            headers={name.lower(): value for name, value in response.headers.items()},
            body=response.content,
        )
        results[index] = _result(op, answer, tables[op.table])

    async def _request(self, info: TableInfo, op: WriteOp) -> BatchRequest:
        if op.if_version is not None and op.kind != "update":
            raise InvalidOperation(f"only updates can be conditional, not {op.kind}")
        root = self._client.service_root
        collection = check_identifier(info.collection, "entity set")
        if op.kind == "create":
            body = await self._body(info, op.values)
            if op.id is not None:
                body[info.primary_key] = _guid(op.id)
            return _json_request("POST", root + collection, body, {})
        path = root + collection + "(" + self._address(info, op) + ")"
        if op.kind == "delete":
            return BatchRequest(method="DELETE", url=path, headers={})
        body = await self._body(info, op.values)
        if op.kind == "update":
            return _json_request("PATCH", path, body, {"If-Match": _if_match(op)})
        if op.kind == "upsert":
            # The representation tells a create (201) from an update (200); only the id is asked.
            return _json_request(
                "PATCH",
                f"{path}?$select={info.primary_key}",
                body,
                {"Prefer": "return=representation"},
            )
        raise InvalidOperation(f"unknown operation kind {op.kind!r}")

    @staticmethod
    def _address(info: TableInfo, op: WriteOp) -> str:
        if op.key:
            return key_segment(info, op.key)
        if op.id:
            return _guid(op.id)
        raise InvalidOperation(f"{op.kind} on {info.name!r} needs an id or an alternate key")

    async def _body(self, info: TableInfo, values: Mapping[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {}
        by_wire = _by_wire(info)
        for name, value in values.items():
            field = info.fields.get(name) or by_wire.get(name)
            if field is None:
                raise InvalidOperation(f"table {info.name!r} has no field {name!r}")
            if field.type is CrmType.LOOKUP:
                navigation, bind = await self._bind(field, value)
                body[f"{navigation}@odata.bind"] = bind
            else:
                body[field.name] = value
        return body

    async def _bind(self, field: FieldInfo, value: Any) -> tuple[str, str | None]:
        targets = field.lookup_targets
        if isinstance(value, Mapping):
            target, record_id = value.get("table"), value.get("id")
            if target not in targets:
                raise InvalidOperation(
                    f"lookup {field.name!r} cannot point to {target!r} (targets: "
                    f"{', '.join(targets) or 'none'})"
                )
        elif len(targets) == 1 or (value is None and targets):
            target, record_id = targets[0], value
        else:
            raise InvalidOperation(
                f"lookup {field.name!r} has targets {', '.join(targets) or 'unknown'}: give "
                "{'table': <target>, 'id': <guid>}"
            )
        navigation = field.name
        if len(targets) > 1 and field.name != "ownerid":
            navigation = f"{field.name}_{target}"
        if record_id is None:
            return navigation, None
        try:
            entity_set = await self._metadata.entity_set(str(target))
        except ConfigurationError as exc:
            raise InvalidOperation(str(exc)) from None
        return navigation, f"/{entity_set}({_guid(record_id)})"


def _result(op: WriteOp, answer: BatchResponse, info: TableInfo) -> WriteResult:
    status = answer.status
    if 200 <= status < 300:
        record_id = entity_id_from_header(answer.headers.get("odata-entityid"))
        if record_id is None and answer.body:
            record_id = _id_from_body(answer.body, info.primary_key)
        created: bool | None = None
        if op.kind == "create":
            created = True
        elif op.kind == "upsert" and status in (200, 201):
            created = status == 201
        elif op.kind == "update":
            created = False
        return WriteResult(
            ok=True, ref=op.ref, id=record_id or op.id, created=created, status=status
        )
    code, message = parse_error_body(answer.body)
    if status == 412 and op.if_version is not None:
        code = PRECONDITION_FAILED
    return WriteResult(
        ok=False,
        ref=op.ref,
        id=op.id,
        code=code,
        message=message or f"Dataverse answered {status}",
        status=status,
    )


def _if_match(op: WriteOp) -> str:
    """``*`` (the record must exist), or the weak ETag of the version read (unchanged since)."""
    if op.if_version is None:
        return "*"
    version = str(op.if_version)
    if not version.isdigit():
        raise InvalidOperation(f"{op.if_version!r} is not a Dataverse row version")
    return f'W/"{version}"'


def _json_request(
    method: str, url: str, body: Mapping[str, Any], headers: dict[str, str]
) -> BatchRequest:
    return BatchRequest(
        method=method,
        url=url,
        headers={"Content-Type": _ENTRY, **headers},
        body=orjson.dumps(body),
    )


def _literal(field: FieldInfo, value: Any) -> str:
    if field.type in _GUID_TYPES:
        return _guid(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if field.type in _NUMBER_TYPES:
        if not isinstance(value, int):
            raise InvalidOperation(f"key field {field.name!r} needs an integer, got {value!r}")
        return str(value)
    if field.type in _DECIMAL_TYPES and isinstance(value, int | float):
        return repr(value)
    if not isinstance(value, str | int | float):
        raise InvalidOperation(f"key field {field.name!r} cannot hold {type(value).__name__}")
    # Quotes are doubled (OData), then everything outside the unreserved set is %-encoded.
    return "'" + quote(str(value).replace("'", "''"), safe="'") + "'"


def _guid(value: Any) -> str:
    text = str(value).strip().strip("{}")
    if not _GUID.match(text):
        raise InvalidOperation(f"{value!r} is not a record id (GUID)")
    return text.lower()


def _id_from_body(body: bytes, primary_key: str) -> str | None:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    value = data.get(primary_key) if isinstance(data, dict) else None
    return value if isinstance(value, str) else None


def _by_wire(info: TableInfo) -> dict[str, FieldInfo]:
    return {f.read_name: f for f in info.fields.values() if f.read_name}
