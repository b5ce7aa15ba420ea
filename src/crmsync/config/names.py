"""CRM table and field names, as the configuration file, the API, the console and job files take
them: :data:`CrmName`, one rule everywhere.

A CRM name is an identifier: ASCII letters, digits and underscores, starting with a letter or an
underscore, at most 128 characters. Dataverse logical names (``donotemail``, ``new_plan``,
``_parentcustomerid_value``) and Salesforce API names (``HasOptedOutOfEmail``, ``Plan__c``) all
are; quotes, spaces, operators, NUL bytes, line breaks and path characters never are, so a name
cannot change the meaning of a CRM query or URL built with it. The names of crmsync's own store
tables are refused too. Whether the CRM has the table or field is checked against its metadata
(:mod:`crmsync.config.metadata_checks`) before an edit is saved and when a workflow starts.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field

from crmsync.store.names import OWN_TABLES

__all__ = ["CRM_NAME_PATTERN", "CrmName", "crm_name_problem"]

CRM_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"
_CRM_NAME = re.compile(CRM_NAME_PATTERN.strip("^$"))


def crm_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a CRM table or field name, or ``None`` when it can."""
    if not _CRM_NAME.fullmatch(name):
        shown = name if len(name) <= 80 else name[:77] + "..."
        return (
            f"invalid CRM name {shown!r}: use 1-128 letters, digits and underscores, starting "
            "with a letter or an underscore"
        )
    if name.lower() in OWN_TABLES:
        return f"'{name}' is a table of crmsync's own store, not a CRM name"
    return None


def _valid_crm_name(name: str) -> str:
    problem = crm_name_problem(name)
    if problem is not None:
        raise ValueError(problem)
    return name


#: A CRM table or field name (see the module's documentation).
CrmName = Annotated[
    str, AfterValidator(_valid_crm_name), Field(json_schema_extra={"pattern": CRM_NAME_PATTERN})
]
