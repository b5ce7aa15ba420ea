"""Compiled inbound mappings: everything the writer needs to turn CRM records into Campaign rows.

:func:`compile_mapping` checks one table mapping (SPEC §3) against the CRM table's metadata and the
Campaign resource definitions, reports every problem at once with its place in the configuration,
and precomputes one conversion step per mapped field, so that :meth:`CompiledMapping.to_row` and
:meth:`CompiledMapping.passes` do no metadata look-up and no parsing of configuration per record.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from crmsync.config.errors import ConfigError, ConfigIssue, Loc
from crmsync.config.models import InboundMapping
from crmsync.connectors.base import INVALID_TEXT, FieldInfo, Record, TableInfo
from crmsync.errors import RejectError
from crmsync.store.resources import FieldDefinition, LinkDefinition, ResourceDefinition
from crmsync.store.types import CampaignType
from crmsync.sync.convert import Shape, campaign_value, emitter, value_shape
from crmsync.sync.filters import Predicate, combine, compile_condition
from crmsync.sync.parse import (
    ConversionError,
    RejectCode,
    UnsupportedConversion,
    config_value,
    crm_parser,
)
from crmsync.sync.row_fill import FieldError, Fill, compile_fill
from crmsync.sync.steps import MISS, FieldStep, Replacements, Step, build_step, key_function

__all__ = ["CompiledMapping", "ParentLink", "compile_mapping"]

_KEY_TYPES = (CampaignType.STRING, CampaignType.TEXT)


@dataclass(frozen=True, slots=True)
class ParentLink:
    """A link column of the mapped resource: its value must be a key of the parent resource.

    The writer makes a child wait until ``parent_resource`` holds a row whose ``parent_key``
    equals the child's ``column`` value. ``required`` (cardinality ``1``): the child cannot exist
    without a parent, so an empty value is rejected by :meth:`CompiledMapping.to_row`.
    """

    column: str
    parent_resource: str
    parent_key: str
    required: bool


@dataclass(frozen=True)
class CompiledMapping:
    """One inbound table mapping, ready to apply to records.

    Rows from :meth:`to_row` hold :attr:`key_field` (the CRM record id) and every mapped column,
    always the same columns, as the store's batch upsert wants; the writer adds the record's
    version. :attr:`insert_only` columns are passed to ``upsert_batch(insert_only=...)``.
    """

    name: str
    crm_table: str
    resource: str
    #: The Campaign column holding the CRM id; only rows with a key are ever touched.
    key_field: str
    #: Every CRM field to read: the key, mapped fields, filter fields and the version field.
    crm_fields: tuple[str, ...]
    #: The Campaign columns :meth:`to_row` fills, the key first.
    columns: tuple[str, ...]
    #: Columns whose "apply updates" switch is off: written on insert (and replay) only.
    insert_only: frozenset[str]
    apply_deletes: bool
    delete_filtered_out: bool
    parent_links: tuple[ParentLink, ...]
    _steps: tuple[FieldStep, ...] = field(repr=False, compare=False)
    _predicate: Predicate = field(repr=False, compare=False)
    _key_length: int | None = field(repr=False, compare=False, default=None)
    #: :attr:`_steps` planned for rows in Python's types (:meth:`to_row`).
    _fill: Fill = field(repr=False, compare=False, init=False)
    #: A digest of everything the rows depend on besides the record: the mapping, the resource
    #: definitions and the CRM metadata (see :mod:`crmsync.sync.fingerprints`).
    signature: bytes = field(repr=False, compare=False, default=b"")

    def __post_init__(self) -> None:
        object.__setattr__(self, "_fill", compile_fill(_planned_steps(self._steps, {})))

    def passes(self, record: Record) -> bool:
        """Whether ``record`` passes the mapping's filters (always, without filters). A record
        holding invalid text passes, so that :meth:`to_row` rejects it: its values are not what
        the CRM holds, and filtering on them could drop its Campaign row."""
        values = record.values
        return INVALID_TEXT in values or self._predicate(values)

    def to_row(self, record: Record) -> dict[str, Any]:
        """The Campaign row of ``record``: column → value.

        Raises :class:`~crmsync.errors.RejectError` (``code`` from
        :class:`~crmsync.sync.parse.RejectCode`, ``record_id``, ``table``) when a value cannot
        be written; the message names the CRM field and the Campaign column.
        """
        return self._row(record, self._fill)

    def row_maker(self, processors: Mapping[str, Processor]) -> Callable[[Record], dict[str, Any]]:
        """:meth:`to_row` giving each column of ``processors`` in the form its processor makes
        (a database driver's form, :func:`~crmsync.store.bulk.column_processors`): the row the
        store's writes take, made in one pass over the record. The key is text, which no
        driver processes."""
        if self.key_field in processors:
            raise ValueError(f"the key '{self.key_field}' is text: it takes no processor")
        fill = compile_fill(_planned_steps(self._steps, processors))
        return lambda record: self._row(record, fill)

    def _row(self, record: Record, fill: Fill) -> dict[str, Any]:
        key = record.id
        if not key:
            raise RejectError(
                f"{self.crm_table}: the record has no id",
                code=RejectCode.MISSING_ID.value,
                table=self.crm_table,
            )
        invalid = record.values.get(INVALID_TEXT)
        if invalid is not None:
            raise RejectError(
                f"{self.crm_table} {key[:60]!r}: {invalid}",
                code=RejectCode.INVALID_VALUE.value,
                table=self.crm_table,
                record_id=key,
            )
        if self._key_length is not None and len(key) > self._key_length:
            raise RejectError(
                f"{self.crm_table} {key[:60]!r}: the id has {len(key)} characters, more than "
                f"the {self._key_length} of {self.resource}.{self.key_field}",
                code=RejectCode.VALUE_TOO_LONG.value,
                table=self.crm_table,
                record_id=key,
            )
        row: dict[str, Any] = {self.key_field: key}
        try:
            fill(record.values.get, row, record)
        except FieldError as exc:
            raise RejectError(
                f"{self.crm_table} {key!r}: field '{exc.wire}' → {self.resource}.{exc.column}: "
                f"{exc.error.message}",
                code=exc.error.code.value,
                table=self.crm_table,
                record_id=key,
            ) from None
        return row


#: A Python value → the form a database driver takes it in.
Processor = Callable[[Any], Any]
#: One field of a row's plan: column, wire name, shape, text limit, step, processor (or
#: ``None``), and the shape's constant (booleans: their two values; dates and date-times:
#: whether they are written as the driver's text).
_Planned = tuple[str, str, int, int, Step, Processor | None, Any]
_SAMPLE_DAY = date(987, 6, 5)
_SAMPLE_STAMP = datetime(2001, 2, 3, 4, 5, 6, tzinfo=UTC)


def _planned_steps(
    steps: tuple[FieldStep, ...], processors: Mapping[str, Processor]
) -> tuple[_Planned, ...]:
    """The plan of each step, with its column's processor: a shape is kept only where its
    values' written form is known for that processor (checked on a sample value)."""
    plan: list[_Planned] = []
    for column, wire, step, shape, limit in steps:
        process = processors.get(column)
        fast: Any = None
        if shape is Shape.BOOL:
            fast = (False, True) if process is None else (process(False), process(True))
        elif shape is Shape.DATE and process is not None:
            # The driver's text (SQLite), or the date itself (PostgreSQL).
            made = process(_SAMPLE_DAY)
            fast = made == _SAMPLE_DAY.isoformat()
            kept = fast or (type(made) is date and made == _SAMPLE_DAY)
            shape = shape if kept else Shape.NONE
        elif shape is Shape.DATETIME and process is not None:
            # The driver's text (SQLite), or the UTC date-time itself (PostgreSQL).
            made = process(_SAMPLE_STAMP)
            fast = made == "2001-02-03 04:05:06.000000"
            same = type(made) is datetime and made == _SAMPLE_STAMP and made.tzinfo is UTC
            shape = shape if fast or same else Shape.NONE
        elif shape in (Shape.DATE, Shape.DATETIME):
            fast = False
        elif process is not None:  # text and numbers: only as they are
            shape = Shape.NONE
        plan.append((column, wire, int(shape), limit, step, process, fast))
    return tuple(plan)


def compile_mapping(
    mapping: InboundMapping,
    table: TableInfo,
    resource: ResourceDefinition,
    *,
    resources: Mapping[str, ResourceDefinition],
    loc: Loc | None = None,
) -> CompiledMapping:
    """Compile ``mapping`` of CRM ``table`` into ``resource``.

    ``resources`` holds every resource definition by name (for link parents). ``loc`` is the
    mapping's place in the configuration (default ``inbound.mappings.<name>``), used in messages.
    Raises :class:`~crmsync.config.errors.ConfigError` (a ``ConfigurationError``) listing every
    problem with its path when the mapping cannot work with this metadata.
    """
    compiler = _Compiler(mapping, table, resource, resources)
    compiled = compiler.compile()
    if compiler.issues:
        where: Loc = loc if loc is not None else ("inbound", "mappings", mapping.name)
        raise ConfigError([issue.at(where) for issue in compiler.issues])
    assert compiled is not None
    return compiled


class _Compiler:
    """Checks and builds one mapping, collecting every issue rather than stopping at the first."""

    def __init__(
        self,
        mapping: InboundMapping,
        table: TableInfo,
        resource: ResourceDefinition,
        resources: Mapping[str, ResourceDefinition],
    ) -> None:
        self.mapping = mapping
        self.table = table
        self.resource = resource
        self.resources = resources
        self.issues: list[ConfigIssue] = []
        self.links = {link.field: link for link in resource.links}

    def error(self, loc: Loc, message: str) -> None:
        self.issues.append(ConfigIssue(loc, message))

    def compile(self) -> CompiledMapping | None:
        mapping, table, resource = self.mapping, self.table, self.resource
        if mapping.crm_table != table.name:
            self.error(
                ("crm_table",),
                f"the mapping is of CRM table '{mapping.crm_table}', not '{table.name}'",
            )
        if mapping.resource != resource.name:
            self.error(
                ("resource",),
                f"the mapping is of resource '{mapping.resource}', not '{resource.name}'",
            )
        key_field, key_length = self._key()
        steps, insert_only = self._fields(key_field)
        predicate = self._filters()
        parent_links = self._parent_links({s.column for s in steps})
        if self.issues:
            return None
        crm_fields = self._crm_fields()
        return CompiledMapping(
            name=mapping.name,
            crm_table=table.name,
            resource=resource.name,
            key_field=key_field,
            crm_fields=crm_fields,
            columns=(key_field, *(s.column for s in steps)),
            insert_only=frozenset(insert_only),
            apply_deletes=mapping.apply_deletes,
            delete_filtered_out=mapping.delete_filtered_out,
            parent_links=parent_links,
            _steps=tuple(steps),
            _predicate=predicate,
            _key_length=key_length,
            signature=self._signature(),
        )

    def _signature(self) -> bytes:
        parts = [
            self.mapping.model_dump_json(),
            repr(self.table),
            self.resource.model_dump_json(),
            *(self.resources[name].model_dump_json() for name in sorted(self.resources)),
        ]
        return hashlib.sha256("\n".join(parts).encode()).digest()

    def _key(self) -> tuple[str, int | None]:
        declared = self.mapping.primary_key
        if declared.crm is not None and declared.crm != self.table.primary_key:
            self.error(
                ("primary_key", "crm"),
                f"the primary key of CRM table '{self.table.name}' is "
                f"'{self.table.primary_key}', not '{declared.crm}'",
            )
        target = self.resource.field(declared.campaign)
        loc: Loc = ("primary_key", "campaign")
        if target is None:
            self.error(loc, self._unknown_column(declared.campaign))
            return declared.campaign, None
        if target.name not in self.resource.unique_fields():
            self.error(
                loc,
                f"'{target.name}' of resource '{self.resource.name}' is not unique: the field "
                "that holds the CRM id must be the resource's identifier or declared unique",
            )
        if target.type not in _KEY_TYPES:
            self.error(
                loc,
                f"'{target.name}' is a {target.type.value} field: the CRM id is text and needs "
                "a string field",
            )
        return target.name, target.length if target.type is CampaignType.STRING else None

    def _unknown_column(self, name: str) -> str:
        known = ", ".join(self.resource.field_names()) or "none"
        return f"resource '{self.resource.name}' has no field '{name}' (fields: {known})"

    def _crm_field(self, loc: Loc, name: str) -> FieldInfo | None:
        info = self.table.fields.get(name)
        if info is None:
            self.error(loc, f"CRM table '{self.table.name}' has no field '{name}'")
        return info

    def _fields(self, key_field: str) -> tuple[list[FieldStep], set[str]]:
        steps: list[FieldStep] = []
        insert_only: set[str] = set()
        seen: dict[str, int] = {}
        replaced = {fm.crm for fm in self.mapping.fields}
        for index, rep in enumerate(self.mapping.replacements):
            if rep.field not in replaced:
                self.error(
                    ("replacements", index, "field"),
                    f"'{rep.field}' is not a mapped CRM field: replacements apply to the CRM "
                    "fields of 'fields'",
                )
        for index, fm in enumerate(self.mapping.fields):
            loc: Loc = ("fields", index)
            if fm.crm == self.table.primary_key and fm.campaign == key_field:
                continue  # the key is always written; mapping it explicitly is harmless
            if fm.campaign == key_field:
                self.error(
                    (*loc, "campaign"),
                    f"'{key_field}' holds the CRM id (primary_key.campaign): no other field "
                    "may be written to it",
                )
                continue
            if fm.campaign in seen:
                self.error(
                    (*loc, "campaign"),
                    f"Campaign field '{fm.campaign}' is already mapped by "
                    f"fields[{seen[fm.campaign]}]: two CRM fields may not map to one "
                    "Campaign field",
                )
                continue
            seen[fm.campaign] = index
            info = self._crm_field((*loc, "crm"), fm.crm)
            target = self.resource.field(fm.campaign)
            if target is None:
                self.error((*loc, "campaign"), self._unknown_column(fm.campaign))
            if info is None or target is None:
                continue
            step = self._step(loc, info, target)
            if step is not None:
                shape, limit = Shape.NONE, 0
                if not any(rep.field == info.name for rep in self.mapping.replacements):
                    display = self.mapping.picklist_values == "display"
                    shape, limit = value_shape(info, target, display=display)
                steps.append(FieldStep(target.name, info.wire_name, step, shape, limit))
                if not fm.apply_updates:
                    insert_only.add(target.name)
        return steps, insert_only

    def _null_policy(self, target: FieldDefinition) -> tuple[Any, ConversionError | None]:
        """What an empty value becomes in ``target``: a value, or the reject it causes."""
        link = self.links.get(target.name)
        if link is not None and link.cardinality == "1":
            return None, ConversionError(
                RejectCode.PARENT_REQUIRED,
                f"the link to '{link.resource}' is empty and a {self.resource.name} requires "
                "a parent (cardinality 1)",
            )
        nullable = target.nullable if link is None else True
        if nullable:
            return None, None
        if target.default is not None:
            return campaign_value(target, target.default), None
        return None, ConversionError(
            RejectCode.VALUE_REQUIRED, "the value is empty and the field requires one"
        )

    def _step(self, loc: Loc, info: FieldInfo, target: FieldDefinition) -> Step | None:
        try:
            emit = emitter(info, target, display=self.mapping.picklist_values == "display")
        except UnsupportedConversion as exc:
            self.error(
                (*loc, "campaign"),
                f"CRM field '{info.name}' ({info.type.value}) cannot be written to Campaign "
                f"field '{target.name}' ({target.type.value}): {exc}",
            )
            return None
        try:
            null_value, null_error = self._null_policy(target)
        except UnsupportedConversion as exc:
            self.error((*loc, "campaign"), f"the default of '{target.name}' is unusable: {exc}")
            return None
        replacements = self._replacements(info, target)
        return build_step(crm_parser(info), emit, null_value, null_error, replacements)

    def _replacements(self, info: FieldInfo, target: FieldDefinition) -> Replacements:
        hits: dict[Any, Any] = {}
        null_hit: Any = MISS
        key_of = key_function(info)
        for index, rep in enumerate(self.mapping.replacements):
            if rep.field != info.name:
                continue
            loc: Loc = ("replacements", index)
            try:
                new = self._replacement_value(target, rep.to)
            except UnsupportedConversion as exc:
                self.error((*loc, "to"), f"{rep.to!r} cannot be written to '{target.name}': {exc}")
                continue
            if rep.from_ is None:
                null_hit = new
                continue
            try:
                old = config_value(info, rep.from_)
                if key_of is not None:
                    old = key_of(old)
            except UnsupportedConversion as exc:
                self.error((*loc, "from"), f"{rep.from_!r}: {exc}")
                continue
            if old in hits:
                self.error((*loc, "from"), f"{rep.from_!r} of '{info.name}' is replaced twice")
                continue
            hits[old] = new
        return Replacements(hits, null_hit, key_of)

    def _replacement_value(self, target: FieldDefinition, value: Any) -> Any:
        if value is not None:
            return campaign_value(target, value)
        null_value, null_error = self._null_policy(target)
        if null_error is not None:
            raise UnsupportedConversion(null_error.message)
        return null_value

    def _filters(self) -> Predicate:
        predicates: list[Predicate] = []
        for index, condition in enumerate(self.mapping.filters.conditions):
            loc: Loc = ("filters", "conditions", index)
            info = self._crm_field((*loc, "field"), condition.field)
            if info is None:
                continue
            try:
                predicates.append(compile_condition(info, condition.op, condition.value))
            except UnsupportedConversion as exc:
                where = "op" if condition.value is None else "value"
                self.error((*loc, where), f"field '{info.name}' ({info.type.value}): {exc}")
        return combine(predicates, self.mapping.filters.combine)

    def _parent_links(self, mapped: set[str]) -> tuple[ParentLink, ...]:
        out: list[ParentLink] = []
        for link in self.resource.links:
            parent = self._parent(link)
            if parent is None or parent.identifier is None:
                continue
            if link.field not in mapped:
                if link.cardinality == "1":
                    self.error(
                        ("fields",),
                        f"link field '{link.field}' of resource '{self.resource.name}' requires "
                        f"a parent '{link.resource}' (cardinality 1) but no CRM field is mapped "
                        "to it",
                    )
                continue
            out.append(
                ParentLink(link.field, parent.name, parent.identifier, link.cardinality == "1")
            )
        return tuple(out)

    def _parent(self, link: LinkDefinition) -> ResourceDefinition | None:
        parent = self.resources.get(link.resource)
        if parent is None:
            self.error(
                ("resource",),
                f"resource '{self.resource.name}' links to '{link.resource}', which is not defined",
            )
        elif parent.identifier is None:
            self.error(
                ("resource",),
                f"resource '{self.resource.name}' links to '{link.resource}', which has no "
                "identifier to link by",
            )
        return parent

    def _crm_fields(self) -> tuple[str, ...]:
        names = [self.table.primary_key]
        names += [fm.crm for fm in self.mapping.fields]
        names += [c.field for c in self.mapping.filters.conditions]
        version = self.table.version_field
        if version is not None and version in self.table.fields:
            names.append(version)
        modified = self.table.modified_field
        if self.mapping.two_way and modified is not None and modified in self.table.fields:
            names.append(modified)  # the CRM side's time in the two-way merge
        return tuple(dict.fromkeys(names))
