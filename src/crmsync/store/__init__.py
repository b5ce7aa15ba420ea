"""The Campaign store: resource tables in SQLite (embedded) or PostgreSQL (production).

Every resource is a real table named after the resource with one column per field, plus the
store's bookkeeping columns. The public surface is re-exported here; the modules behind it are
``engine`` (engines, write transactions), ``types`` (field types), ``resources`` (definitions,
the built-in ``profile``), ``tables`` (SQLAlchemy tables), ``publish``/``migrate`` (schema
changes), ``schema`` (schema work one at a time: crmsync's own tables, publishing) and
``writes`` (idempotent batch writes; their guard in ``upserts``, PostgreSQL's ``COPY`` and merge
in ``copy_merge``). The store knows nothing of CRMs: what CRM fields may become
here, and definitions generated from CRM metadata, are :mod:`crmsync.mapping`'s.
"""

from crmsync.store.engine import (
    DEFAULT_STORE_URL,
    create_engine_for,
    missing_sqlite_file,
    parse_store_url,
)
from crmsync.store.errors import (
    DestructiveChangeError,
    InvalidIdentifierError,
    StoreDefinitionError,
    StoreWriteError,
)
from crmsync.store.names import BOOKKEEPING_COLUMNS, check_identifier, identifier_problem
from crmsync.store.publish import PublishPlan, SchemaChange, SchemaChangeKind, plan_publish, publish
from crmsync.store.resources import (
    PROFILE,
    FieldDefinition,
    LinkDefinition,
    OptOutAttribute,
    ResourceDefinition,
)
from crmsync.store.tables import build_metadata, definitions_with_profile
from crmsync.store.types import CampaignType, UtcDateTime
from crmsync.store.writes import UpsertResult, delete_by_keys, delete_versioned, upsert_batch

__all__ = [
    "BOOKKEEPING_COLUMNS",
    "DEFAULT_STORE_URL",
    "PROFILE",
    "CampaignType",
    "DestructiveChangeError",
    "FieldDefinition",
    "InvalidIdentifierError",
    "LinkDefinition",
    "OptOutAttribute",
    "PublishPlan",
    "ResourceDefinition",
    "SchemaChange",
    "SchemaChangeKind",
    "StoreDefinitionError",
    "StoreWriteError",
    "UpsertResult",
    "UtcDateTime",
    "build_metadata",
    "check_identifier",
    "create_engine_for",
    "definitions_with_profile",
    "delete_by_keys",
    "delete_versioned",
    "identifier_problem",
    "missing_sqlite_file",
    "parse_store_url",
    "plan_publish",
    "publish",
    "upsert_batch",
]
