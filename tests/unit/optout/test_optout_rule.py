"""The opt-out conflict rule: every input combination, and its promises as properties."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crmsync.optout.rule import Decision, Observation, Reason, Winner, decide, latest

T0 = datetime(2026, 1, 1, tzinfo=UTC)
EARLY, LATE = T0, T0 + timedelta(seconds=1)

# (times: crm, campaign) by name
TIMES = {
    "crm_newer": (LATE, EARLY),
    "equal": (EARLY, EARLY),
    "campaign_newer": (EARLY, LATE),
    "crm_unknown": (None, EARLY),
    "campaign_unknown": (EARLY, None),
    "both_unknown": (None, None),
}

C, K, N = Winner.CRM, Winner.CAMPAIGN, Winner.NONE
SAME, CNEW, OPT, UNK = (
    Reason.SAME_VALUE,
    Reason.CAMPAIGN_NEWER,
    Reason.CRM_NEWER_OPT_OUT_WINS,
    Reason.TIME_UNKNOWN_OPT_OUT_WINS,
)

# (times, crm value, campaign value) -> (result, winner, reason)
TABLE = {
    ("crm_newer", False, False): (False, N, SAME),
    ("crm_newer", False, True): (True, K, OPT),
    ("crm_newer", True, False): (True, C, OPT),
    ("crm_newer", True, True): (True, N, SAME),
    ("equal", False, False): (False, N, SAME),
    ("equal", False, True): (True, K, OPT),
    ("equal", True, False): (True, C, OPT),
    ("equal", True, True): (True, N, SAME),
    ("campaign_newer", False, False): (False, N, SAME),
    ("campaign_newer", False, True): (True, K, CNEW),
    ("campaign_newer", True, False): (False, K, CNEW),
    ("campaign_newer", True, True): (True, N, SAME),
    ("crm_unknown", False, False): (False, N, SAME),
    ("crm_unknown", False, True): (True, K, UNK),
    ("crm_unknown", True, False): (True, C, UNK),
    ("crm_unknown", True, True): (True, N, SAME),
    ("campaign_unknown", False, False): (False, N, SAME),
    ("campaign_unknown", False, True): (True, K, UNK),
    ("campaign_unknown", True, False): (True, C, UNK),
    ("campaign_unknown", True, True): (True, N, SAME),
    ("both_unknown", False, False): (False, N, SAME),
    ("both_unknown", False, True): (True, K, UNK),
    ("both_unknown", True, False): (True, C, UNK),
    ("both_unknown", True, True): (True, N, SAME),
}


def test_the_table_covers_every_combination() -> None:
    assert set(TABLE) == set(itertools.product(TIMES, (False, True), (False, True)))


@pytest.mark.parametrize(("times", "crm_value", "campaign_value"), sorted(TABLE))
def test_decision_table(times: str, crm_value: bool, campaign_value: bool) -> None:
    crm_time, campaign_time = TIMES[times]
    decision = decide(Observation(crm_value, crm_time), Observation(campaign_value, campaign_time))
    value, winner, reason = TABLE[(times, crm_value, campaign_value)]
    assert decision == Decision(
        opted_out=value,
        winner=winner,
        reason=reason,
        write_crm=crm_value != value,
        write_campaign=campaign_value != value,
    )


def test_latest_prefers_newest_then_opt_out_and_ignores_unknown_times() -> None:
    assert latest([]) is None
    newest_in = Observation(False, LATE)
    assert latest([Observation(True, EARLY), newest_in]) == newest_in
    assert latest([Observation(False, LATE), Observation(True, LATE)]) == Observation(True, LATE)
    assert latest([Observation(True, None), Observation(False, EARLY)]) == Observation(False, EARLY)
    assert latest([Observation(False, None), Observation(True, None)]) == Observation(True, None)


# --- properties -------------------------------------------------------------------------------

times = st.one_of(
    st.none(), st.integers(min_value=0, max_value=5).map(lambda s: T0 + timedelta(seconds=s))
)
known_times = st.integers(min_value=0, max_value=5).map(lambda s: T0 + timedelta(seconds=s))
observations = st.builds(Observation, st.booleans(), times)
histories = st.lists(st.builds(Observation, st.booleans(), known_times), min_size=1, max_size=8)


def _resolve(crm: list[Observation], campaign: list[Observation]) -> bool:
    crm_now, campaign_now = latest(crm), latest(campaign)
    assert crm_now is not None
    assert campaign_now is not None
    return decide(crm_now, campaign_now).opted_out


@given(observations, observations)
def test_an_opt_out_on_either_side_survives_unless_the_campaign_opt_in_is_strictly_newer(
    crm: Observation, campaign: Observation
) -> None:
    result = decide(crm, campaign)
    if (crm.opted_out or campaign.opted_out) and not result.opted_out:
        assert result.reason is Reason.CAMPAIGN_NEWER
        assert crm.changed_at is not None
        assert campaign.changed_at is not None
        assert campaign.changed_at > crm.changed_at
        assert not campaign.opted_out


@given(observations, observations)
def test_the_decision_is_written_where_the_sides_differ_and_both_end_equal(
    crm: Observation, campaign: Observation
) -> None:
    result = decide(crm, campaign)
    assert result.write_crm == (crm.opted_out != result.opted_out)
    assert result.write_campaign == (campaign.opted_out != result.opted_out)
    assert result.opted_out in (crm.opted_out, campaign.opted_out)


@given(observations, observations)
def test_applying_the_decision_again_changes_nothing(
    crm: Observation, campaign: Observation
) -> None:
    first = decide(crm, campaign)
    again = decide(
        Observation(first.opted_out, crm.changed_at),
        Observation(first.opted_out, campaign.changed_at),
    )
    assert again.opted_out == first.opted_out
    assert not again.write_crm
    assert not again.write_campaign


@given(histories, histories, st.randoms(use_true_random=False))
def test_result_is_independent_of_order_and_duplicates(
    crm: list[Observation], campaign: list[Observation], rnd: random.Random
) -> None:
    expected = _resolve(crm, campaign)
    crm2 = crm + [rnd.choice(crm) for _ in range(3)]
    campaign2 = campaign + [rnd.choice(campaign) for _ in range(3)]
    rnd.shuffle(crm2)
    rnd.shuffle(campaign2)
    assert _resolve(crm2, campaign2) == expected


@given(histories, histories)
def test_opted_in_result_needs_an_opt_in_strictly_newer_than_every_opt_out(
    crm: list[Observation], campaign: list[Observation]
) -> None:
    if _resolve(crm, campaign):
        return
    opt_ins = [o.changed_at for o in crm + campaign if not o.opted_out]
    for opt_out in (o for o in crm + campaign if o.opted_out):
        assert opt_out.changed_at is not None
        assert any(t is not None and t > opt_out.changed_at for t in opt_ins)
