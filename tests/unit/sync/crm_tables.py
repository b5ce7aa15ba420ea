"""CRM table metadata shared by the sync unit tests."""

from __future__ import annotations

from crmsync.connectors.base import CrmType, FieldInfo, TableInfo


def contact_table(*fields: FieldInfo, primary_name: str | None = None) -> TableInfo:
    """A change-tracked Dataverse ``contact`` table: its id, its version and ``fields``."""
    return TableInfo(
        name="contact",
        collection="contacts",
        primary_key="contactid",
        primary_name=primary_name,
        change_tracking=True,
        version_field="versionnumber",
        fields={
            field.name: field
            for field in (
                FieldInfo("contactid", CrmType.UNIQUEIDENTIFIER),
                FieldInfo("versionnumber", CrmType.BIGINT),
                *fields,
            )
        },
    )
