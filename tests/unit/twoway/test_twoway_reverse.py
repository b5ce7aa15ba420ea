"""The reverse direction of each mapping setting: converters, fields not sent back, refusals."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest

from crmsync.config.models import InboundMapping
from crmsync.connectors.base import CrmType, FieldInfo, Option, TableInfo
from crmsync.store.resources import ResourceDefinition
from crmsync.sync.parse import ConversionError, RejectCode
from crmsync.twoway.reverse import NotSent, NotSentReason, ReverseMapping, reverse_mapping

T = CrmType
TIERS = (Option(1, "Bronze"), Option(2, "Gold"), Option(3, "Platinum"))
YES_NO = (Option(False, "Allow"), Option(True, "Do Not Allow"))

CONTACT = TableInfo(
    name="contact",
    collection="contacts",
    primary_key="contactid",
    primary_name="fullname",
    change_tracking=True,
    version_field="versionnumber",
    modified_field="modifiedon",
    fields={
        f.name: f
        for f in (
            FieldInfo("contactid", T.UNIQUEIDENTIFIER, read_only=True),
            FieldInfo("versionnumber", T.BIGINT, read_only=True),
            FieldInfo("modifiedon", T.DATETIME, read_only=True, date_behavior="UserLocal"),
            FieldInfo("firstname", T.STRING),
            FieldInfo("emailaddress1", T.STRING),
            FieldInfo("description", T.MEMO),
            FieldInfo("tier", T.PICKLIST, options=TIERS),
            FieldInfo("rank", T.PICKLIST, options=(*TIERS, Option(4, "Gold"))),
            FieldInfo("donotbulkemail", T.BOOLEAN, options=YES_NO),
            FieldInfo("numberofchildren", T.INTEGER),
            FieldInfo("bigcount", T.BIGINT),
            FieldInfo("creditlimit", T.MONEY),
            FieldInfo("birthdate", T.DATE, date_behavior="DateOnly"),
            FieldInfo("lastcall", T.DATETIME, date_behavior="UserLocal"),
            FieldInfo(
                "parentcustomerid",
                T.LOOKUP,
                lookup_targets=("account", "contact"),
                read_name="_parentcustomerid_value",
            ),
            FieldInfo(
                "preferredsystemuserid",
                T.LOOKUP,
                lookup_targets=("systemuser",),
                read_name="_preferredsystemuserid_value",
            ),
            FieldInfo("blob", T.OTHER),
        )
    },
)

SF_CONTACT = TableInfo(
    name="Contact",
    collection="Contact",
    primary_key="Id",
    primary_name="Name",
    change_tracking=True,
    fields={
        f.name: f
        for f in (
            FieldInfo("Id", T.UNIQUEIDENTIFIER, read_only=True),
            FieldInfo("LeadSource", T.PICKLIST, options=(Option("Web", "Web"), Option("Ad", "Ad"))),
            FieldInfo("Rating", T.PICKLIST),
        )
    },
)

FIELD_TYPES = {
    "crm_id": {"type": "string", "length": 36},
    "first": {"type": "string", "length": 50},
    "email": {"type": "string", "length": 100},
    "notes": {"type": "text"},
    "tier": {"type": "string", "length": 20},
    "tier_code": {"type": "integer"},
    "bulk": {"type": "string", "length": 20},
    "bulk_flag": {"type": "boolean"},
    "bulk_int": {"type": "integer"},
    "children": {"type": "string", "length": 20},
    "children_num": {"type": "double"},
    "children_single": {"type": "float"},
    "big_num": {"type": "double"},
    "credit": {"type": "double"},
    "credit_single": {"type": "float"},
    "born": {"type": "date"},
    "born_at": {"type": "datetime"},
    "called": {"type": "datetime"},
    "called_day": {"type": "date"},
    "called_text": {"type": "string", "length": 40},
    "owner": {"type": "string", "length": 36},
    "blob": {"type": "text"},
    "modified": {"type": "datetime"},
    "source": {"type": "string", "length": 20},
}
MEMBER = ResourceDefinition.model_validate(
    {
        "name": "member",
        "identifier": "crm_id",
        "fields": [{"name": name, **spec} for name, spec in FIELD_TYPES.items()],
    }
)


def reverse(
    fields: list[tuple[str, str] | tuple[str, str, bool]],
    *,
    table: TableInfo = CONTACT,
    loc: tuple[str | int, ...] | None = None,
    **settings: Any,
) -> ReverseMapping:
    mapping = InboundMapping.model_validate(
        {
            "name": "members",
            "connection": "crm",
            "crm_table": table.name,
            "resource": "member",
            "primary_key": {"campaign": "crm_id"},
            "fields": [
                {"crm": f[0], "campaign": f[1], "apply_updates": f[2] if len(f) > 2 else True}
                for f in fields
            ],
            **settings,
        }
    )
    return reverse_mapping(mapping, table, MEMBER, loc=loc)


def converter(result: ReverseMapping, campaign: str) -> Any:
    assert result.issues == ()
    (found,) = [f for f in result.fields if f.campaign == campaign]
    return found.convert


def refused(result: ReverseMapping) -> list[tuple[str, str]]:
    assert result.fields == ()
    return [(issue.path, issue.message) for issue in result.issues]


def rejects(convert: Any, value: Any, code: RejectCode) -> str:
    with pytest.raises(ConversionError) as caught:
        convert(value)
    assert caught.value.code is code
    return caught.value.message


def test_key_read_only_and_insert_only_fields_are_never_sent_back() -> None:
    result = reverse(
        [
            ("contactid", "crm_id"),
            ("modifiedon", "modified"),
            ("emailaddress1", "email", False),
            ("firstname", "first"),
        ]
    )

    assert result.not_sent == (
        NotSent("crm_id", "contactid", NotSentReason.KEY),
        NotSent("modified", "modifiedon", NotSentReason.READ_ONLY),
        NotSent("email", "emailaddress1", NotSentReason.INSERT_ONLY),
    )
    assert [(f.campaign, f.crm) for f in result.fields] == [("first", "firstname")]
    assert result.issues == ()


def test_text_goes_back_as_it_is_and_an_empty_text_as_no_value() -> None:
    result = reverse([("firstname", "first"), ("description", "notes")])
    first, notes = converter(result, "first"), converter(result, "notes")

    assert first("Ada") == "Ada"
    assert first("") is None
    assert first(None) is None
    assert notes("a\nlong text") == "a\nlong text"


@pytest.mark.parametrize(
    ("crm", "campaign", "settings", "sent", "expected"),
    [
        ("tier", "tier", {"picklist_values": "display"}, "Gold", 2),
        ("tier", "tier", {}, "3", 3),
        ("tier", "tier_code", {}, 1, 1),
        ("donotbulkemail", "bulk", {"picklist_values": "display"}, "Do Not Allow", True),
        ("donotbulkemail", "bulk", {}, "false", False),
        ("donotbulkemail", "bulk_flag", {}, True, True),
        ("donotbulkemail", "bulk_int", {}, 0, False),
        ("numberofchildren", "children", {}, "12", 12),
        ("numberofchildren", "children_num", {}, 4.0, 4),
        ("creditlimit", "credit", {}, 12.5, 12.5),
        ("birthdate", "born", {}, date(2000, 2, 29), date(2000, 2, 29)),
        ("birthdate", "born_at", {}, datetime(2000, 2, 29, tzinfo=UTC), date(2000, 2, 29)),
        (
            "lastcall",
            "called",
            {},
            datetime(2026, 1, 1, 10, tzinfo=timezone(timedelta(hours=2))),
            datetime(2026, 1, 1, 8, tzinfo=UTC),
        ),
        (
            "lastcall",
            "called_text",
            {},
            "2026-01-01T08:00:00Z",
            datetime(2026, 1, 1, 8, tzinfo=UTC),
        ),
        ("preferredsystemuserid", "owner", {}, "0b2f-id", "0b2f-id"),
    ],
)
def test_each_conversion_goes_back_to_the_crm_value(
    crm: str, campaign: str, settings: dict[str, Any], sent: Any, expected: Any
) -> None:
    convert = converter(reverse([(crm, campaign)], **settings), campaign)
    got = convert(sent)
    assert got == expected
    assert type(got) is type(expected)


@pytest.mark.parametrize(
    ("crm", "campaign", "settings", "sent", "code", "says"),
    [
        (
            "tier",
            "tier",
            {"picklist_values": "display"},
            "Silver",
            RejectCode.UNKNOWN_OPTION,
            "'Bronze', 'Gold', 'Platinum'",
        ),
        (
            "tier",
            "tier",
            {"picklist_values": "display"},
            "gold",
            RejectCode.UNKNOWN_OPTION,
            "not a value of 'tier'",
        ),
        ("tier", "tier_code", {}, 9, RejectCode.UNKNOWN_OPTION, "not a value of 'tier'"),
        ("donotbulkemail", "bulk_int", {}, 2, RejectCode.UNKNOWN_OPTION, "not a value"),
        ("numberofchildren", "children", {}, "twelve", RejectCode.INVALID_VALUE, "whole number"),
        ("numberofchildren", "children_num", {}, 2.5, RejectCode.INVALID_VALUE, "whole number"),
        (
            "birthdate",
            "born_at",
            {},
            datetime(2000, 2, 29, 9, tzinfo=UTC),
            RejectCode.INVALID_VALUE,
            "not midnight UTC",
        ),
        (
            "lastcall",
            "called_text",
            {},
            "2026-01-01 08:00",
            RejectCode.INVALID_VALUE,
            "no time zone",
        ),
        ("lastcall", "called", {}, datetime(2026, 1, 1), RejectCode.INVALID_VALUE, "no time zone"),
    ],
)
def test_a_value_the_crm_field_cannot_take_is_rejected(
    crm: str, campaign: str, settings: dict[str, Any], sent: Any, code: RejectCode, says: str
) -> None:
    convert = converter(reverse([(crm, campaign)], **settings), campaign)
    assert says in rejects(convert, sent, code)


@pytest.mark.parametrize(
    ("crm", "campaign", "says"),
    [
        ("lastcall", "called_day", "the date keeps the day, not the time"),
        ("creditlimit", "credit_single", "single-precision"),
        ("numberofchildren", "children_single", "single-precision"),
        ("bigcount", "big_num", "53 bits"),
        ("parentcustomerid", "owner", "several tables (account, contact)"),
        ("blob", "blob", "does not know the CRM type"),
    ],
)
def test_conversions_that_lose_information_are_refused(crm: str, campaign: str, says: str) -> None:
    ((path, message),) = refused(reverse([(crm, campaign)]))
    assert path == "inbound.mappings.members.fields[0].campaign"
    assert f"CRM field '{crm}'" in message
    assert says in message


def test_two_options_sharing_a_label_are_refused_for_display_values_only() -> None:
    ((path, message),) = refused(reverse([("rank", "tier")], picklist_values="display"))
    assert path == "inbound.mappings.members.fields[0].crm"
    assert "options 2 and 4 of 'rank' share the label 'Gold'" in message

    technical = converter(reverse([("rank", "tier")]), "tier")
    assert technical("4") == 4


def test_replacements_map_back_through_their_inverse() -> None:
    result = reverse(
        [("firstname", "first"), ("tier", "tier")],
        picklist_values="display",
        replacements=[
            {"field": "firstname", "from": None, "to": "(unknown)"},
            {"field": "firstname", "from": "Bob", "to": "Robert"},
            {"field": "tier", "from": 3, "to": "VIP"},
        ],
    )
    first, tier = converter(result, "first"), converter(result, "tier")

    assert first("(unknown)") is None
    assert first("Robert") == "Bob"
    assert first("Ada") == "Ada"
    assert first(None) is None
    assert tier("VIP") == 3
    assert tier("Gold") == 2
    assert "not a value of 'tier'" in rejects(tier, "Platinum", RejectCode.UNKNOWN_OPTION)


@pytest.mark.parametrize(
    ("field", "replacements", "path", "says"),
    [
        (
            ("firstname", "first"),
            [
                {"field": "firstname", "from": "Bob", "to": "Rob"},
                {"field": "firstname", "from": "Bobby", "to": "Rob"},
            ],
            "replacements[1].to",
            "CRM 'Bob' and 'Bobby' of 'firstname' both become 'Rob'",
        ),
        (
            ("firstname", "first"),
            [{"field": "firstname", "from": "n/a", "to": None}],
            "fields[0].crm",
            "CRM 'n/a' and an empty value of 'firstname' both become None",
        ),
        (
            ("firstname", "first"),
            [{"field": "firstname", "from": "n/a", "to": ""}],
            "fields[0].crm",
            "both become None",
        ),
        (
            ("tier", "tier"),
            [{"field": "tier", "from": 1, "to": "Gold"}],
            "fields[0].crm",
            "CRM 1 and option 2 of 'tier' both become 'Gold'",
        ),
        (
            ("tier", "tier_code"),
            [{"field": "tier", "from": "Bronze", "to": 3}],
            "fields[0].crm",
            "both become 3 in Campaign field 'tier_code'",
        ),
    ],
)
def test_replacements_that_cannot_be_reversed_are_refused(
    field: tuple[str, str], replacements: list[dict[str, Any]], path: str, says: str
) -> None:
    settings: dict[str, Any] = {"replacements": replacements}
    if field[0] == "tier" and field[1] == "tier":
        settings["picklist_values"] = "display"
    ((where, message),) = refused(reverse([field], **settings))
    assert where == f"inbound.mappings.members.{path}"
    assert says in message
    assert "cannot be written back to one CRM value" in message


def test_salesforce_picklists_of_text_values() -> None:
    known = converter(reverse([("LeadSource", "source")], table=SF_CONTACT), "source")
    assert known("Web") == "Web"
    assert "'Web', 'Ad'" in rejects(known, "Fax", RejectCode.UNKNOWN_OPTION)

    unknown_options = converter(reverse([("Rating", "source")], table=SF_CONTACT), "source")
    assert unknown_options("Hot") == "Hot"
    ((path, message),) = refused(
        reverse([("Rating", "source")], table=SF_CONTACT, picklist_values="display")
    )
    assert path.endswith("fields[0].campaign")
    assert "options are unknown" in message


def test_every_issue_is_reported_and_the_rest_still_converts() -> None:
    fields: list[Any] = [
        ("bigcount", "big_num"),
        ("firstname", "first"),
        ("lastcall", "called_day"),
    ]
    result = reverse(fields, loc=("file", 2))

    assert [issue.path for issue in result.issues] == [
        "file[2].fields[0].campaign",
        "file[2].fields[2].campaign",
    ]
    assert [f.campaign for f in result.fields] == ["first"]
