"""``/api/crm/{connection}``: CRM tables and their fields, for the mapping editors."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from crmsync.api.auth import Viewer
from crmsync.api.deps import Crm
from crmsync.api.models import problem
from crmsync.api.services.crm import CrmTable, CrmTableDetail
from crmsync.config.names import CRM_NAME_PATTERN

router = APIRouter(prefix="/api/crm", tags=["crm"])

_CRM_ERRORS: dict[int | str, dict[str, Any]] = {
    404: problem("unknown connection or table"),
    502: problem("the CRM failed; detail is the connector's message"),
}
ConnectionName = Annotated[str, Path(max_length=255)]
TableName = Annotated[str, Path(pattern=CRM_NAME_PATTERN)]


@router.get(
    "/{connection}/tables",
    operation_id="list_crm_tables",
    response_model=list[CrmTable],
    responses=_CRM_ERRORS,
)
async def list_crm_tables(connection: ConnectionName, _user: Viewer, crm: Crm) -> list[CrmTable]:
    """The connection's tables, each with whether change tracking is on."""
    return await crm.tables(connection)


@router.get(
    "/{connection}/tables/{table}",
    operation_id="get_crm_table",
    response_model=CrmTableDetail,
    responses=_CRM_ERRORS,
)
async def get_crm_table(
    connection: ConnectionName, table: TableName, _user: Viewer, crm: Crm
) -> CrmTableDetail:
    """The table's fields: type, label, key and required flags, picklist values."""
    return await crm.table(connection, table)
