"""The two-way merge of one record: a table of cases, and its promises as properties."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crmsync.store.types import CampaignType
from crmsync.twoway.rule import Change, Conflict, Reason, Side, Winner, merge
from crmsync.twoway.values import same_value

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
EARLY, LATE = T0, T0 + timedelta(seconds=1)
T = CampaignType
NOBASE = object()  # the record has no base at all

# name: (type, base value | NOBASE, campaign value, crm value, campaign time, crm time)
#    -> (change, merged value, write CRM, write Campaign, (winner, reason) | None)
CASES: dict[str, tuple[tuple[Any, ...], tuple[Any, ...]]] = {
    "nothing changed": (
        (T.STRING, "a", "a", "a", LATE, EARLY),
        (Change.NONE, "a", False, False, None),
    ),
    "campaign changed only": (
        (T.STRING, "a", "b", "a", EARLY, LATE),
        (Change.CAMPAIGN, "b", True, False, None),
    ),
    "crm changed only": (
        (T.STRING, "a", "a", "c", LATE, EARLY),
        (Change.CRM, "c", False, True, None),
    ),
    "both, campaign newer": (
        (T.STRING, "a", "b", "c", LATE, EARLY),
        (Change.BOTH, "b", True, False, (Winner.CAMPAIGN, Reason.CAMPAIGN_NEWER)),
    ),
    "both, crm newer": (
        (T.STRING, "a", "b", "c", EARLY, LATE),
        (Change.BOTH, "c", False, True, (Winner.CRM, Reason.CRM_NEWER)),
    ),
    "both, tie goes to the crm": (
        (T.STRING, "a", "b", "c", EARLY, EARLY),
        (Change.BOTH, "c", False, True, (Winner.CRM, Reason.TIE_TO_CRM)),
    ),
    "a campaign edit within the crm's whole second is a tie": (
        (T.STRING, "a", "b", "c", EARLY + timedelta(microseconds=700_000), EARLY),
        (Change.BOTH, "c", False, True, (Winner.CRM, Reason.TIE_TO_CRM)),
    ),
    "a campaign edit in the next second is newer": (
        (T.STRING, "a", "b", "c", EARLY + timedelta(seconds=1), EARLY),
        (Change.BOTH, "b", True, False, (Winner.CAMPAIGN, Reason.CAMPAIGN_NEWER)),
    ),
    "a crm time with a fraction is compared as it is": (
        (
            T.STRING,
            "a",
            "b",
            "c",
            EARLY + timedelta(microseconds=700_000),
            EARLY + timedelta(microseconds=500_000),
        ),
        (Change.BOTH, "b", True, False, (Winner.CAMPAIGN, Reason.CAMPAIGN_NEWER)),
    ),
    "tie in another zone is still a tie": (
        (T.STRING, "a", "b", "c", EARLY.astimezone(timezone(timedelta(hours=2))), EARLY),
        (Change.BOTH, "c", False, True, (Winner.CRM, Reason.TIE_TO_CRM)),
    ),
    "both, campaign time unknown": (
        (T.STRING, "a", "b", "c", None, EARLY),
        (Change.BOTH, "c", False, True, (Winner.CRM, Reason.TIME_UNKNOWN_TO_CRM)),
    ),
    "both, crm time unknown": (
        (T.STRING, "a", "b", "c", LATE, None),
        (Change.BOTH, "c", False, True, (Winner.CRM, Reason.TIME_UNKNOWN_TO_CRM)),
    ),
    "both to the same value": (
        (T.STRING, "a", "b", "b", LATE, EARLY),
        (Change.BOTH, "b", False, False, None),
    ),
    "campaign cleared": (
        (T.STRING, "a", None, "a", LATE, EARLY),
        (Change.CAMPAIGN, None, True, False, None),
    ),
    "crm cleared": (
        (T.STRING, "a", "a", None, EARLY, LATE),
        (Change.CRM, None, False, True, None),
    ),
    "empty text is no value": (
        (T.STRING, None, "", None, LATE, EARLY),
        (Change.NONE, None, False, False, None),
    ),
    "crm empties a text the base had as empty": (
        (T.TEXT, "", "", None, EARLY, LATE),
        (Change.NONE, None, False, False, None),
    ),
    "both cleared, one to empty text": (
        (T.STRING, "a", "", None, LATE, EARLY),
        (Change.BOTH, None, False, False, None),
    ),
    "campaign fills a null": (
        (T.INTEGER, None, 5, None, EARLY, LATE),
        (Change.CAMPAIGN, 5, True, False, None),
    ),
    "integer equals its float": (
        (T.DOUBLE, 3, 3.0, 3, LATE, EARLY),
        (Change.NONE, 3, False, False, None),
    ),
    "single precision as the field keeps it": (
        (T.FLOAT, 0.1, 0.10000000149011612, 0.1, LATE, EARLY),
        (Change.NONE, 0.1, False, False, None),
    ),
    "double precision is exact": (
        (T.DOUBLE, 0.1, 0.10000000149011612, 0.1, LATE, EARLY),
        (Change.CAMPAIGN, 0.10000000149011612, True, False, None),
    ),
    "zero is a value, not nothing": (
        (T.INTEGER, None, 0, None, LATE, EARLY),
        (Change.CAMPAIGN, 0, True, False, None),
    ),
    "false is a value, not nothing": (
        (T.BOOLEAN, False, None, False, LATE, EARLY),
        (Change.CAMPAIGN, None, True, False, None),
    ),
    "the same instant in another zone": (
        (
            T.DATETIME,
            T0,
            T0.astimezone(timezone(timedelta(hours=-5))),
            T0,
            LATE,
            EARLY,
        ),
        (Change.NONE, T0, False, False, None),
    ),
    "a date moved on both sides": (
        (T.DATE, date(2026, 1, 1), date(2026, 1, 2), date(2026, 1, 3), LATE, EARLY),
        (Change.BOTH, date(2026, 1, 2), True, False, (Winner.CAMPAIGN, Reason.CAMPAIGN_NEWER)),
    ),
    "first sync, sides differ: the crm wins": (
        (T.STRING, NOBASE, "b", "c", LATE, EARLY),
        (Change.NO_BASE, "c", False, True, (Winner.CRM, Reason.NO_BASE_TO_CRM)),
    ),
    "first sync, campaign newer still loses": (
        (T.INTEGER, NOBASE, 1, None, LATE, None),
        (Change.NO_BASE, None, False, True, (Winner.CRM, Reason.NO_BASE_TO_CRM)),
    ),
    "first sync, sides agree": (
        (T.STRING, NOBASE, "", None, LATE, EARLY),
        (Change.NONE, None, False, False, None),
    ),
}


@pytest.mark.parametrize(("inputs", "expected"), list(CASES.values()), ids=list(CASES))
def test_merge_table(inputs: tuple[Any, ...], expected: tuple[Any, ...]) -> None:
    kind, was, ours, theirs, ours_at, theirs_at = inputs
    change, value, write_crm, write_campaign, resolution = expected
    base = None if was is NOBASE else {"f": was}
    result = merge({"f": kind}, base, Side({"f": ours}, ours_at), Side({"f": theirs}, theirs_at))

    (decided,) = result.fields
    assert (decided.field, decided.change) == ("f", change)
    assert decided.value == value
    assert type(decided.value) is type(value)
    assert (decided.write_crm, decided.write_campaign) == (write_crm, write_campaign)
    assert result.to_crm == ({"f": value} if write_crm else {})
    assert result.to_campaign == ({"f": value} if write_campaign else {})
    assert result.base == {"f": value}
    if resolution is None:
        assert decided.conflict is None
        assert result.conflicts == ()
    else:
        winner, reason = resolution
        assert result.conflicts == (
            Conflict("f", ours, theirs, ours_at, theirs_at, winner, reason),
        )
        assert decided.conflict == result.conflicts[0]


def test_different_fields_changed_on_each_side_both_survive() -> None:
    fields = {"email": T.STRING, "city": T.STRING, "age": T.INTEGER}
    base = {"email": "a@x.org", "city": "Lyon", "age": 30}
    campaign = Side({"email": "b@x.org", "city": "Lyon", "age": 30}, EARLY)
    crm = Side({"email": "a@x.org", "city": "Paris", "age": 30}, LATE)

    result = merge(fields, base, campaign, crm)

    assert result.to_crm == {"email": "b@x.org"}
    assert result.to_campaign == {"city": "Paris"}
    assert result.conflicts == ()
    assert result.base == {"email": "b@x.org", "city": "Paris", "age": 30}
    assert [d.change for d in result.fields] == [Change.CAMPAIGN, Change.CRM, Change.NONE]


def test_a_field_missing_from_the_base_is_merged_as_a_first_sync() -> None:
    fields = {"email": T.STRING, "phone": T.STRING}
    campaign = Side({"email": "b@x.org", "phone": "1"}, LATE)
    crm = Side({"email": "a@x.org", "phone": "2"}, EARLY)

    result = merge(fields, {"email": "a@x.org"}, campaign, crm)

    assert result.to_crm == {"email": "b@x.org"}
    assert result.to_campaign == {"phone": "2"}
    assert [c.reason for c in result.conflicts] == [Reason.NO_BASE_TO_CRM]


def test_a_side_without_a_mapped_field_is_refused() -> None:
    with pytest.raises(ValueError, match="the CRM side has no value for field\\(s\\) city"):
        merge({"city": T.STRING}, None, Side({"city": "x"}, None), Side({}, None))


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="no time zone"):
        Side({}, datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="no time zone"):
        same_value(T.DATETIME, datetime(2026, 1, 1), T0)


def test_the_result_cannot_be_changed() -> None:
    values = {"f": "a"}
    side = Side(values, None)
    values["f"] = "b"
    assert side.values == {"f": "a"}
    result = merge({"f": T.STRING}, None, side, Side({"f": "c"}, None))
    with pytest.raises(TypeError):
        result.base["f"] = "x"  # type: ignore[index]


def test_nan_is_one_value() -> None:
    assert same_value(T.DOUBLE, float("nan"), float("nan"))
    assert not same_value(T.DOUBLE, float("nan"), 0.0)


_VALUE = st.sampled_from([None, "", "a", "b"])


@given(base=_VALUE, ours=_VALUE, theirs=_VALUE, shift=st.integers(-2, 2))
def test_once_merged_both_sides_agree_and_the_next_merge_writes_nothing(
    base: str | None, ours: str | None, theirs: str | None, shift: int
) -> None:
    fields = {"f": T.STRING}
    ours_at = T0 + timedelta(seconds=shift)
    result = merge(fields, {"f": base}, Side({"f": ours}, ours_at), Side({"f": theirs}, T0))

    campaign_now = result.to_campaign.get("f", ours)
    crm_now = result.to_crm.get("f", theirs)
    assert same_value(T.STRING, campaign_now, crm_now)
    again = merge(fields, result.base, Side({"f": campaign_now}, LATE), Side({"f": crm_now}, LATE))
    assert (again.to_crm, again.to_campaign, again.conflicts) == ({}, {}, ())
    # A write goes to one side at most, and only where that side differs from the result.
    assert not (result.to_crm and result.to_campaign)
