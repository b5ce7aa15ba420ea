"""What a CRM field may become in the Campaign store: the type rules and the resource
definitions generated from CRM metadata.

This package stands above both the store and the connectors (neither imports the other), and
below the configuration checks and the engine, which use it. The modules behind the names here
are ``types`` (CRM → Campaign type compatibility) and ``discovery`` (definitions from metadata).
"""

from crmsync.mapping.discovery import definition_from_table, generated_field_names
from crmsync.mapping.types import (
    COMPATIBLE,
    DEFAULT_LENGTHS,
    default_campaign_type,
    is_compatible,
)

__all__ = [
    "COMPATIBLE",
    "DEFAULT_LENGTHS",
    "default_campaign_type",
    "definition_from_table",
    "generated_field_names",
    "is_compatible",
]
