"""The configuration file, as pydantic models (``extra="forbid"``: unknown keys are errors).

One YAML file holds the CRM connections, the store, the queue, the custom resources and the three
workflows. A connection is its connector's own settings model
(:class:`~crmsync.connectors.dataverse.DataverseConnectionConfig`,
:class:`~crmsync.connectors.salesforce.SalesforceConnectionConfig`). Secrets are never in the
file: a connection names an environment variable (``client_secret_env``) or a file
(``client_secret_file``) that holds each one.
Cross-field rules (unknown names, duplicates, guardrails) are checked by
:mod:`crmsync.config.checks`, so that every problem is reported at once with its path.
"""

from __future__ import annotations

import re
from datetime import UTC, time
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    field_validator,
    model_validator,
)

from crmsync.config.names import CrmName
from crmsync.config.queue import QueueConfig
from crmsync.connectors.dataverse.config import DataverseConnectionConfig
from crmsync.connectors.salesforce.config import SalesforceConnectionConfig
from crmsync.errors import ConfigurationError
from crmsync.store.engine import DEFAULT_STORE_URL, parse_store_url
from crmsync.store.resources import Identifier, OptOutAttribute, ResourceDefinition

__all__ = [
    "Config",
    "Connection",
    "EventAttribute",
    "EventType",
    "FieldMapping",
    "FilterCondition",
    "FilterOp",
    "Filters",
    "GuardrailsConfig",
    "InboundConfig",
    "InboundMapping",
    "OptInOutConfig",
    "OptInOutDirection",
    "OptInOutMapping",
    "OptOutFileExchange",
    "OutboundConfig",
    "OutboundEvents",
    "PrimaryKey",
    "QueueConfig",
    "Replacement",
    "StoreConfig",
]

_STRICT = ConfigDict(extra="forbid", frozen=True)
Scalar = str | bool | int | float


#: A CRM connection: the connector's own settings, chosen by ``kind``.
Connection = Annotated[
    DataverseConnectionConfig | SalesforceConnectionConfig, Field(discriminator="kind")
]


