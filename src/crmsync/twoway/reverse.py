"""The reverse direction of an inbound mapping: how a Campaign value goes back to the CRM.

The inbound direction (:mod:`crmsync.sync.transform`) turns each CRM value into a Campaign value;
a two-way mapping must also turn each Campaign value back into the one CRM value it stands for.
:func:`reverse_mapping` builds, for one mapping and the CRM table's metadata, a converter per
field (a Campaign value → the typed CRM value, as :mod:`crmsync.sync.parse` types them, which the
connector then writes), and reports every setting that cannot be reversed:

- **replacements** map back through their inverse: a Campaign value equal to a replacement's
  ``to`` goes back as its ``from``; refused when two CRM values (an empty value included) become
  the same Campaign value;
- **picklists and booleans** map back through their options: a display label goes back to its
  value (refused when two options share a label), a technical value to itself; a value that is no
  option is refused for that record;
- **conversions** go back by parsing (a number written as text is parsed as a number, and so
  on); a conversion that loses information is refused: a date and time kept as a date, a number
  kept in single precision, a 64-bit integer kept as a double, a lookup to several tables (its id
  alone does not say which), a CRM type crmsync does not know;
- **never sent back**: the key (the CRM id), fields the CRM manages (read-only in its
  metadata) and fields whose ``apply_updates`` is off (written on a record's first load only:
  the Campaign side owns them after it). They are listed in :attr:`ReverseMapping.not_sent`.

An empty Campaign value (``None``, or an empty text) goes back as an empty CRM value unless a
replacement says otherwise. Fields or pairs that the inbound direction itself refuses are left
to :func:`~crmsync.sync.transform.compile_mapping`, which reports them. The two-way engine and
``crmsync validate`` build on this module.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from enum import StrEnum
from typing import Any

from crmsync.config.errors import ConfigIssue, Loc
from crmsync.config.models import InboundMapping
from crmsync.connectors.base import CrmType, FieldInfo, Record, TableInfo
from crmsync.mapping.types import is_compatible
from crmsync.store.resources import FieldDefinition, ResourceDefinition
from crmsync.store.types import CampaignType
from crmsync.sync.convert import campaign_value, emitter
from crmsync.sync.parse import (
    ConversionError,
    Parser,
    RejectCode,
    UnsupportedConversion,
    config_value,
    crm_parser,
    datetime_parser,
    parse_date,
    parse_float,
    parse_int,
)
from crmsync.twoway.values import value_key

__all__ = ["NotSent", "NotSentReason", "ReverseField", "ReverseMapping", "reverse_mapping"]

#: A Campaign value → the typed CRM value; raises :class:`ConversionError` for a value the CRM
#: field cannot take (the record is then rejected, its Campaign value kept).
Reverser = Callable[[Any], Any]

_TEXT = (CampaignType.STRING, CampaignType.TEXT)
_NUMBERS = (CrmType.DECIMAL, CrmType.DOUBLE, CrmType.MONEY)
_NO_RECORD = Record(id="", values={})
_MISS: Any = object()


class NotSentReason(StrEnum):
    """Why a mapped field never goes back to the CRM."""

    #: The Campaign field holds the CRM id: it identifies the record, it is not an edit.
    KEY = "key"
    #: The CRM manages the field (read-only in its metadata).
    READ_ONLY = "read_only"
    #: ``apply_updates: false``: written on a record's first load only; Campaign owns it after.
    INSERT_ONLY = "insert_only"


@dataclass(frozen=True, slots=True)
class ReverseField:
    """A Campaign field sent back to a CRM field, and how its values are converted."""

    campaign: str
    crm: str
    convert: Reverser


@dataclass(frozen=True, slots=True)
class NotSent:
    """A mapped field that is never sent back, and why."""

    campaign: str
    crm: str
    reason: NotSentReason


@dataclass(frozen=True, slots=True)
class ReverseMapping:
    """The reverse direction of one mapping: fields sent back, fields not sent, and the issues
    that stop the mapping from being two-way (each at its place in the configuration)."""

    fields: tuple[ReverseField, ...]
    not_sent: tuple[NotSent, ...]
    issues: tuple[ConfigIssue, ...]


def reverse_mapping(
    mapping: InboundMapping,
    table: TableInfo,
    resource: ResourceDefinition,
    *,
    loc: Loc | None = None,
) -> ReverseMapping:
    """The reverse direction of ``mapping`` of CRM ``table`` into ``resource``.

    ``loc`` is the mapping's place in the configuration (default ``inbound.mappings.<name>``);
    every issue's path starts with it.
    """
    where: Loc = loc if loc is not None else ("inbound", "mappings", mapping.name)
    builder = _Builder(mapping, table, resource)
    fields, not_sent = builder.build()
    return ReverseMapping(fields, not_sent, tuple(issue.at(where) for issue in builder.issues))


class _Builder:
    def __init__(
        self, mapping: InboundMapping, table: TableInfo, resource: ResourceDefinition
    ) -> None:
        self.mapping, self.table, self.resource = mapping, table, resource
        self.display = mapping.picklist_values == "display"
        self.issues: list[ConfigIssue] = []

    def build(self) -> tuple[tuple[ReverseField, ...], tuple[NotSent, ...]]:
        key = self.mapping.primary_key.campaign
        fields: list[ReverseField] = []
        not_sent = [NotSent(key, self.table.primary_key, NotSentReason.KEY)]
        for index, fm in enumerate(self.mapping.fields):
            info = self.table.fields.get(fm.crm)
            target = self.resource.field(fm.campaign)
            if fm.campaign == key or fm.crm == self.table.primary_key:
                continue  # the key, listed above (or an error the inbound direction reports)
            if info is None or target is None or not is_compatible(info.type, target.type):
                continue  # reported by the inbound direction
            if info.read_only:
                not_sent.append(NotSent(target.name, info.name, NotSentReason.READ_ONLY))
            elif not fm.apply_updates:
                not_sent.append(NotSent(target.name, info.name, NotSentReason.INSERT_ONLY))
            else:
                convert = self._field(("fields", index), info, target)
                if convert is not None:
                    fields.append(ReverseField(target.name, info.name, convert))
        return tuple(fields), tuple(not_sent)

    def _field(self, loc: Loc, info: FieldInfo, target: FieldDefinition) -> Reverser | None:
        values = _domain(info)
        base: Parser | None = None
        if values is None:
            try:
                base = _parser(info, target, display=self.display)
            except UnsupportedConversion as exc:
                self.issues.append(
                    ConfigIssue(
                        (*loc, "campaign"),
                        f"CRM field '{info.name}' ({info.type.value}) kept in Campaign field "
                        f"'{target.name}' ({target.type.value}) cannot be written back: {exc}",
                    )
                )
                return None
        elif self.display and not self._labels_unique(loc, info):
            return None
        table = self._inverse(loc, info, target, values)
        if table is None:
            return None
        return _reverser(target.type, table, base, info)

    def _labels_unique(self, loc: Loc, info: FieldInfo) -> bool:
        seen: dict[str, Any] = {}
        unique = True
        for option in info.options:
            if option.label in seen:
                self.issues.append(
                    ConfigIssue(
                        (*loc, "crm"),
                        f"options {seen[option.label]!r} and {option.value!r} of '{info.name}' "
                        f"share the label '{option.label}': with picklist_values 'display' the "
                        "label cannot be written back to one value",
                    )
                )
                unique = False
            seen.setdefault(option.label, option.value)
        return unique

    def _inverse(
        self, loc: Loc, info: FieldInfo, target: FieldDefinition, values: tuple[Any, ...] | None
    ) -> dict[Any, Any] | None:
        """Campaign value (as :func:`value_key`) → CRM value, from the replacements, the empty
        value and, for a field of known options, every option; ``None`` when ambiguous."""
        entries: list[tuple[Any, Any, str, Loc]] = []  # (Campaign image, CRM value, what, where)
        replaced: list[Any] = []
        null_replaced = False
        for index, rep in enumerate(self.mapping.replacements):
            if rep.field != info.name:
                continue
            try:
                image = _null_image(target) if rep.to is None else campaign_value(target, rep.to)
                source = None if rep.from_ is None else config_value(info, rep.from_)
            except UnsupportedConversion:
                continue  # reported by the inbound direction
            null_replaced = null_replaced or source is None
            replaced.append(source)
            what = "an empty value" if source is None else f"{rep.from_!r}"
            entries.append((image, source, what, ("replacements", index, "to")))
        if not null_replaced:
            entries.append((_null_image(target), None, "an empty value", (*loc, "crm")))
        if values is not None:
            emit = emitter(info, target, display=self.display)
            for value in values:
                if value in replaced:
                    continue
                try:
                    image = emit(value, _NO_RECORD)
                except ConversionError:
                    continue  # never written to Campaign: nothing to write back
                entries.append((image, value, f"option {value!r}", (*loc, "crm")))
        inverse: dict[Any, Any] = {}
        sources: dict[Any, str] = {}
        for image, source, what, where in entries:
            key = value_key(target.type, image)
            if key in inverse:
                self.issues.append(
                    ConfigIssue(
                        where,
                        f"CRM {sources[key]} and {what} of '{info.name}' both become "
                        f"{image!r} in Campaign field '{target.name}': that Campaign value "
                        "cannot be written back to one CRM value",
                    )
                )
                return None
            inverse[key], sources[key] = source, what
        return inverse


def _domain(info: FieldInfo) -> tuple[Any, ...] | None:
    """Every value of a field of known options; ``None`` for any other field."""
    if info.type is CrmType.BOOLEAN:
        return (False, True)
    if info.type is CrmType.PICKLIST and info.options:
        return tuple(option.value for option in info.options)
    return None


def _null_image(target: FieldDefinition) -> Any:
    """What an empty CRM value becomes in ``target`` (its default when it takes no null)."""
    if target.nullable or target.default is None:
        return None
    return campaign_value(target, target.default)


def _parser(info: FieldInfo, target: FieldDefinition, *, display: bool) -> Parser:
    """How a Campaign value of ``target`` is parsed back into a value of ``info`` (a field
    without known options); raises :class:`UnsupportedConversion` when information was lost."""
    crm, campaign = info.type, target.type
    if crm is CrmType.OTHER:
        raise UnsupportedConversion("crmsync does not know the CRM type, only its text form")
    if crm is CrmType.LOOKUP and len(info.lookup_targets) > 1:
        raise UnsupportedConversion(
            f"the lookup points to several tables ({', '.join(info.lookup_targets)}): its id "
            "alone does not say which"
        )
    if crm is CrmType.PICKLIST and display:
        raise UnsupportedConversion(
            "the picklist's options are unknown, so its labels cannot be written back"
        )
    if campaign in _TEXT or campaign is CampaignType.INTEGER:
        return crm_parser(info)
    match crm, campaign:
        case CrmType.INTEGER, CampaignType.DOUBLE:
            return parse_int
        case CrmType.BIGINT, CampaignType.DOUBLE:
            raise UnsupportedConversion("a double keeps 53 bits of a 64-bit integer")
        case crm_type, CampaignType.FLOAT if crm_type is CrmType.INTEGER or crm_type in _NUMBERS:
            raise UnsupportedConversion("a single-precision float keeps about 7 digits")
        case crm_type, CampaignType.DOUBLE if crm_type in _NUMBERS:
            return parse_float
        case CrmType.DATETIME, CampaignType.DATETIME:
            return datetime_parser(None)
        case CrmType.DATETIME, CampaignType.DATE:
            raise UnsupportedConversion("the date keeps the day, not the time")
        case CrmType.DATE, CampaignType.DATE:
            return parse_date
        case CrmType.DATE, CampaignType.DATETIME:
            return _date_of_midnight
    raise UnsupportedConversion(f"{crm.value} into {campaign.value}")  # pragma: no cover


def _date_of_midnight(value: Any) -> date:
    """A date and time at midnight UTC, as the date the inbound direction wrote it from."""
    moment: datetime = datetime_parser(None)(value)
    if moment.time() != time() or moment.tzinfo is not UTC:
        raise ConversionError(
            RejectCode.INVALID_VALUE,
            f"{moment.isoformat()} is not midnight UTC: the CRM field holds a date only",
        )
    return moment.date()


def _reverser(
    kind: CampaignType, inverse: Mapping[Any, Any], parse: Parser | None, info: FieldInfo
) -> Reverser:
    """Campaign value → CRM value: the inverse table first, then ``parse``; a field of known
    options (``parse`` is ``None``) takes nothing else."""
    choices = ", ".join(repr(key) for key in inverse if key is not None)

    def convert(value: Any) -> Any:
        try:
            key = value_key(kind, value)
        except ValueError as exc:
            raise ConversionError(RejectCode.INVALID_VALUE, str(exc)) from None
        found = inverse.get(key, _MISS)
        if found is not _MISS:
            return found
        if key is None:
            return None
        if parse is None:
            raise ConversionError(
                RejectCode.UNKNOWN_OPTION,
                f"{value!r} is not a value of '{info.name}' (values: {choices})",
            )
        return parse(value)

    return convert
