"""The emulated org's objects, declared as data.

Each :class:`SObject` says what Salesforce's describe would say about it (name, label, key prefix,
custom or standard) and lists its :class:`Field` s with the types and picklist values Salesforce
reports. The system fields every object has (``Id``, ``IsDeleted``, audit dates, owner) are added
by :func:`sobject`. The store creates one SQLite table per object, SOQL and writes validate names
against it, and describe publishes it. Adding an object (for example a custom object for marketing
events) is adding one more :class:`SObject` to :data:`SEED_OBJECTS`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property

__all__ = [
    "SEED_OBJECTS",
    "Field",
    "FieldType",
    "PicklistValue",
    "SObject",
    "Schema",
    "sobject",
]


class FieldType(StrEnum):
    """Field ``type`` values as describe reports them."""

    ID = "id"
    STRING = "string"
    BOOLEAN = "boolean"
    DATE = "date"
    DATETIME = "datetime"
    DOUBLE = "double"
    CURRENCY = "currency"
    INT = "int"
    PICKLIST = "picklist"
    REFERENCE = "reference"
    EMAIL = "email"
    PHONE = "phone"
    TEXTAREA = "textarea"
    URL = "url"


#: Types held as text and compared without regard to case.
TEXT_TYPES = frozenset(
    {
        FieldType.STRING,
        FieldType.PICKLIST,
        FieldType.EMAIL,
        FieldType.PHONE,
        FieldType.TEXTAREA,
        FieldType.URL,
    }
)
NUMBER_TYPES = frozenset({FieldType.DOUBLE, FieldType.CURRENCY, FieldType.INT})
_SOAP_TYPES = {
    FieldType.ID: "tns:ID",
    FieldType.BOOLEAN: "xsd:boolean",
    FieldType.DATE: "xsd:date",
    FieldType.DATETIME: "xsd:dateTime",
    FieldType.DOUBLE: "xsd:double",
    FieldType.CURRENCY: "xsd:double",
    FieldType.INT: "xsd:int",
    FieldType.REFERENCE: "tns:ID",
}


@dataclass(frozen=True, slots=True)
class PicklistValue:
    value: str
    label: str = ""
    active: bool = True
    default: bool = False


@dataclass(frozen=True)
class Field:
    """One field of an object, with the metadata describe publishes about it."""

    name: str
    type: FieldType
    label: str = ""
    length: int = 0
    nillable: bool = True
    createable: bool = True
    updateable: bool = True
    external_id: bool = False
    unique: bool = False
    defaulted_on_create: bool = False
    picklist: tuple[PicklistValue, ...] = ()
    restricted_picklist: bool = False
    reference_to: tuple[str, ...] = ()
    relationship_name: str | None = None
    precision: int = 0
    scale: int = 0

    @property
    def custom(self) -> bool:
        return self.name.endswith("__c")

    @property
    def id_lookup(self) -> bool:
        """Whether the field can identify a record in an upsert (Id, external ids, Email…)."""
        return self.type == FieldType.ID or self.external_id or self.type == FieldType.EMAIL

    @property
    def required(self) -> bool:
        """Whether a create must give a value (``REQUIRED_FIELD_MISSING`` otherwise)."""
        return (
            not self.nillable
            and self.createable
            and not self.defaulted_on_create
            and self.type != FieldType.BOOLEAN
        )

    @property
    def soap_type(self) -> str:
        return _SOAP_TYPES.get(self.type, "xsd:string")

    @cached_property
    def picklist_values(self) -> frozenset[str]:
        return frozenset(p.value for p in self.picklist if p.active)


def picklist(*values: str, default: str | None = None) -> tuple[PicklistValue, ...]:
    return tuple(PicklistValue(v, v, True, v == default) for v in values)


def _system(
    name: str,
    type_: FieldType,
    label: str,
    *,
    user_relationship: str | None = None,
    writable: bool = False,
) -> Field:
    """A field the emulator maintains (read-only unless ``writable``, never required)."""
    return Field(
        name,
        type_,
        label,
        18 if type_ in (FieldType.ID, FieldType.REFERENCE) else 0,
        nillable=False,
        createable=writable,
        updateable=writable,
        defaulted_on_create=True,
        reference_to=("User",) if user_relationship else (),
        relationship_name=user_relationship,
    )


def _system_fields(label: str) -> tuple[Field, ...]:
    """Fields every object has, maintained by the emulator itself."""
    return (
        _system("Id", FieldType.ID, f"{label} ID"),
        _system("IsDeleted", FieldType.BOOLEAN, "Deleted"),
        _system(
            "OwnerId", FieldType.REFERENCE, "Owner ID", user_relationship="Owner", writable=True
        ),
        _system("CreatedDate", FieldType.DATETIME, "Created Date"),
        _system("CreatedById", FieldType.REFERENCE, "Created By ID", user_relationship="CreatedBy"),
        _system("LastModifiedDate", FieldType.DATETIME, "Last Modified Date"),
        _system(
            "LastModifiedById",
            FieldType.REFERENCE,
            "Last Modified By ID",
            user_relationship="LastModifiedBy",
        ),
        _system("SystemModstamp", FieldType.DATETIME, "System Modstamp"),
    )


@dataclass(frozen=True)
class SObject:
    """One object type (standard or custom) and its fields."""

    name: str
    label: str
    label_plural: str
    key_prefix: str
    fields: tuple[Field, ...]
    #: Contact-style compound name: ``Name`` is read-only and computed from these fields.
    name_parts: tuple[str, ...] = ()

    @property
    def custom(self) -> bool:
        return self.name.endswith("__c")

    @cached_property
    def by_name(self) -> Mapping[str, Field]:
        """Fields by lower-case name: Salesforce names are case-insensitive."""
        return {f.name.lower(): f for f in self.fields}

    def field(self, name: str) -> Field | None:
        return self.by_name.get(name.lower())

    @cached_property
    def relationships(self) -> Mapping[str, Field]:
        """Reference fields by lower-case relationship name (``Account`` → ``AccountId``)."""
        return {
            f.relationship_name.lower(): f for f in self.fields if f.relationship_name is not None
        }

    @cached_property
    def external_ids(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if f.external_id)


def sobject(
    name: str,
    label: str,
    key_prefix: str,
    fields: Iterable[Field],
    *,
    label_plural: str | None = None,
    name_parts: tuple[str, ...] = (),
) -> SObject:
    """An object with the system fields prepended to ``fields``."""
    return SObject(
        name,
        label,
        label_plural or f"{label}s",
        key_prefix,
        (*_system_fields(label), *fields),
        name_parts,
    )


class Schema:
    """The objects of the org, looked up by name without regard to case, or by key prefix."""

    def __init__(self, objects: Iterable[SObject]) -> None:
        self.objects = tuple(objects)
        self._by_name = {o.name.lower(): o for o in self.objects}
        self._by_prefix = {o.key_prefix: o for o in self.objects}
        if len(self._by_name) != len(self.objects) or len(self._by_prefix) != len(self.objects):
            raise ValueError("object names and key prefixes must be unique")
        for obj in self.objects:
            for f in obj.fields:
                for target in f.reference_to:
                    if target != "User" and target.lower() not in self._by_name:
                        raise ValueError(f"{obj.name}.{f.name} refers to unknown {target}")

    def get(self, name: str) -> SObject | None:
        return self._by_name.get(name.lower())

    def by_prefix(self, prefix: str) -> SObject | None:
        return self._by_prefix.get(prefix)


_S, _B, _D, _DT = FieldType.STRING, FieldType.BOOLEAN, FieldType.DATE, FieldType.DATETIME
_INDUSTRIES = picklist(
    "Agriculture",
    "Banking",
    "Chemicals",
    "Communications",
    "Construction",
    "Education",
    "Energy",
    "Finance",
    "Healthcare",
    "Hospitality",
    "Insurance",
    "Manufacturing",
    "Media",
    "Retail",
    "Technology",
    "Transportation",
)

ACCOUNT = sobject(
    "Account",
    "Account",
    "001",
    (
        Field("Name", _S, "Account Name", 255, nillable=False),
        Field("AccountNumber", _S, "Account Number", 40),
        Field(
            "Type",
            FieldType.PICKLIST,
            "Account Type",
            255,
            picklist=picklist(
                "Prospect", "Customer - Direct", "Customer - Channel", "Partner", "Other"
            ),
        ),
        Field("Industry", FieldType.PICKLIST, "Industry", 255, picklist=_INDUSTRIES),
        Field("AnnualRevenue", FieldType.CURRENCY, "Annual Revenue", precision=18),
        Field("NumberOfEmployees", FieldType.INT, "Employees", precision=8),
        Field("Phone", FieldType.PHONE, "Account Phone", 40),
        Field("Website", FieldType.URL, "Website", 255),
        Field("BillingStreet", FieldType.TEXTAREA, "Billing Street", 255),
        Field("BillingCity", _S, "Billing City", 40),
        Field("BillingPostalCode", _S, "Billing Zip/Postal Code", 20),
        Field("BillingCountry", _S, "Billing Country", 80),
        Field("Description", FieldType.TEXTAREA, "Account Description", 32000),
    ),
)

CONTACT = sobject(
    "Contact",
    "Contact",
    "003",
    (
        Field(
            "AccountId",
            FieldType.REFERENCE,
            "Account ID",
            18,
            reference_to=("Account",),
            relationship_name="Account",
        ),
        Field(
            "Salutation",
            FieldType.PICKLIST,
            "Salutation",
            40,
            picklist=picklist("Mr.", "Ms.", "Mrs.", "Dr.", "Prof."),
        ),
        Field("FirstName", _S, "First Name", 40),
        Field("LastName", _S, "Last Name", 80, nillable=False),
        Field("Name", _S, "Full Name", 121, nillable=False, createable=False, updateable=False),
        Field("Email", FieldType.EMAIL, "Email", 80),
        Field("Phone", FieldType.PHONE, "Business Phone", 40),
        Field("MobilePhone", FieldType.PHONE, "Mobile Phone", 40),
        Field("Birthdate", _D, "Birthdate"),
        Field("Title", _S, "Title", 128),
        Field("Department", _S, "Department", 80),
        Field(
            "LeadSource",
            FieldType.PICKLIST,
            "Lead Source",
            255,
            picklist=picklist(
                "Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Trade Show", "Other"
            ),
        ),
        Field(
            "Preferred_Language__c",
            FieldType.PICKLIST,
            "Preferred Language",
            255,
            picklist=picklist("en", "de", "fr", "it", "es", "ja", "zh", default="en"),
            restricted_picklist=True,
        ),
        Field("HasOptedOutOfEmail", _B, "Email Opt Out", nillable=False, defaulted_on_create=True),
        Field("HasOptedOutOfFax", _B, "Fax Opt Out", nillable=False, defaulted_on_create=True),
        Field("DoNotCall", _B, "Do Not Call", nillable=False, defaulted_on_create=True),
        Field("MailingStreet", FieldType.TEXTAREA, "Mailing Street", 255),
        Field("MailingCity", _S, "Mailing City", 40),
        Field("MailingPostalCode", _S, "Mailing Zip/Postal Code", 20),
        Field("MailingCountry", _S, "Mailing Country", 80),
        Field("Description", FieldType.TEXTAREA, "Contact Description", 32000),
        Field("Loyalty_Points__c", FieldType.DOUBLE, "Loyalty Points", precision=18, scale=0),
        Field(
            "Customer_Number__c",
            _S,
            "Customer Number",
            40,
            external_id=True,
            unique=True,
        ),
    ),
    name_parts=("FirstName", "LastName"),
)

SUBSCRIPTION = sobject(
    "Subscription__c",
    "Subscription",
    "a0X",
    (
        Field("Name", _S, "Subscription Name", 80, nillable=False, defaulted_on_create=True),
        Field(
            "Contact__c",
            FieldType.REFERENCE,
            "Contact",
            18,
            reference_to=("Contact",),
            relationship_name="Contact__r",
        ),
        Field(
            "Plan__c",
            FieldType.PICKLIST,
            "Plan",
            255,
            # API names differ from labels, as custom picklists often do in real orgs.
            picklist=tuple(
                PicklistValue(value, f"{value} plan")
                for value in ("Free", "Basic", "Plus", "Premium")
            ),
        ),
        Field("Start_Date__c", _D, "Start Date"),
        Field("Active__c", _B, "Active", nillable=False, defaulted_on_create=True),
        Field("External_Key__c", _S, "External Key", 64, external_id=True, unique=True),
    ),
)


def _email_event(name: str, label: str, key_prefix: str, *extra: Field) -> SObject:
    """A marketing event object (one record per send, open, click or bounce of a delivery).

    ``Event_Id__c`` is the Campaign store's event id as a unique external id, so that writing an
    event twice (a retry, a replay) updates one record instead of creating a second.
    """
    return sobject(
        name,
        label,
        key_prefix,
        (
            Field("Name", _S, f"{label} Name", 80, nillable=False, defaulted_on_create=True),
            Field("Event_Id__c", _S, "Event Id", 64, external_id=True, unique=True),
            Field(
                "Contact__c",
                FieldType.REFERENCE,
                "Contact",
                18,
                reference_to=("Contact",),
                relationship_name="Contact__r",
            ),
            Field("Delivery_Id__c", _S, "Delivery Id", 64),
            Field("Delivery_Name__c", _S, "Delivery Name", 255),
            Field("Occurred_At__c", _DT, "Occurred At"),
            *extra,
        ),
    )


EMAIL_SEND = _email_event("Email_Send__c", "Email Send", "a1S")
EMAIL_OPEN = _email_event("Email_Open__c", "Email Open", "a1O")
EMAIL_CLICK = _email_event(
    "Email_Click__c", "Email Click", "a1C", Field("Url__c", FieldType.TEXTAREA, "URL", 2000)
)
EMAIL_BOUNCE = _email_event(
    "Email_Bounce__c",
    "Email Bounce",
    "a1B",
    Field(
        "Bounce_Type__c",
        FieldType.PICKLIST,
        "Bounce Type",
        255,
        picklist=picklist("Hard", "Soft"),
        restricted_picklist=True,
    ),
    Field("Reason__c", FieldType.TEXTAREA, "Reason", 1000),
)

#: The objects of a new emulated org.
SEED_OBJECTS: tuple[SObject, ...] = (
    ACCOUNT,
    CONTACT,
    SUBSCRIPTION,
    EMAIL_SEND,
    EMAIL_OPEN,
    EMAIL_CLICK,
    EMAIL_BOUNCE,
)
