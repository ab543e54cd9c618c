"""Time to value: Aalen–Johansen against a hand computation, edge cases, invariants."""

from __future__ import annotations

from fractions import Fraction as F

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adoption.time_to_value import TimeToValue, cumulative_incidence, time_to_value
from adoption.timeline import account_timeline, milestone_days
from tests.adoption.helpers import accounts, day, events

M = [{"name": "first_report", "events": ["report"]}]

# Six accounts observed until day 8 (exclusive), plus one that started before the log.
#   a: report on its day 0                       -> reached at 0
#   b: churned on day 2 (churned_at)             -> competing event at 2
#   c: starts day 4, nothing -> observed 4 days  -> censored at 3
#   d: report on its day 4                       -> reached at 4
#   e: starts day 3, nothing -> observed 5 days  -> censored at 4
#   f: starts day 2, report on day 7             -> reached at 5
#   z: started 5 days before the log             -> excluded, counted
ACC = accounts(
    [
        {"account_id": "a", "created": 0, "plan": "p"},
        {"account_id": "b", "created": 0, "churned": 2.5, "plan": "p"},
        {"account_id": "c", "created": 4, "plan": "q"},
        {"account_id": "d", "created": 0, "plan": "q"},
        {"account_id": "e", "created": 3, "plan": "q"},
        {"account_id": "f", "created": 2, "plan": "p"},
        {"account_id": "z", "created": -5, "plan": "p"},
    ]
)
EV = events(
    [
        ("a", "u", "login", 0),
        ("a", "u", "report", 0.5),
        ("b", "u", "login", 1),
        ("d", "u", "report", 4),
        ("f", "u", "report", 7),
        ("z", "u", "report", 1),
    ]
)


def _ttv(
    checkpoints: tuple[int, ...] = (7, 14, 30), left_truncated: str = "exclude"
) -> TimeToValue:
    tl = account_timeline(EV, ACC, observed_until=day(8), segments=["plan"])
    return time_to_value(
        tl,
        milestone_days(EV, tl, M),
        segments=["plan"],
        checkpoints=checkpoints,
        left_truncated=left_truncated,  # type: ignore[arg-type]
    )


def aalen_johansen_by_hand() -> dict[int, tuple[F, F]]:
    """CIF of the milestone and of churn at each distinct time, step by step.

    time  at risk  reached  churned  censored   S(t-)   CIF_m(t)
      0      6        1        0        0        1      1/6
      2      5        0        1        0       5/6     1/6     (S -> 4/6)
      3      4        0        0        1       4/6     1/6
      4      3        1        0        1       4/6     1/6 + 4/6 * 1/3 = 7/18  (S -> 4/9)
      5      1        1        0        0       4/9     7/18 + 4/9 * 1/1 = 15/18
    """
    steps = [(0, 6, 1, 0), (2, 5, 0, 1), (3, 4, 0, 0), (4, 3, 1, 0), (5, 1, 1, 0)]
    surv, cif_m, cif_c = F(1), F(0), F(0)
    out = {}
    for t, n, d_m, d_c in steps:
        cif_m += surv * F(d_m, n)
        cif_c += surv * F(d_c, n)
        surv *= 1 - F(d_m + d_c, n)
        out[t] = (cif_m, cif_c)
    return out


def test_curve_matches_hand_aalen_johansen() -> None:
    res = _ttv()
    curve = res.curve.filter(pl.col("segment_column") == "all")
    hand = aalen_johansen_by_hand()
    assert curve["day"].to_list() == [0, 2, 3, 4, 5]
    assert curve["cif"].to_list() == pytest.approx([float(hand[t][0]) for t in hand])
    assert curve["churn_cif"].to_list() == pytest.approx([float(hand[t][1]) for t in hand])
    assert curve["n_at_risk"].to_list() == [6, 5, 4, 3, 1]
    assert curve["n_reached"].to_list() == [1, 0, 0, 1, 1]
    assert curve["n_churned"].to_list() == [0, 1, 0, 0, 0]
    assert curve["n_censored"].to_list() == [0, 0, 1, 1, 0]
    # log-log band brackets the estimate
    assert (curve["ci_low"] <= curve["cif"]).all() and (curve["cif"] <= curve["ci_high"]).all()


