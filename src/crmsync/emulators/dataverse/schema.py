"""The emulated organisation's tables, declared as data.

Each :class:`Table` says what Dataverse's metadata would say about it (logical name, entity set,
primary id/name, change tracking, alternate keys) and lists its :class:`Attribute` s with the types
and options Dataverse reports. The store creates one SQLite table per :class:`Table`, the query
layer validates names against it, and the metadata endpoints publish it. Adding a table (for
example a custom activity table for marketing events) is adding one more :class:`Table` to
:data:`SEED_TABLES`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from typing import Literal

__all__ = [
    "SEED_TABLES",
    "AlternateKey",
    "Attribute",
    "AttributeType",
    "Option",
    "Schema",
    "Table",
]

RequiredLevel = Literal["None", "Recommended", "ApplicationRequired", "SystemRequired"]
DateTimeBehavior = Literal["UserLocal", "DateOnly", "TimeZoneIndependent"]


class AttributeType(StrEnum):
    """``AttributeType`` values as Dataverse reports them (``AttributeTypeName`` adds ``Type``)."""

    STRING = "String"
    MEMO = "Memo"
    INTEGER = "Integer"
    BIGINT = "BigInt"
    DECIMAL = "Decimal"
    DOUBLE = "Double"
    MONEY = "Money"
    BOOLEAN = "Boolean"
    DATETIME = "DateTime"
    PICKLIST = "Picklist"
    STATE = "State"
    STATUS = "Status"
    LOOKUP = "Lookup"
    CUSTOMER = "Customer"
    UNIQUEIDENTIFIER = "Uniqueidentifier"


#: Types whose value is one of the attribute's options.
OPTION_TYPES = frozenset({AttributeType.PICKLIST, AttributeType.STATE, AttributeType.STATUS})
#: Types that point at another record (read as ``_<name>_value``).
LOOKUP_TYPES = frozenset({AttributeType.LOOKUP, AttributeType.CUSTOMER})
#: Types stored as text and compared case-insensitively.
TEXT_TYPES = frozenset({AttributeType.STRING, AttributeType.MEMO})


@dataclass(frozen=True, slots=True)
class Option:
    """One choice of a picklist or yes/no attribute."""

    value: int
    label: str


@dataclass(frozen=True, slots=True)
class Attribute:
    """One column of a table, with the metadata Dataverse publishes about it."""

    logical_name: str
    type: AttributeType
    display_name: str = ""
    required: RequiredLevel = "None"
    max_length: int | None = None
    datetime_behavior: DateTimeBehavior | None = None
    #: Picklist/State/Status choices; for booleans ``(false_option, true_option)``.
    options: tuple[Option, ...] = ()
    #: Logical names of the tables a lookup may point at.
    targets: tuple[str, ...] = ()
    valid_for_create: bool = True
    valid_for_update: bool = True
    valid_for_read: bool = True
    #: Lowest/highest accepted number (integers, money, decimals).
    min_value: float | None = None
    max_value: float | None = None

    @property
    def wire_name(self) -> str:
        """The JSON property name: lookups are read as ``_<name>_value``."""
        if self.type in LOOKUP_TYPES:
            return f"_{self.logical_name}_value"
        return self.logical_name

    @property
    def type_name(self) -> str:
        """``AttributeTypeName.Value`` (e.g. ``StringType``)."""
        return f"{self.type.value}Type"

    def navigation_property(self, target: str) -> str:
        """The single-valued navigation property used to bind this lookup to ``target``."""
        if len(self.targets) > 1:
            return f"{self.logical_name}_{target}"
        return self.logical_name

    @property
    def true_option(self) -> Option:
        return self.options[1]

    @property
    def false_option(self) -> Option:
        return self.options[0]

    def option_label(self, value: int) -> str | None:
        for option in self.options:
            if option.value == value:
                return option.label
        return None


@dataclass(frozen=True, slots=True)
class AlternateKey:
    """An alternate key: a named set of attributes whose values are unique together."""

    logical_name: str
    display_name: str
    attributes: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    """A Dataverse table (entity) and how it is exposed by the Web API."""

    logical_name: str
    entity_set: str
    primary_id: str
    primary_name: str
    display_name: str
    attributes: tuple[Attribute, ...]
    change_tracking: bool = True
    alternate_keys: tuple[AlternateKey, ...] = ()
    is_custom: bool = False
    #: ``fullname``-style attributes computed from others: name → the parts joined by a space.
    computed: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @cached_property
    def by_name(self) -> dict[str, Attribute]:
        """Attributes by logical name."""
        return {attribute.logical_name: attribute for attribute in self.attributes}

    @cached_property
    def by_wire_name(self) -> dict[str, Attribute]:
        """Attributes by the name they have in JSON (``_x_value`` for lookups)."""
        return {attribute.wire_name: attribute for attribute in self.attributes}

    @cached_property
    def navigation(self) -> dict[str, tuple[Attribute, str]]:
        """Single-valued navigation property → (lookup attribute, target table)."""
        result: dict[str, tuple[Attribute, str]] = {}
        for attribute in self.attributes:
            for target in attribute.targets:
                result[attribute.navigation_property(target)] = (attribute, target)
        return result

    @property
    def type_name(self) -> str:
        """The OData entity type (``Microsoft.Dynamics.CRM.contact``)."""
        return f"Microsoft.Dynamics.CRM.{self.logical_name}"

    def key(self, name: str) -> AlternateKey | None:
        for key in self.alternate_keys:
            if key.logical_name == name:
                return key
        return None


class Schema:
    """All tables of the organisation, found by logical name or entity set name."""

    def __init__(self, tables: Iterable[Table]) -> None:
        self.tables: tuple[Table, ...] = tuple(tables)
        self.by_logical_name = {table.logical_name: table for table in self.tables}
        self.by_entity_set = {table.entity_set: table for table in self.tables}


# --- building blocks for the seed schema -------------------------------------------------------


def _string(name: str, display: str, max_length: int = 100, **kw: object) -> Attribute:
    return Attribute(name, AttributeType.STRING, display, max_length=max_length, **kw)  # type: ignore[arg-type]


def _yes_no(name: str, display: str, false: str = "No", true: str = "Yes") -> Attribute:
    return Attribute(
        name, AttributeType.BOOLEAN, display, options=(Option(0, false), Option(1, true))
    )


def _picklist(name: str, display: str, *labels: tuple[int, str]) -> Attribute:
    return Attribute(
        name, AttributeType.PICKLIST, display, options=tuple(Option(v, lbl) for v, lbl in labels)
    )


def _money(name: str, display: str) -> Attribute:
    return Attribute(
        name,
        AttributeType.MONEY,
        display,
        min_value=-922337203685477.0,
        max_value=922337203685477.0,
    )


def _system_columns(primary_id: str, display: str) -> tuple[Attribute, ...]:
    """The columns every table has: id, audit dates, row version, state and status."""
    read_only = {"valid_for_create": False, "valid_for_update": False}
    return (
        Attribute(
            primary_id,
            AttributeType.UNIQUEIDENTIFIER,
            display,
            required="SystemRequired",
            valid_for_update=False,
        ),
        Attribute(
            "createdon",
            AttributeType.DATETIME,
            "Created On",
            datetime_behavior="UserLocal",
            **read_only,  # type: ignore[arg-type]
        ),
        Attribute(
            "modifiedon",
            AttributeType.DATETIME,
            "Modified On",
            datetime_behavior="UserLocal",
            **read_only,  # type: ignore[arg-type]
        ),
        Attribute("versionnumber", AttributeType.BIGINT, "Version Number", **read_only),  # type: ignore[arg-type]
        Attribute(
            "statecode",
            AttributeType.STATE,
            "Status",
            required="SystemRequired",
            options=(Option(0, "Active"), Option(1, "Inactive")),
        ),
        Attribute(
            "statuscode",
            AttributeType.STATUS,
            "Status Reason",
            options=(Option(1, "Active"), Option(2, "Inactive")),
        ),
    )


_ALLOW = ("Allow", "Do Not Allow")

CONTACT = Table(
    logical_name="contact",
    entity_set="contacts",
    primary_id="contactid",
    primary_name="fullname",
    display_name="Contact",
    attributes=(
        *_system_columns("contactid", "Contact"),
        _string("fullname", "Full Name", 160, valid_for_create=False, valid_for_update=False),
        _string("firstname", "First Name", 50, required="Recommended"),
        _string("lastname", "Last Name", 50, required="ApplicationRequired"),
        _string("emailaddress1", "Email"),
        _string("emailaddress2", "Email Address 2"),
        _string("telephone1", "Business Phone", 50),
        _string("mobilephone", "Mobile Phone", 50),
        _string("jobtitle", "Job Title"),
        Attribute("birthdate", AttributeType.DATETIME, "Birthday", datetime_behavior="DateOnly"),
        _picklist("gendercode", "Gender", (1, "Male"), (2, "Female")),
        _picklist(
            "preferredcontactmethodcode",
            "Preferred Method of Contact",
            (1, "Any"),
            (2, "Email"),
            (3, "Phone"),
            (4, "Fax"),
            (5, "Mail"),
        ),
        _yes_no("donotemail", "Do not allow Emails", *_ALLOW),
        _yes_no("donotphone", "Do not allow Phone Calls", *_ALLOW),
        _yes_no("donotbulkemail", "Do not allow Bulk Emails", *_ALLOW),
        _yes_no("donotpostalmail", "Do not allow Mails", *_ALLOW),
        _yes_no("donotfax", "Do not allow Faxes", *_ALLOW),
        _money("creditlimit", "Credit Limit"),
        Attribute(
            "numberofchildren", AttributeType.INTEGER, "No. of Children", min_value=0, max_value=1e9
        ),
        _string("address1_line1", "Address 1: Street 1", 250),
        _string("address1_city", "Address 1: City", 80),
        _string("address1_postalcode", "Address 1: ZIP/Postal Code", 20),
        _string("address1_country", "Address 1: Country/Region", 80),
        Attribute(
            "lastusedincampaign",
            AttributeType.DATETIME,
            "Last Date Included in Campaign",
            datetime_behavior="UserLocal",
        ),
        Attribute(
            "parentcustomerid",
            AttributeType.CUSTOMER,
            "Company Name",
            targets=("account", "contact"),
        ),
        Attribute("description", AttributeType.MEMO, "Description", max_length=2000),
        # A custom column with an alternate key, as organisations commonly add to match their
        # contacts with another system's records (upserts by key).
        _string("crmsync_externalid", "External Id", 100),
    ),
    alternate_keys=(
        AlternateKey("crmsync_externalid_key", "External Id Key", ("crmsync_externalid",)),
    ),
    computed={"fullname": ("firstname", "lastname")},
)

ACCOUNT = Table(
    logical_name="account",
    entity_set="accounts",
    primary_id="accountid",
    primary_name="name",
    display_name="Account",
    attributes=(
        *_system_columns("accountid", "Account"),
        _string("name", "Account Name", 160, required="ApplicationRequired"),
        _string("accountnumber", "Account Number", 20),
        _string("emailaddress1", "Email"),
        _string("telephone1", "Main Phone", 50),
        _string("address1_city", "Address 1: City", 80),
        _string("address1_country", "Address 1: Country/Region", 80),
        _money("revenue", "Annual Revenue"),
        Attribute(
            "numberofemployees",
            AttributeType.INTEGER,
            "Number of Employees",
            min_value=0,
            max_value=1e9,
        ),
        _picklist(
            "industrycode",
            "Industry",
            (1, "Accounting"),
            (2, "Agriculture and Non-petrol Natural Resource Extraction"),
            (3, "Broadcasting Printing and Publishing"),
            (4, "Brokers"),
            (5, "Building Supply Retail"),
            (6, "Business Services"),
            (7, "Consulting"),
            (8, "Consumer Services"),
            (9, "Design, Direction and Creative Management"),
            (10, "Distributors, Dispatchers and Processors"),
        ),
    ),
    alternate_keys=(
        AlternateKey("crmsync_accountnumberkey", "Account Number Key", ("accountnumber",)),
    ),
)

SUBSCRIPTION = Table(
    logical_name="crmsync_subscription",
    entity_set="crmsync_subscriptions",
    primary_id="crmsync_subscriptionid",
    primary_name="crmsync_name",
    display_name="Subscription",
    is_custom=True,
    attributes=(
        *_system_columns("crmsync_subscriptionid", "Subscription"),
        _string("crmsync_name", "Name", 100, required="ApplicationRequired"),
        Attribute("crmsync_contactid", AttributeType.LOOKUP, "Contact", targets=("contact",)),
        _picklist(
            "crmsync_plan",
            "Plan",
            (100000000, "Free"),
            (100000001, "Standard"),
            (100000002, "Premium"),
        ),
        Attribute(
            "crmsync_startdate", AttributeType.DATETIME, "Start Date", datetime_behavior="DateOnly"
        ),
        _yes_no("crmsync_active", "Active"),
        _string("crmsync_externalkey", "External Key", 100),
    ),
    alternate_keys=(
        AlternateKey("crmsync_externalkey_key", "External Key", ("crmsync_externalkey",)),
    ),
)

AUDIT_NOTE = Table(
    logical_name="crmsync_auditnote",
    entity_set="crmsync_auditnotes",
    primary_id="crmsync_auditnoteid",
    primary_name="crmsync_name",
    display_name="Audit Note",
    is_custom=True,
    change_tracking=False,
    attributes=(
        *_system_columns("crmsync_auditnoteid", "Audit Note"),
        _string("crmsync_name", "Name", 100, required="ApplicationRequired"),
        Attribute("crmsync_text", AttributeType.MEMO, "Text", max_length=4000),
        Attribute(
            "crmsync_occurredon",
            AttributeType.DATETIME,
            "Occurred On",
            datetime_behavior="TimeZoneIndependent",
        ),
        Attribute("crmsync_score", AttributeType.DECIMAL, "Score", min_value=-1e9, max_value=1e9),
        Attribute("crmsync_weight", AttributeType.DOUBLE, "Weight", min_value=-1e9, max_value=1e9),
    ),
)


def _email_event(name: str, display: str, *extra: Attribute) -> Table:
    """A marketing event table (one row per send, open, click or bounce of a delivery).

    ``crmsync_eventid`` is the Campaign store's event id under an alternate key, so that writing
    an event twice (a retry, a replay) updates one row instead of creating a second.
    """
    return Table(
        logical_name=name,
        entity_set=f"{name}s",
        primary_id=f"{name}id",
        primary_name="crmsync_name",
        display_name=display,
        is_custom=True,
        # Written by crmsync, never read back by change tracking.
        change_tracking=False,
        attributes=(
            *_system_columns(f"{name}id", display),
            _string("crmsync_name", "Subject", 200),
            _string("crmsync_eventid", "Event Id", 100),
            Attribute("crmsync_contactid", AttributeType.LOOKUP, "Contact", targets=("contact",)),
            _string("crmsync_deliveryid", "Delivery Id", 100),
            _string("crmsync_deliveryname", "Delivery Name", 200),
            Attribute(
                "crmsync_occurredon",
                AttributeType.DATETIME,
                "Occurred On",
                datetime_behavior="UserLocal",
            ),
            *extra,
        ),
        alternate_keys=(AlternateKey("crmsync_eventid_key", "Event Id", ("crmsync_eventid",)),),
    )


EMAIL_SEND = _email_event("crmsync_emailsend", "Email Send")
EMAIL_OPEN = _email_event("crmsync_emailopen", "Email Open")
EMAIL_CLICK = _email_event("crmsync_emailclick", "Email Click", _string("crmsync_url", "URL", 2000))
EMAIL_BOUNCE = _email_event(
    "crmsync_emailbounce",
    "Email Bounce",
    _picklist("crmsync_bouncetype", "Bounce Type", (100000000, "Hard"), (100000001, "Soft")),
    _string("crmsync_reason", "Reason", 1000),
)

#: The tables of a freshly started emulator.
SEED_TABLES: tuple[Table, ...] = (
    CONTACT,
    ACCOUNT,
    SUBSCRIPTION,
    AUDIT_NOTE,
    EMAIL_SEND,
    EMAIL_OPEN,
    EMAIL_CLICK,
    EMAIL_BOUNCE,
)
