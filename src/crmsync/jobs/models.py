"""A job file, as pydantic models (``extra="forbid"``: unknown keys are errors).

A job is a mapping of named steps; each step names the step that follows on success (``next``)
and, when its switches are on, the steps that receive its rejects (``on_reject``) and errors
(``on_error``). Step kinds are a closed vocabulary discriminated by ``kind``. Rules that span
several keys (transitions, filters, operation-specific keys) are checked by
:mod:`crmsync.jobs.checks` so that every problem is reported at once, each at its path.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from crmsync.config.names import CrmName

__all__ = [
    "AutomaticIndex",
    "CampaignQueryStep",
    "Conversion",
    "CrmStep",
    "DeduplicateStep",
    "ExportField",
    "JobFile",
    "OrderBy",
    "RemoteField",
    "RetryStep",
    "Schedule",
    "Step",
    "StepName",
    "UpdateCampaignStep",
    "Upstream",
    "WaitStep",
    "WriteFileStep",
]

_STRICT = ConfigDict(extra="forbid", frozen=True)
StepName = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,62}$")]
FieldName = CrmName
Conversion = Literal["default", "date_only", "no_time_offset", "raw"]
Operation = Literal["import", "export", "import_deleted", "delete"]


class _StepBase(BaseModel):
    model_config = _STRICT

    #: The step that runs after this one succeeds; none ends this branch of the run.
    next: StepName | None = None
    label: str = ""


class RemoteField(BaseModel):
    model_config = _STRICT

    name: FieldName
    conversion: Conversion = "default"
    #: The column name in the step's output (default: the CRM field name).
    as_: Annotated[FieldName | None, Field(alias="as")] = None

    @property
    def output(self) -> str:
        return self.as_ or self.name


class OrderBy(BaseModel):
    model_config = _STRICT

    field: FieldName
    direction: Literal["asc", "desc"] = "asc"


class AutomaticIndex(BaseModel):
    """Incremental import: only records changed since the last successful import."""

    model_config = _STRICT

    enabled: bool = True
    #: The last-modified field (default: ``modifiedon``; Salesforce ``SystemModstamp``).
    field: FieldName | None = None
    #: The option holding the last import date (default ``LASTIMPORT_<job>_<step>``).
    option: Annotated[str, Field(pattern=r"^[A-Za-z0-9_]{1,255}$")] | None = None
    #: How far before the window's start each import reads again, for records whose
    #: transaction committed late (those already imported unchanged are left out).
    overlap_seconds: int = Field(default=60, ge=0, le=3600)


class Upstream(BaseModel):
    """Import exactly the CRM records whose ids the previous step gives in ``field``."""

    model_config = _STRICT

    field: FieldName


class ExportField(BaseModel):
    model_config = _STRICT

    campaign: FieldName
    crm: FieldName
    conversion: Conversion = "default"


class CrmStep(_StepBase):
    """The CRM connector step: ``import``, ``export``, ``import_deleted`` or ``delete``."""

    kind: Literal["crm"]
    operation: Operation
    connection: Annotated[str, Field(min_length=1, max_length=255)]
    object: CrmName
    process_rejects: bool = False
    process_errors: bool = False
    on_reject: StepName | None = None
    on_error: StepName | None = None
    # import
    fields: tuple[RemoteField, ...] = ()
    filter: list[Any] | None = None
    order_by: tuple[OrderBy, ...] = ()
    automatic_index: AutomaticIndex | None = None
    upstream: Upstream | None = None
    # export
    mapping: tuple[ExportField, ...] = ()
    #: The mapped CRM field that identifies existing records (primary key or alternate key).
    key: FieldName | None = None
    batch: bool = False
    # import_deleted
    start: Any = None
    end: Any = None
    # delete
    id_field: FieldName | None = None


class CampaignQueryStep(_StepBase):
    """Select records of a Campaign resource, optionally filtered (same filter tree)."""

    kind: Literal["campaign_query"]
    resource: FieldName
    fields: tuple[FieldName, ...] = ()
    filter: list[Any] | None = None
    limit: Annotated[int, Field(ge=1)] | None = None


class DeduplicateStep(_StepBase):
    kind: Literal["deduplicate"]
    keys: Annotated[tuple[FieldName, ...], Field(min_length=1)]
    keep: Literal["first", "last"] = "first"


class UpdateCampaignStep(_StepBase):
    """Insert or update records of a Campaign resource, matched on ``key``."""

    kind: Literal["update_campaign"]
    resource: FieldName
    #: The resource's unique field that matches records.
    key: FieldName
    #: Campaign field → input column (default: the columns named like the resource's fields).
    fields: dict[FieldName, FieldName] = Field(default_factory=dict)
    operation: Literal["upsert", "delete"] = "upsert"


class WriteFileStep(_StepBase):
    kind: Literal["write_file"]
    path: Annotated[str, Field(min_length=1)]
    format: Literal["csv", "jsonl"] = "jsonl"


class WaitStep(_StepBase):
    kind: Literal["wait"]
    seconds: Annotated[float, Field(ge=0, le=86_400)]


class RetryStep(_StepBase):
    """Send the input back to ``target`` at most ``max_attempts`` times, then go to ``next``."""

    kind: Literal["retry"]
    target: StepName
    max_attempts: Annotated[int, Field(ge=1, le=100)] = 1


Step = Annotated[
    CrmStep
    | CampaignQueryStep
    | DeduplicateStep
    | UpdateCampaignStep
    | WriteFileStep
    | WaitStep
    | RetryStep,
    Field(discriminator="kind"),
]


class Schedule(BaseModel):
    """When ``crmsync serve`` runs the job by itself."""

    model_config = _STRICT

    #: A cron expression: minute hour day-of-month month day-of-week (a sixth field: seconds).
    cron: Annotated[str, Field(min_length=1, max_length=255)]
    #: The time zone the expression is read in (IANA name; default: the job's ``timezone``).
    timezone: str | None = None


class JobFile(BaseModel):
    """The whole job file."""

    model_config = _STRICT

    version: Literal[1] = 1
    #: The job's name: part of option names and run records.
    name: StepName
    description: str = ""
    #: The time zone of ``default`` conversions (IANA name).
    timezone: str = "UTC"
    #: The first step (default: the first one listed).
    start: StepName | None = None
    #: Variables known from the start; ``--var name=value`` overrides them.
    variables: dict[FieldName, str] = Field(default_factory=dict)
    steps: Annotated[dict[StepName, Step], Field(min_length=1)]
    #: Run by ``crmsync serve`` at these times (none: only when asked).
    schedule: Schedule | None = None

    @property
    def first_step(self) -> str:
        return self.start or next(iter(self.steps))