def test_summary_and_checkpoints() -> None:
    res = _ttv(checkpoints=(1, 5, 6, 7))
    s = res.summary.filter(pl.col("segment_column") == "all").row(0, named=True)
    assert (s["n_accounts"], s["n_reached"], s["n_churned_first"], s["n_censored"]) == (6, 3, 1, 2)
    assert s["n_left_truncated_excluded"] == 1
    assert s["follow_up_days"] == 5
    assert s["final_cif"] == pytest.approx(15 / 18)
    assert s["median_day"] == 5  # first day with CIF >= 0.5
    cp = res.checkpoints.filter(pl.col("segment_column") == "all")
    # within the first t days = CIF(t - 1); at risk at day t = time >= t
    assert cp["checkpoint"].to_list() == [1, 5, 6, 7]
    assert cp["share"].to_list()[:3] == pytest.approx([1 / 6, 7 / 18, 15 / 18])
    assert cp["share"].to_list()[3] is None  # nobody was followed to day 6
    assert cp["n_at_risk"].to_list() == [5, 1, 0, 0]
    assert cp["n_reached"].to_list() == [1, 2, 3, 3]
    assert cp["n_churned"].to_list() == [0, 1, 1, 1]
    assert cp["n_censored"].to_list() == [0, 2, 2, 2]
    # per segment: p = a (reached 0), b (churned 2), f (reached 5); z excluded
    p = res.summary.filter(pl.col("segment") == "p").row(0, named=True)
    assert (p["n_accounts"], p["n_reached"], p["n_left_truncated_excluded"]) == (3, 2, 1)
    assert p["final_cif"] == pytest.approx(1 / 3 + 1 / 3)


def test_including_left_truncated_accounts() -> None:
    s = _ttv(left_truncated="include").summary.filter(pl.col("segment_column") == "all")
    assert s["n_accounts"].item() == 7 and s["n_left_truncated_excluded"].item() == 0


def _race(times: list[int], events_: list[int]) -> pl.DataFrame:
    return pl.DataFrame({"milestone": ["m"] * len(times), "time": times, "event": events_})


def test_without_churn_the_curve_is_one_minus_kaplan_meier() -> None:
    # reached at 1; censored at 2; reached at 3; censored at 3.
    c = cumulative_incidence(_race([1, 2, 3, 3], [1, 0, 1, 0]), ["milestone"])
    # KM: S(1) = 3/4, S(3) = 3/4 * (1 - 1/2) = 3/8 -> CIF 1/4, 1/4, 5/8
    assert c["cif"].to_list() == pytest.approx([0.25, 0.25, 0.625])
    assert c["churn_cif"].to_list() == [0.0, 0.0, 0.0]
    assert c["ci_low"][2] < 0.625 < c["ci_high"][2]


def test_median_does_not_exist_when_churn_wins() -> None:
    # one reaches on day 1, three churn on day 2: CIF stays at 1/4.
    c = cumulative_incidence(_race([1, 2, 2, 2], [1, 2, 2, 2]), ["milestone"])
    assert c["cif"].to_list() == pytest.approx([0.25, 0.25])
    assert c["churn_cif"].to_list() == pytest.approx([0.0, 0.75])
    tl = pl.DataFrame(
        {
            "account_id": list("abcd"),
            "observed_days": [10] * 4,
            "churn_day": [None, 2, 2, 2],
            "left_truncated": [False] * 4,
        },
        schema_overrides={"churn_day": pl.Int64},
    )
    md = pl.DataFrame(
        {"account_id": list("abcd"), "milestone": ["m"] * 4, "day": [1, None, None, None]},
        schema_overrides={"day": pl.Int64},
    )
    s = time_to_value(tl, md).summary.row(0, named=True)
    assert s["median_day"] is None and s["final_cif"] == pytest.approx(0.25)


def test_nobody_reaches_it() -> None:
    c = cumulative_incidence(_race([3, 5], [2, 0]), ["milestone"])
    assert c["cif"].to_list() == [0.0, 0.0]
    assert c["ci_low"].to_list() == [None, None]
    assert c["churn_cif"].to_list() == pytest.approx([0.5, 0.5])


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 30), st.integers(0, 2)), min_size=1, max_size=40))
def test_curve_invariants(race: list[tuple[int, int]]) -> None:
    times = [t for t, _ in race]
    evs = [e for _, e in race]
    c = cumulative_incidence(_race(times, evs), ["milestone"])
    cif = c["cif"].to_numpy()
    churn = c["churn_cif"].to_numpy()
    assert np.all(np.diff(cif) >= -1e-12) and np.all(np.diff(churn) >= -1e-12)
    assert np.all((cif >= 0) & (cif <= 1 + 1e-12))
    assert np.all(cif + churn <= 1 + 1e-9)
    assert c["n_at_risk"][0] == len(race)
    if 0 not in evs:  # no censoring: the CIF is the plain share reached by each day
        for d, v in zip(c["day"], cif, strict=True):
            share = sum(1 for t, e in race if e == 1 and t <= d) / len(race)
            assert v == pytest.approx(share)
