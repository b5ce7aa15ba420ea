"""Conversions of CRM values to Campaign values: every type pair, time zones, limits, rejects."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crmsync.connectors.base import CrmType, FieldInfo, Option, Record
from crmsync.mapping.types import COMPATIBLE
from crmsync.store.resources import FieldDefinition
from crmsync.store.types import CampaignType
from crmsync.sync.convert import campaign_value, emitter
from crmsync.sync.parse import (
    ConversionError,
    RejectCode,
    UnsupportedConversion,
    config_value,
    crm_parser,
    text_of,
)

T = CrmType
C = CampaignType
PICKLIST = (Option(1, "Bronze"), Option(2, "Gold"))
YES_NO = (Option(False, "No"), Option(True, "Yes"))
SF_PICKLIST = (Option("Hot", "Hot lead"), Option("Cold", "Cold lead"))


def info(
    crm_type: CrmType, *, options: tuple[Option, ...] = (), behavior: str | None = None
) -> FieldInfo:
    return FieldInfo("f", crm_type, options=options, date_behavior=behavior)


def convert(
    crm_type: CrmType,
    campaign_type: CampaignType,
    raw: Any,
    *,
    length: int | None = None,
    display: bool = False,
    options: tuple[Option, ...] = (),
    behavior: str | None = None,
    formatted: dict[str, str] | None = None,
) -> Any:
    field = info(crm_type, options=options, behavior=behavior)
    target = FieldDefinition(name="x", type=campaign_type, length=length)
    emit = emitter(field, target, display=display)
    record = Record(id="r1", values={"f": raw}, formatted=formatted or {})
    return emit(crm_parser(field)(raw), record)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


CASES: list[tuple[str, CrmType, CampaignType, Any, Any]] = [
    ("bool", T.BOOLEAN, C.BOOLEAN, True, True),
    ("bool from text", T.BOOLEAN, C.BOOLEAN, "false", False),
    ("bool from 1", T.BOOLEAN, C.BOOLEAN, 1, True),
    ("bool to integer", T.BOOLEAN, C.INTEGER, True, 1),
    ("bool to string", T.BOOLEAN, C.STRING, False, "false"),
    ("integer", T.INTEGER, C.INTEGER, 42, 42),
    ("integer from whole float", T.INTEGER, C.INTEGER, 42.0, 42),
    ("integer from text", T.INTEGER, C.INTEGER, " 42 ", 42),
    ("integer to double", T.INTEGER, C.DOUBLE, 42, 42.0),
    ("integer to float", T.INTEGER, C.FLOAT, -7, -7.0),
    ("integer to string", T.INTEGER, C.STRING, -7, "-7"),
    ("bigint max", T.BIGINT, C.INTEGER, 2**63 - 1, 2**63 - 1),
    ("bigint min", T.BIGINT, C.INTEGER, -(2**63), -(2**63)),
    ("bigint to text keeps digits", T.BIGINT, C.TEXT, 2**62 + 1, str(2**62 + 1)),
    ("decimal", T.DECIMAL, C.DOUBLE, 12.345, 12.345),
    ("decimal from Decimal", T.DECIMAL, C.DOUBLE, Decimal("0.1"), 0.1),
    ("decimal from text", T.DECIMAL, C.DOUBLE, "0.1", 0.1),
    ("double", T.DOUBLE, C.DOUBLE, -1e-300, -1e-300),
    ("double to float", T.DOUBLE, C.FLOAT, 3.5, 3.5),
    ("money whole number", T.MONEY, C.DOUBLE, 98000, 98000.0),
    ("money cents", T.MONEY, C.DOUBLE, 19.99, 19.99),
    ("money to string: cents kept", T.MONEY, C.STRING, 19.99, "19.99"),
    ("money to string: no .0 on whole amounts", T.MONEY, C.STRING, 100.0, "100"),
    ("money to string: large amount", T.MONEY, C.STRING, 922337203685477.5, "922337203685477.5"),
    (
        "decimal to string: shortest exact form",
        T.DECIMAL,
        C.STRING,
        0.1 + 0.2,
        "0.30000000000000004",
    ),
    ("string", T.STRING, C.STRING, "Åsa Öberg", "Åsa Öberg"),
    ("empty string stays empty", T.STRING, C.STRING, "", ""),
    ("memo to text", T.MEMO, C.TEXT, "x" * 100_000, "x" * 100_000),
    (
        "lookup",
        T.LOOKUP,
        C.STRING,
        "0b4c5d6e-0000-0000-0000-000000000001",
        "0b4c5d6e-0000-0000-0000-000000000001",
    ),
    ("salesforce reference", T.LOOKUP, C.STRING, "0015g00000XyZabAAF", "0015g00000XyZabAAF"),
    ("uniqueidentifier", T.UNIQUEIDENTIFIER, C.TEXT, "A1B2", "A1B2"),
    ("other: text as is", T.OTHER, C.STRING, "1,2,3", "1,2,3"),
    ("other: number as text", T.OTHER, C.STRING, 5, "5"),
    ("other: boolean as text", T.OTHER, C.STRING, True, "true"),
    ("other: list as JSON", T.OTHER, C.TEXT, [1, "a"], '[1,"a"]'),
    ("other: object as sorted JSON", T.OTHER, C.TEXT, {"b": 1, "a": None}, '{"a":null,"b":1}'),
    ("picklist technical to string", T.PICKLIST, C.STRING, 2, "2"),
    ("picklist technical to integer", T.PICKLIST, C.INTEGER, 2, 2),
    ("picklist value not in options: written", T.PICKLIST, C.INTEGER, 99, 99),
    # Date and time: Dataverse "Z", Salesforce "+0000" with milliseconds, other offsets.
    ("datetime Z", T.DATETIME, C.DATETIME, "2024-01-31T10:00:00Z", utc(2024, 1, 31, 10)),
    (
        "datetime salesforce",
        T.DATETIME,
        C.DATETIME,
        "2024-01-31T10:00:00.000+0000",
        utc(2024, 1, 31, 10),
    ),
    (
        "datetime salesforce offset",
        T.DATETIME,
        C.DATETIME,
        "2024-01-31T10:00:00.000-0800",
        utc(2024, 1, 31, 18),
    ),
    (
        "datetime half-hour offset",
        T.DATETIME,
        C.DATETIME,
        "2024-01-31T10:00:00+05:30",
        utc(2024, 1, 31, 4, 30),
    ),
    (
        "datetime 7 fraction digits",
        T.DATETIME,
        C.DATETIME,
        "2024-01-31T10:00:00.1234567Z",
        utc(2024, 1, 31, 10, 0, 0, 123456),
    ),
    ("datetime to its UTC day", T.DATETIME, C.DATE, "2024-01-31T23:30:00-05:00", date(2024, 2, 1)),
    (
        "datetime to string in UTC",
        T.DATETIME,
        C.STRING,
        "2024-01-31T10:00:00.000+0100",
        "2024-01-31T09:00:00Z",
    ),
    # Spring forward in Stockholm (02:00 → 03:00 on 2024-03-31): local times an hour apart.
    (
        "DST: before spring forward",
        T.DATETIME,
        C.DATETIME,
        "2024-03-31T01:30:00+01:00",
        utc(2024, 3, 31, 0, 30),
    ),
    (
        "DST: after spring forward",
        T.DATETIME,
        C.DATETIME,
        "2024-03-31T03:30:00+02:00",
        utc(2024, 3, 31, 1, 30),
    ),
    # Fall back in New York: 01:30 happens twice on 2024-11-03; the offset tells them apart.
    (
        "DST: first 01:30 in New York",
        T.DATETIME,
        C.DATETIME,
        "2024-11-03T01:30:00-04:00",
        utc(2024, 11, 3, 5, 30),
    ),
    (
        "DST: second 01:30 in New York",
        T.DATETIME,
        C.DATETIME,
        "2024-11-03T01:30:00-05:00",
        utc(2024, 11, 3, 6, 30),
    ),
    # DateOnly: the calendar date as written, never moved by a zone.
    ("date", T.DATE, C.DATE, "2024-01-31", date(2024, 1, 31)),
    (
        "date at midnight in Kiribati",
        T.DATE,
        C.DATE,
        "2024-01-31T00:00:00+14:00",
        date(2024, 1, 31),
    ),
    ("date late in Baker Island", T.DATE, C.DATE, "2024-01-31T23:59:59-12:00", date(2024, 1, 31)),
    ("date at midnight UTC", T.DATE, C.DATE, "2024-01-31T00:00:00Z", date(2024, 1, 31)),
    ("leap day", T.DATE, C.DATE, "2024-02-29", date(2024, 2, 29)),
    ("date to datetime: midnight UTC", T.DATE, C.DATETIME, "2024-01-31", utc(2024, 1, 31)),
    ("date to string", T.DATE, C.STRING, "2024-01-31T00:00:00+14:00", "2024-01-31"),
]


@pytest.mark.parametrize(
    ("crm_type", "campaign_type", "raw", "expected"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_conversion(
    crm_type: CrmType, campaign_type: CampaignType, raw: Any, expected: Any
) -> None:
    options = PICKLIST if crm_type is CrmType.PICKLIST else ()
    result = convert(crm_type, campaign_type, raw, options=options)
    assert result == expected
    assert type(result) is type(expected)
    if isinstance(result, datetime):
        assert result.tzinfo is UTC


REJECTS: list[tuple[str, CrmType, CampaignType, Any, RejectCode]] = [
    ("bool from list", T.BOOLEAN, C.BOOLEAN, [True], RejectCode.WRONG_TYPE),
    ("bool from other text", T.BOOLEAN, C.BOOLEAN, "maybe", RejectCode.INVALID_VALUE),
    ("bool from 2", T.BOOLEAN, C.BOOLEAN, 2, RejectCode.WRONG_TYPE),
    ("integer from bool", T.INTEGER, C.INTEGER, True, RejectCode.WRONG_TYPE),
    ("integer from fraction", T.INTEGER, C.INTEGER, 4.5, RejectCode.INVALID_VALUE),
    ("integer from words", T.INTEGER, C.INTEGER, "forty", RejectCode.INVALID_VALUE),
    ("integer from fractional text", T.INTEGER, C.INTEGER, "4.5", RejectCode.INVALID_VALUE),
    ("integer from object", T.INTEGER, C.INTEGER, {"v": 1}, RejectCode.WRONG_TYPE),
    ("bigint beyond 64 bits", T.BIGINT, C.INTEGER, 2**63, RejectCode.VALUE_OUT_OF_RANGE),
    ("bigint below 64 bits", T.BIGINT, C.INTEGER, -(2**63) - 1, RejectCode.VALUE_OUT_OF_RANGE),
    ("double beyond float32", T.DOUBLE, C.FLOAT, 1e39, RejectCode.VALUE_OUT_OF_RANGE),
    ("double NaN text", T.DOUBLE, C.DOUBLE, "NaN", RejectCode.INVALID_VALUE),
    ("double infinity", T.DOUBLE, C.DOUBLE, float("inf"), RejectCode.INVALID_VALUE),
    ("money from bool", T.MONEY, C.DOUBLE, False, RejectCode.WRONG_TYPE),
    ("money from words", T.MONEY, C.DOUBLE, "ten", RejectCode.INVALID_VALUE),
    ("string from number", T.STRING, C.STRING, 42, RejectCode.WRONG_TYPE),
    ("lookup from number", T.LOOKUP, C.STRING, 42, RejectCode.WRONG_TYPE),
    (
        "datetime without zone",
        T.DATETIME,
        C.DATETIME,
        "2024-01-31T10:00:00",
        RejectCode.INVALID_VALUE,
    ),
    ("datetime malformed", T.DATETIME, C.DATETIME, "31/01/2024 10:00", RejectCode.INVALID_VALUE),
    (
        "datetime impossible",
        T.DATETIME,
        C.DATETIME,
        "2024-02-30T10:00:00Z",
        RejectCode.INVALID_VALUE,
    ),
    ("datetime from number", T.DATETIME, C.DATETIME, 1706695200, RejectCode.WRONG_TYPE),
    ("date impossible", T.DATE, C.DATE, "2023-02-29", RejectCode.INVALID_VALUE),
    ("date with a broken time", T.DATE, C.DATE, "2024-01-31T25:00:00Z", RejectCode.INVALID_VALUE),
    ("date short", T.DATE, C.DATE, "2024-1-31", RejectCode.INVALID_VALUE),
    ("date from number", T.DATE, C.DATE, 20240131, RejectCode.WRONG_TYPE),
    ("picklist from text", T.PICKLIST, C.INTEGER, "Gold", RejectCode.INVALID_VALUE),
    ("picklist from list", T.PICKLIST, C.STRING, [1], RejectCode.WRONG_TYPE),
]


@pytest.mark.parametrize(
    ("crm_type", "campaign_type", "raw", "code"),
    [pytest.param(*case[1:], id=case[0]) for case in REJECTS],
)
def test_reject(crm_type: CrmType, campaign_type: CampaignType, raw: Any, code: RejectCode) -> None:
    options = PICKLIST if crm_type is CrmType.PICKLIST else ()
    with pytest.raises(ConversionError) as caught:
        convert(crm_type, campaign_type, raw, options=options)
    assert caught.value.code is code
    assert caught.value.message


def test_time_zone_independent_datetime_without_zone_is_its_wall_clock() -> None:
    result = convert(T.DATETIME, C.DATETIME, "2024-01-31T10:00:00", behavior="TimeZoneIndependent")
    assert result == utc(2024, 1, 31, 10)


@pytest.mark.parametrize(
    ("value", "length", "ok"),
    [
        ("abc", 3, True),
        ("abcd", 3, False),
        ("ÅÄÖ", 3, True),
        ("😀😀", 2, True),
        ("😀😀😀", 2, False),
    ],
)
def test_string_length_counts_characters_and_never_truncates(
    value: str, length: int, ok: bool
) -> None:
    if ok:
        assert convert(T.STRING, C.STRING, value, length=length) == value
        return
    with pytest.raises(ConversionError) as caught:
        convert(T.STRING, C.STRING, value, length=length)
    assert caught.value.code is RejectCode.VALUE_TOO_LONG
    assert f"{len(value)} characters" in caught.value.message


def test_length_applies_to_converted_text() -> None:
    with pytest.raises(ConversionError) as caught:
        convert(T.MONEY, C.STRING, 12345.5, length=5)
    assert caught.value.code is RejectCode.VALUE_TOO_LONG
    assert convert(T.MONEY, C.STRING, 12345.0, length=5) == "12345"


class TestPicklistLabels:
    def test_display_prefers_the_records_formatted_value(self) -> None:
        result = convert(
            T.PICKLIST, C.STRING, 2, display=True, options=PICKLIST, formatted={"f": "Guld"}
        )
        assert result == "Guld"

    def test_display_falls_back_to_the_metadata_label(self) -> None:
        assert convert(T.PICKLIST, C.STRING, 2, display=True, options=PICKLIST) == "Gold"

    def test_display_of_an_unknown_value_without_label_is_rejected(self) -> None:
        with pytest.raises(ConversionError) as caught:
            convert(T.PICKLIST, C.STRING, 99, display=True, options=PICKLIST)
        assert caught.value.code is RejectCode.UNKNOWN_OPTION

    def test_display_of_an_unknown_value_with_a_label_uses_it(self) -> None:
        result = convert(
            T.PICKLIST, C.STRING, 99, display=True, options=PICKLIST, formatted={"f": "New"}
        )
        assert result == "New"

    def test_technical_salesforce_picklist_is_its_api_value(self) -> None:
        assert convert(T.PICKLIST, C.STRING, "Hot", options=SF_PICKLIST) == "Hot"
        assert convert(T.PICKLIST, C.STRING, "Hot", options=SF_PICKLIST, display=True) == (
            "Hot lead"
        )

    def test_boolean_display_label(self) -> None:
        assert convert(T.BOOLEAN, C.STRING, True, display=True, options=YES_NO) == "Yes"
        formatted = {"f": "Do Not Allow"}
        assert (
            convert(T.BOOLEAN, C.STRING, True, display=True, options=YES_NO, formatted=formatted)
            == "Do Not Allow"
        )
        # Salesforce booleans have no labels: the value as text.
        assert convert(T.BOOLEAN, C.STRING, False, display=True) == "false"

    def test_boolean_into_a_boolean_field_stays_boolean_in_display_mode(self) -> None:
        assert convert(T.BOOLEAN, C.BOOLEAN, True, display=True, options=YES_NO) is True

    def test_display_labels_never_go_into_integer_fields(self) -> None:
        target = FieldDefinition(name="x", type=C.INTEGER)
        with pytest.raises(UnsupportedConversion, match="display labels"):
            emitter(info(T.PICKLIST, options=PICKLIST), target, display=True)

    def test_text_picklists_never_go_into_integer_fields(self) -> None:
        target = FieldDefinition(name="x", type=C.INTEGER)
        with pytest.raises(UnsupportedConversion, match="text"):
            emitter(info(T.PICKLIST, options=SF_PICKLIST), target, display=False)


@pytest.mark.parametrize(
    ("crm_type", "campaign_type"),
    [(crm, campaign) for crm, allowed in COMPATIBLE.items() for campaign in allowed],
)
def test_every_compatible_pair_has_a_conversion(
    crm_type: CrmType, campaign_type: CampaignType
) -> None:
    emitter(info(crm_type), FieldDefinition(name="x", type=campaign_type), display=False)


@pytest.mark.parametrize(
    ("crm_type", "campaign_type"),
    [
        (crm, campaign)
        for crm, allowed in COMPATIBLE.items()
        for campaign in CampaignType
        if campaign not in allowed
    ],
)
def test_incompatible_pairs_are_refused(crm_type: CrmType, campaign_type: CampaignType) -> None:
    with pytest.raises(UnsupportedConversion, match="cannot be written"):
        emitter(info(crm_type), FieldDefinition(name="x", type=campaign_type), display=False)


class TestConfigValues:
    @pytest.mark.parametrize(
        ("field", "value", "expected"),
        [
            (info(T.PICKLIST, options=PICKLIST), 2, 2),
            (info(T.PICKLIST, options=PICKLIST), "2", 2),
            (info(T.PICKLIST, options=PICKLIST), "gold", 2),
            (info(T.PICKLIST, options=SF_PICKLIST), "Hot", "Hot"),
            (info(T.PICKLIST, options=SF_PICKLIST), "cold lead", "Cold"),
            (info(T.BOOLEAN, options=YES_NO), True, True),
            (info(T.BOOLEAN, options=YES_NO), "false", False),
            (info(T.BOOLEAN, options=YES_NO), "Yes", True),
            (info(T.INTEGER), "7", 7),
            (info(T.MONEY), 10, 10.0),
            (info(T.DATETIME), "2024-01-31", utc(2024, 1, 31)),
            (info(T.DATETIME), "2024-01-31T10:00:00+01:00", utc(2024, 1, 31, 9)),
            (info(T.DATE), "2024-01-31", date(2024, 1, 31)),
            (info(T.STRING), "Gold", "Gold"),
        ],
    )
    def test_parsed_with_the_fields_type(self, field: FieldInfo, value: Any, expected: Any) -> None:
        result = config_value(field, value)
        assert result == expected
        assert type(result) is type(expected)

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            (info(T.PICKLIST, options=PICKLIST), "Platinum"),
            (info(T.PICKLIST, options=PICKLIST), True),
            (info(T.BOOLEAN, options=YES_NO), "perhaps"),
            (info(T.INTEGER), "seven"),
            (info(T.DATE), "31.01.2024"),
            (info(T.STRING), 5),
        ],
    )
    def test_refused_when_not_a_value_of_the_field(self, field: FieldInfo, value: Any) -> None:
        with pytest.raises(UnsupportedConversion):
            config_value(field, value)


class TestCampaignValues:
    @pytest.mark.parametrize(
        ("campaign_type", "value", "expected"),
        [
            (C.STRING, "Gold", "Gold"),
            (C.STRING, 2, "2"),
            (C.STRING, True, "true"),
            (C.TEXT, 2.5, "2.5"),
            (C.INTEGER, 3, 3),
            (C.INTEGER, "3", 3),
            (C.BOOLEAN, "true", True),
            (C.DOUBLE, 1, 1.0),
            (C.FLOAT, "2.5", 2.5),
            (C.DATE, "2024-01-31", date(2024, 1, 31)),
            (C.DATETIME, "2024-01-31T10:00:00+01:00", utc(2024, 1, 31, 9)),
        ],
    )
    def test_fit_the_field(self, campaign_type: CampaignType, value: Any, expected: Any) -> None:
        result = campaign_value(FieldDefinition(name="x", type=campaign_type), value)
        assert result == expected
        assert type(result) is type(expected)

    @pytest.mark.parametrize(
        ("campaign_type", "value"),
        [
            (C.INTEGER, True),
            (C.INTEGER, "Gold"),
            (C.BOOLEAN, "Gold"),
            (C.DATETIME, "2024-01-31T10:00:00"),
            (C.FLOAT, 1e39),
        ],
    )
    def test_refused_when_they_do_not(self, campaign_type: CampaignType, value: Any) -> None:
        with pytest.raises(UnsupportedConversion, match=campaign_type.value):
            campaign_value(FieldDefinition(name="x", type=campaign_type), value)

    def test_too_long_for_the_field(self) -> None:
        with pytest.raises(UnsupportedConversion, match="more than the 3"):
            campaign_value(FieldDefinition(name="x", type=C.STRING, length=3), "Gold")


def test_text_of_unknown_objects_falls_back_to_str() -> None:
    assert text_of(Decimal("1.10")) == "1.10"
    assert text_of(object).startswith("<class")


offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)


@given(day=st.dates(), moment=st.times(), zone=offsets)
def test_date_only_values_never_move_whatever_time_and_zone_follow(
    day: date, moment: Any, zone: timezone
) -> None:
    text = datetime.combine(day, moment, zone).isoformat()
    assert convert(T.DATE, C.DATE, text) == day
    assert convert(T.DATE, C.STRING, day.isoformat()) == day.isoformat()


@given(
    when=st.datetimes(
        min_value=datetime(1900, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
    ),
    zone=offsets,
)
def test_datetimes_round_trip_as_the_same_instant_in_utc(when: datetime, zone: timezone) -> None:
    local = when.astimezone(zone)
    result = convert(T.DATETIME, C.DATETIME, local.isoformat())
    assert result == when
    assert result.tzinfo is UTC
    # Written as text in UTC, it reads back as the same instant.
    text = convert(T.DATETIME, C.STRING, local.isoformat())
    assert text.endswith("Z")
    assert convert(T.DATETIME, C.DATETIME, text) == when
