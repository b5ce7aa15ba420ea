"""Create, update, upsert and delete, with Dataverse's answers and concurrency checks.

- ``POST {set}`` → ``204`` + ``OData-EntityId`` (``201`` + the record with
  ``Prefer: return=representation``).
- ``PATCH {set}(key)``: update when the record exists, create it with that key otherwise (upsert);
  ``If-Match: *`` forbids the create (404), ``If-Match: W/"<version>"`` must match (412),
  ``If-None-Match: *`` forbids the update (412).
- ``DELETE {set}(key)`` → ``204`` or ``404``.

Every write takes a new global version and sets ``modifiedon``; creates also set ``createdon``.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from crmsync.emulators.dataverse.errors import (
    CODE_DUPLICATE,
    CODE_VERSION_MISMATCH,
    WebApiError,
    not_found_record,
)
from crmsync.emulators.dataverse.formatting import parse_include_annotations
from crmsync.emulators.dataverse.paths import Segment
from crmsync.emulators.dataverse.payload import Payload, parse_body, validate_payload
from crmsync.emulators.dataverse.query import parse_options, read_record
from crmsync.emulators.dataverse.schema import Table
from crmsync.emulators.dataverse.store import lookup_type_column

if TYPE_CHECKING:
    from crmsync.emulators.dataverse.webapi import ApiRequest, ApiResponse, WebApi

__all__ = ["create", "delete", "patch"]


def _duplicate(table: Table) -> WebApiError:
    return WebApiError(412, CODE_DUPLICATE, "A record with matching key values already exists.")


def _payload(api: WebApi, request: ApiRequest, table: Table, *, creating: bool) -> Payload:
    body = parse_body(table, request.body)
    return validate_payload(
        api.store.schema.by_entity_set.get,
        table,
        body,
        creating=creating,
        content_ids=request.content_ids,
    )


def _resolve_binds(api: WebApi, conn: Connection, payload: Payload) -> None:
    """Turn ``@odata.bind`` references into lookup values; a missing record → 404."""
    for bind in payload.binds:
        target_table = api.store.sa_table(bind.target)
        condition = api.key_condition(bind.target, bind.segment)
        row = conn.execute(
            sa.select(target_table.c[bind.target.primary_id]).where(condition).limit(1)
        ).first()
        if row is None:
            raise not_found_record(
                bind.target.logical_name, api.describe_key(bind.target, bind.segment)
            )
        payload.values[bind.attribute.logical_name] = row[0]
        payload.values[lookup_type_column(bind.attribute.logical_name)] = bind.target.logical_name


def _names_changed(table: Table, values: dict[str, Any]) -> bool:
    """Whether an update with ``values`` may change the primary name (which records looking
    this one up show in their formatted values)."""
    return table.primary_name in values or any(
        part in values for part in table.computed.get(table.primary_name, ())
    )


def _insert(
    api: WebApi, conn: Connection, table: Table, record_id: str, values: dict[str, Any]
) -> None:
    store = api.store
    now = store.now()
    row = {"statecode": 0, "statuscode": 1, **values}
    row.update(
        {
            table.primary_id: record_id,
            "createdon": now,
            "modifiedon": now,
            "versionnumber": store.next_version(),
        }
    )
    try:
        with conn.begin_nested():
            conn.execute(store.sa_table(table).insert(), row)
    except sa.exc.IntegrityError:
        raise _duplicate(table) from None
    # Records may still look up a deleted record with this id: they show its name again.
    store.refresh_record(conn, table, record_id)


def _update(
    api: WebApi, conn: Connection, table: Table, record_id: str, values: dict[str, Any]
) -> None:
    store = api.store
    sa_table = store.sa_table(table)
    values = {**values, "versionnumber": store.next_version(), "modifiedon": store.now()}
    try:
        with conn.begin_nested():
            conn.execute(
                sa.update(sa_table).where(sa_table.c[table.primary_id] == record_id).values(values)
            )
    except sa.exc.IntegrityError:
        raise _duplicate(table) from None
    store.refresh_record(conn, table, record_id, referrers=_names_changed(table, values))


def _answer(
    api: WebApi, request: ApiRequest, table: Table, record_id: str, created: bool
) -> ApiResponse:
    from crmsync.emulators.dataverse.webapi import ApiResponse, json_response

    entity_id = f"{request.base_url}/{table.entity_set}({record_id})"
    prefer = request.headers.get("prefer", "").lower()
    if "return=representation" not in prefer:
        return ApiResponse(204, {"OData-EntityId": entity_id})
    options = parse_options(table, request.params)
    annotations, _ = parse_include_annotations(request.headers.get("prefer", ""))
    sa_table = api.store.sa_table(table)
    row = read_record(
        api.store, table, options.select, sa_table.c[table.primary_id] == record_id, annotations
    )
    assert row is not None
    context = f"{request.base_url}/$metadata#{table.entity_set}"
    if options.select_names:
        context += f"({','.join(options.select_names)})"
    body = ('{"@odata.context":"' + context + '/$entity",' + row[1:]).encode()
    return json_response(
        201 if created else 200,
        body,
        {"OData-EntityId": entity_id, "Preference-Applied": "return=representation"},
    )


def create(api: WebApi, request: ApiRequest, table: Table) -> ApiResponse:
    """``POST {set}``."""
    payload = _payload(api, request, table, creating=True)
    record_id = payload.values.pop(table.primary_id, None) or str(uuid.uuid4())
    with api.store.transaction() as conn:
        _resolve_binds(api, conn, payload)
        _insert(api, conn, table, record_id, payload.values)
    return _answer(api, request, table, record_id, created=True)


def _existing(
    api: WebApi, conn: Connection, table: Table, segment: Segment
) -> tuple[str, int] | None:
    sa_table = api.store.sa_table(table)
    row = conn.execute(
        sa.select(sa_table.c[table.primary_id], sa_table.c.versionnumber)
        .where(api.key_condition(table, segment))
        .limit(1)
    ).first()
    return None if row is None else (str(row[0]), int(row[1]))


def _check_if_match(table: Table, if_match: str | None, version: int) -> None:
    if if_match is None or if_match.strip() == "*":
        return
    tags = {tag.strip() for tag in if_match.split(",")}
    if f'W/"{version}"' not in tags and f'"{version}"' not in tags:
        raise WebApiError(
            412,
            CODE_VERSION_MISMATCH,
            "The version of the existing record doesn't match the RowVersion property provided.",
        )


def patch(api: WebApi, request: ApiRequest, table: Table, segment: Segment) -> ApiResponse:
    """``PATCH {set}(key)``: update, or upsert when the record is missing."""
    payload = _payload(api, request, table, creating=False)
    if_match = request.headers.get("if-match")
    if_none_match = (request.headers.get("if-none-match") or "").strip()
    with api.store.transaction() as conn:
        existing = _existing(api, conn, table, segment)
        _resolve_binds(api, conn, payload)
        if existing is None:
            if if_match is not None:
                raise not_found_record(table.logical_name, api.describe_key(table, segment))
            create_payload = _payload(api, request, table, creating=True)
            _resolve_binds(api, conn, create_payload)
            values = create_payload.values
            values.pop(table.primary_id, None)
            if isinstance(segment.key, str):
                record_id = segment.key
            else:
                assert segment.key is not None
                record_id = str(segment.key.get(table.primary_id) or uuid.uuid4()).lower()
                values.update({k: v for k, v in segment.key.items() if k != table.primary_id})
            _insert(api, conn, table, record_id, values)
            created = True
        else:
            record_id, version = existing
            if if_none_match == "*":
                raise _duplicate(table)
            _check_if_match(table, if_match, version)
            _update(api, conn, table, record_id, payload.values)
            created = False
    return _answer(api, request, table, record_id, created=created)


def delete(api: WebApi, request: ApiRequest, table: Table, segment: Segment) -> ApiResponse:
    """``DELETE {set}(key)``."""
    from crmsync.emulators.dataverse.webapi import ApiResponse

    store = api.store
    sa_table = store.sa_table(table)
    with store.transaction() as conn:
        existing = _existing(api, conn, table, segment)
        if existing is None:
            raise not_found_record(table.logical_name, api.describe_key(table, segment))
        record_id, version = existing
        _check_if_match(table, request.headers.get("if-match"), version)
        conn.execute(sa.delete(sa_table).where(sa_table.c[table.primary_id] == record_id))
        store.record_deletion(conn, table, record_id)
    return ApiResponse(204)