class StoreConfig(BaseModel):
    model_config = _STRICT

    url: str = DEFAULT_STORE_URL
    #: PostgreSQL only: the schema that holds the Campaign tables (default: the search path).
    pg_schema: Identifier | None = None

    @field_validator("url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        try:
            parsed = parse_store_url(value)
        except ConfigurationError as exc:
            raise ValueError(exc.message.removeprefix("store url: ")) from None
        if parsed.password is not None:
            raise ValueError(
                "the URL holds a password: remove it and give it through PGPASSWORD, "
                "PGPASSFILE or ~/.pgpass"
            )
        return value


class GuardrailsConfig(BaseModel):
    """Limits on custom resources (SPEC §3); warned at ``warn_ratio`` of each, refused past."""

    model_config = _STRICT

    max_custom_resources: Annotated[int, Field(ge=1, le=1000)] = 20
    max_columns: Annotated[int, Field(ge=1, le=1500)] = 50
    max_link_depth: Annotated[int, Field(ge=0, le=10)] = 2
    max_link_columns: Annotated[int, Field(ge=0, le=100)] = 5
    warn_ratio: Annotated[float, Field(gt=0, le=1)] = 0.8


class FieldMapping(BaseModel):
    model_config = _STRICT

    crm: CrmName
    campaign: Identifier
    #: Off: the value is written when the record is first loaded (or replayed) only.
    apply_updates: bool = True


class Replacement(BaseModel):
    """Write ``to`` instead of the CRM value ``from`` of ``field``."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    field: CrmName
    from_: Annotated[Scalar | None, Field(alias="from")]
    to: Scalar | None


class FilterOp(StrEnum):
    EQ = "eq"
    NE = "ne"
    GT = "gt"
    GE = "ge"
    LT = "lt"
    LE = "le"
    CONTAINS = "contains"
    STARTS_WITH = "starts_with"
    ENDS_WITH = "ends_with"
    IS_EMPTY = "is_empty"
    IS_NOT_EMPTY = "is_not_empty"


_NULL_CHECKS = (FilterOp.IS_EMPTY, FilterOp.IS_NOT_EMPTY)


class FilterCondition(BaseModel):
    model_config = _STRICT

    field: CrmName
    op: FilterOp
    value: Scalar | None = None

    @model_validator(mode="after")
    def _value_matches_op(self) -> Self:
        if self.op in _NULL_CHECKS and self.value is not None:
            raise ValueError(f"'{self.op.value}' takes no value")
        if self.op not in _NULL_CHECKS and self.value is None:
            raise ValueError(f"'{self.op.value}' needs a value")
        return self


class Filters(BaseModel):
    model_config = _STRICT

    combine: Literal["and", "or"] = "and"
    conditions: tuple[FilterCondition, ...] = ()


class PrimaryKey(BaseModel):
    model_config = _STRICT

    #: The CRM primary key; detected from metadata when omitted.
    crm: CrmName | None = None
    #: The unique Campaign field that holds the CRM id (``external_id`` for profiles).
    campaign: Identifier


class InboundMapping(BaseModel):
    """One table mapping: a CRM table into a Campaign resource (SPEC §3)."""

    model_config = _STRICT

    name: Identifier
    connection: Identifier
    crm_table: CrmName
    resource: Identifier
    primary_key: PrimaryKey
    fields: tuple[FieldMapping, ...] = ()
    replacements: tuple[Replacement, ...] = ()
    filters: Filters = Filters()
    delete_filtered_out: bool = False
    apply_deletes: bool = True
    picklist_values: Literal["technical", "display"] = "technical"
    #: Campaign edits of the mapped fields go back to the CRM, merged field by field
    #: (docs/two-way.md).
    two_way: bool = False


class InboundConfig(BaseModel):
    model_config = _STRICT

    poll_interval_seconds: Annotated[float, Field(gt=0, le=3600)] = 1.0
    mappings: tuple[InboundMapping, ...] = ()


class OutboundEvents(BaseModel):
    """Which marketing event types flow to the CRM."""

    model_config = _STRICT

    send: bool = False
    open: bool = False
    click: bool = False
    bounce: bool = False


#: The marketing event types (SPEC §5), in the order the outbound workflow sends them.
EventType = Literal["send", "open", "click", "bounce"]
#: What an event carries that can be written to a CRM field (``contact``: the profile's CRM id).
EventAttribute = Literal[
    "event_id",
    "name",
    "contact",
    "delivery_id",
    "delivery_name",
    "occurred_at",
    "url",
    "bounce_type",
    "reason",
]


class OutboundConfig(BaseModel):
    model_config = _STRICT

    connection: Identifier | None = None
    events: OutboundEvents = OutboundEvents()
    #: CRM table per event type (defaults chosen by the CRM kind, see ``crmsync.events.defaults``).
    tables: dict[EventType, CrmName] = Field(default_factory=dict)
    #: Per event type, event attribute → CRM field; replaces the default field of each attribute
    #: given (the default mapping of the type's table otherwise).
    fields: dict[EventType, dict[EventAttribute, CrmName]] = Field(default_factory=dict)
    #: Events written per CRM call.
    batch_size: Annotated[int, Field(ge=1, le=1000)] = 200
    #: How often the event tables are looked at when there was nothing to send.
    poll_interval_seconds: Annotated[float, Field(gt=0, le=3600)] = 1.0

    def enabled(self) -> tuple[EventType, ...]:
        """The event types switched on, in sending order."""
        switches = self.events
        flags: tuple[tuple[EventType, bool], ...] = (
            ("send", switches.send),
            ("open", switches.open),
            ("click", switches.click),
            ("bounce", switches.bounce),
        )
        return tuple(name for name, on in flags if on)


class OptInOutMapping(BaseModel):
    model_config = _STRICT

    crm: CrmName
    campaign: OptOutAttribute


#: The contact table of each CRM kind (the opt-in/out default).
DEFAULT_CONTACT_TABLES = {"dataverse": "contact", "salesforce": "Contact"}

OptInOutDirection = Literal["disabled", "crm_to_campaign", "campaign_to_crm", "bidirectional"]


def _daily_time(value: object) -> object:
    """``"HH:MM"`` (UTC). YAML reads an unquoted ``2:00`` as a number: say so."""
    if isinstance(value, time):
        return value.replace(tzinfo=UTC)
    if not isinstance(value, str) or not re.fullmatch(r"([01]?\d|2[0-3]):[0-5]\d", value.strip()):
        raise ValueError(f'write the UTC time as "HH:MM" in quotes (e.g. "02:00"), not {value!r}')
    hours, minutes = value.strip().split(":")
    return time(int(hours), int(minutes), tzinfo=UTC)


class OptOutFileExchange(BaseModel):
    """The optional daily file drop: changed opt-outs exported to / imported from CSV files."""

    model_config = _STRICT

    folder: Path
    export: bool = True
    import_: Annotated[bool, Field(alias="import")] = True
    #: When set, the running optinout workflow exchanges files once a day at this UTC time.
    daily_at: (
        Annotated[
            time,
            BeforeValidator(_daily_time),
            PlainSerializer(lambda at: at.strftime("%H:%M"), return_type=str),
        ]
        | None
    ) = None
    #: Where files to import are dropped (default ``<folder>/inbox``); processed ones move to
    #: its ``done/`` folder.
    inbox: Path | None = None

    @property
    def inbox_folder(self) -> Path:
        return self.inbox or self.folder / "inbox"


class OptInOutConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    direction: OptInOutDirection = "disabled"
    connection: Identifier | None = None
    #: The CRM's contact table; default ``contact`` (Dataverse) or ``Contact`` (Salesforce).
    crm_table: CrmName | None = None
    mappings: tuple[OptInOutMapping, ...] = ()
    #: Record every opt-out decision (both values, both times, the winner, why).
    log_decisions: bool = False
    #: How often the CRM is asked for changed opt-outs and the Campaign change log is drained.
    poll_interval_seconds: Annotated[float, Field(gt=0, le=3600)] = 1.0
    #: Campaign → CRM writes per CRM call.
    batch_size: Annotated[int, Field(ge=1, le=1000)] = 200
    file_exchange: OptOutFileExchange | None = None

    def table_for(self, kind: str) -> str:
        """The CRM contact table: ``crm_table``, or the default of the CRM ``kind``."""
        return self.crm_table or DEFAULT_CONTACT_TABLES.get(kind, "contact")


class Config(BaseModel):
    """The whole configuration file."""

    model_config = _STRICT

    version: Literal[1] = 1
    connections: dict[Identifier, Connection] = Field(default_factory=dict)
    store: StoreConfig = StoreConfig()
    queue: QueueConfig = QueueConfig()
    guardrails: GuardrailsConfig = GuardrailsConfig()
    resources: tuple[ResourceDefinition, ...] = ()
    inbound: InboundConfig = InboundConfig()
    outbound: OutboundConfig = OutboundConfig()
    optinout: OptInOutConfig = OptInOutConfig()
