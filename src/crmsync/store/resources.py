"""Resource definitions: what a Campaign table holds, and the built-in ``profile`` resource.

A definition is declared in the configuration file (custom resources) or built in (``profile``);
:mod:`crmsync.store.tables` turns definitions into SQLAlchemy tables. Every resource table also
has the bookkeeping columns of :data:`~crmsync.store.names.BOOKKEEPING_COLUMNS`, added by the store:
``id`` (internal primary key), ``created_at``, ``modified_at``, ``origin`` (who created the row:
``crm:<connection>``, ``api``, ``import``), ``source_version`` (the CRM version the row reflects,
used to refuse stale writes), ``source_digest`` and ``synced_at`` (the digest of the CRM values the
row was last written or compared from, and when: a re-read skips records whose row holds them).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from crmsync.store.names import BOOKKEEPING_COLUMNS, RESERVED_TABLE_PREFIXES, identifier_problem
from crmsync.store.types import CampaignType

__all__ = [
    "OPT_OUT_CHANGED_SUFFIX",
    "PROFILE",
    "FieldDefinition",
    "Identifier",
    "LinkDefinition",
    "OptOutAttribute",
    "ResourceDefinition",
    "profile_definition",
]


def _valid_identifier(name: str) -> str:
    problem = identifier_problem(name)
    if problem is not None:
        raise ValueError(problem)
    return name


#: A resource or field name: it becomes a table or column name as is.
Identifier = Annotated[str, AfterValidator(_valid_identifier)]

_FROZEN = ConfigDict(extra="forbid", frozen=True)


class FieldDefinition(BaseModel):
    """One field (column) of a resource."""

    model_config = _FROZEN

    name: Identifier
    type: CampaignType
    #: Maximum length of a ``string`` field; ``None`` for no limit.
    length: Annotated[int, Field(ge=1, le=10_485_760)] | None = None
    nullable: bool = True
    unique: bool = False
    #: Value of existing and new rows when none is given (needed to add a non-null column).
    default: bool | int | float | str | None = None
    description: str = ""

    @model_validator(mode="after")
    def _length_only_for_strings(self) -> Self:
        if self.length is not None and self.type is not CampaignType.STRING:
            raise ValueError(f"'length' applies to string fields only, not {self.type.value}")
        return self


class LinkDefinition(BaseModel):
    """A link from a resource (the child) to a parent resource.

    ``field`` is the child's column that holds the parent's identifier (the parent's unique key,
    e.g. ``external_id`` of ``profile``). With cardinality ``"1"`` a child requires a parent (the
    column is not nullable); with ``"0..1"`` it may exist alone. When the parent is deleted its
    children are deleted too (``cascade``) or kept with an empty link (``keep``, which therefore
    needs cardinality ``"0..1"``).
    """

    model_config = _FROZEN

    resource: Identifier
    field: Identifier
    cardinality: Literal["0..1", "1"] = "0..1"
    on_parent_delete: Literal["cascade", "keep"] = "cascade"

    @model_validator(mode="after")
    def _keep_needs_optional(self) -> Self:
        if self.on_parent_delete == "keep" and self.cardinality == "1":
            raise ValueError(
                "on_parent_delete 'keep' empties the link, which cardinality '1' forbids: "
                "use cardinality '0..1' or on_parent_delete 'cascade'"
            )
        return self


class ResourceDefinition(BaseModel):
    """A Campaign resource: a table named ``name`` with one column per field."""

    model_config = _FROZEN

    name: Identifier
    #: The unique field that identifies a record from outside (e.g. the CRM id).
    identifier: Identifier | None = None
    fields: tuple[FieldDefinition, ...] = ()
    links: tuple[LinkDefinition, ...] = ()
    description: str = ""

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        for prefix in RESERVED_TABLE_PREFIXES:
            if self.name.startswith(prefix):
                raise ValueError(f"resource names starting with '{prefix}' are reserved")
        seen: set[str] = set()
        for field in self.fields:
            if field.name in BOOKKEEPING_COLUMNS:
                raise ValueError(
                    f"field name '{field.name}' is reserved for the store's bookkeeping "
                    f"({', '.join(BOOKKEEPING_COLUMNS)})"
                )
            if field.name in seen:
                raise ValueError(f"field '{field.name}' is declared twice")
            seen.add(field.name)
        if self.identifier is not None and self.identifier not in seen:
            raise ValueError(f"identifier '{self.identifier}' is not one of the fields")
        for link in self.links:
            if link.field not in seen:
                raise ValueError(f"link field '{link.field}' is not one of the fields")
        return self

    def field(self, name: str) -> FieldDefinition | None:
        """The field called ``name``, or ``None``."""
        return next((f for f in self.fields if f.name == name), None)

    def unique_fields(self) -> tuple[str, ...]:
        """Fields whose values are unique: the identifier and fields declared unique."""
        names = [f.name for f in self.fields if f.unique or f.name == self.identifier]
        return tuple(names)

    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)


class OptOutAttribute(StrEnum):
    """The Campaign opt-out attributes (SPEC §6): the only targets of opt-in/out mappings.

    Each is a boolean column of ``profile`` (true = opted out) with a companion
    ``<attribute>_changed_at`` column holding the time of its last change.
    """

    EMAIL = "optout_email"
    SMS = "optout_sms"
    PHONE = "optout_phone"
    POSTAL_MAIL = "optout_postal_mail"
    FAX = "optout_fax"
    MOBILE_APP = "optout_mobile_app"
    CCPA_DO_NOT_SELL = "ccpa_do_not_sell"


OPT_OUT_CHANGED_SUFFIX = "_changed_at"


def profile_definition() -> ResourceDefinition:
    """The built-in ``profile`` resource: people who receive marketing."""
    s = CampaignType.STRING
    fields: list[FieldDefinition] = [
        FieldDefinition(
            name="external_id",
            type=s,
            length=255,
            unique=True,
            description="The CRM id of the person; empty for profiles created by other means.",
        ),
        FieldDefinition(name="email", type=s, length=320),
        FieldDefinition(name="first_name", type=s, length=255),
        FieldDefinition(name="last_name", type=s, length=255),
        FieldDefinition(name="phone", type=s, length=64),
        FieldDefinition(name="mobile_phone", type=s, length=64),
        FieldDefinition(name="birth_date", type=CampaignType.DATE),
        FieldDefinition(name="address_line1", type=s, length=255),
        FieldDefinition(name="city", type=s, length=255),
        FieldDefinition(name="postal_code", type=s, length=32),
        FieldDefinition(name="country", type=s, length=255),
    ]
    for attribute in OptOutAttribute:
        fields.append(
            FieldDefinition(
                name=attribute.value,
                type=CampaignType.BOOLEAN,
                nullable=False,
                default=False,
                description="Opted out (true) or not.",
            )
        )
        fields.append(
            FieldDefinition(
                name=attribute.value + OPT_OUT_CHANGED_SUFFIX,
                type=CampaignType.DATETIME,
                description=f"When {attribute.value} last changed.",
            )
        )
    return ResourceDefinition(
        name="profile",
        identifier="external_id",
        fields=tuple(fields),
        description="People who receive marketing.",
    )


PROFILE = profile_definition()
