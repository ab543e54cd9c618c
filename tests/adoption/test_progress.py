"""Progress at a cutoff (point in time), lateness against a given curve, peer gaps."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adoption.progress import milestone_progress, peer_gaps, progress_summary
from tests.adoption.helpers import accounts, day, events

M = [
    {"name": "m1", "events": ["report"]},
    {"name": "m2", "events": ["share"]},
]
# Reference curves "estimated earlier" (hand-made):
#   all/m1: 0.2 at day 2, 0.4 at 5, 0.8 at 10 -> final 0.8, half-way (0.4) at day 5
#   all/m2: 0.3 at day 10, 0.6 at 20       -> final 0.6, half-way (0.3) at day 10
#   plan=x/m2: 0.5 at day 1, 1.0 at day 3  -> final 1.0, half-way at day 1 (x has no m1 curve)
CURVE = pl.DataFrame(
    {
        "segment_column": ["all"] * 5 + ["plan"] * 2,
        "segment": ["all"] * 5 + ["x"] * 2,
        "milestone": ["m1", "m1", "m1", "m2", "m2", "m2", "m2"],
        "day": [2, 5, 10, 10, 20, 1, 3],
        "cif": [0.2, 0.4, 0.8, 0.3, 0.6, 0.5, 1.0],
    }
)
CUTOFF = day(30)
ACC = accounts(
    [
        {"account_id": "p1", "created": 20, "plan": "x"},  # age 10 at the cutoff
        {"account_id": "p2", "created": 27, "plan": "y"},  # age 3
        {"account_id": "p3", "created": 0, "churned": 25, "plan": "y"},  # churned: left out
        {"account_id": "p4", "created": 31, "plan": "y"},  # starts after the cutoff
        {"account_id": "p5", "created": 10, "plan": "y"},
    ]
)
EV = events(
    [
        ("p1", "u", "report", 22),
        ("p2", "u", "login", 28),
        ("p2", "u", "report", 30.5),  # after the cutoff: unseen
        ("p3", "u", "report", 1),
        ("p5", "u", "report", 11),
        ("p5", "u", "share", 12),
    ]
)


def _progress(ev: pl.DataFrame = EV) -> pl.DataFrame:
    return milestone_progress(ev, ACC, M, CURVE, cutoff=CUTOFF, segment="plan")


def test_progress_by_hand() -> None:
    p = _progress()
    rows = {(r["account_id"], r["milestone"]): r for r in p.iter_rows(named=True)}
    assert sorted({a for a, _ in rows}) == ["p1", "p2", "p5"]
    # p1 (plan x, age 10): x orders m2 (half-way day 1) before m1 (all curve, day 5).
    assert rows[("p1", "m2")]["order"] == 1 and rows[("p1", "m1")]["order"] == 2
    assert rows[("p1", "m1")]["reached"] and rows[("p1", "m1")]["day_reached"] == 2
    assert rows[("p1", "m1")]["late_percentile"] is None
    nxt = rows[("p1", "m2")]
    assert nxt["is_next"] and nxt["curve_segment"] == "x" and nxt["median_day"] == 1
    # CIF_x(age - 1 = 9) / final = 1.0 / 1.0: every x reacher had reached it by this age.
    assert nxt["late_percentile"] == pytest.approx(1.0)
    # p2 (plan y, age 3): no y curve -> "all": m1 (day 5) then m2 (day 10).
    assert rows[("p2", "m1")]["order"] == 1 and rows[("p2", "m1")]["is_next"]
    assert rows[("p2", "m1")]["curve_segment"] == "all"
    # CIF_all(2) / 0.8 = 0.2 / 0.8; the report after the cutoff is not seen
    assert rows[("p2", "m1")]["late_percentile"] == pytest.approx(0.25)
    assert rows[("p2", "m2")]["late_percentile"] == 0.0  # before the curve's first day
    assert not rows[("p2", "m2")]["is_next"]
    assert rows[("p2", "m1")]["age_days"] == 3


def test_summary_k_of_n() -> None:
    s = progress_summary(_progress())
    got = {r["account_id"]: r for r in s.iter_rows(named=True)}
    assert got["p1"]["progress_label"] == "1 of 2 steps"
    assert got["p1"]["reached_milestones"] == ["m1"]
    assert (got["p1"]["next_milestone"], got["p1"]["next_median_day"]) == ("m2", 1)
    assert got["p2"]["progress_label"] == "0 of 2 steps"
    assert got["p2"]["next_late_percentile"] == pytest.approx(0.25)
    assert got["p5"]["progress_label"] == "2 of 2 steps"
    assert got["p5"]["reached_milestones"] == ["m1", "m2"]
    assert got["p5"]["next_milestone"] is None


def test_cutoff_must_be_aware() -> None:
    naive = CUTOFF.replace(tzinfo=None)
    with pytest.raises(ValueError, match="cutoff"):
        milestone_progress(EV, ACC, M, CURVE, cutoff=naive)


_LATE = st.tuples(
    st.sampled_from(["p1", "p2", "p5"]),
    st.sampled_from(["report", "share", "login"]),
    st.floats(30, 60),
)


@settings(max_examples=20, deadline=None)
@given(st.lists(_LATE, max_size=15))
def test_nothing_at_or_after_the_cutoff_changes_progress(
    late: list[tuple[str, str, float]],
) -> None:
    more = pl.concat([EV, events([(a, "u", e, d) for a, e, d in late])])
    assert _progress(more).equals(_progress())


PEER_ACC = accounts(
    [
        *[{"account_id": f"q{i}", "created": 0, "plan": "x"} for i in range(1, 5)],
        {"account_id": "q5", "created": 0, "plan": "y"},
        {"account_id": "q6", "created": 0, "plan": "y"},
    ]
)
# Window [16, 30). x: report by q1, q2 (2 of the 3 peers of q3/q4); share by q1 only.
PEER_EV = events(
    [
        ("q1", "u", "report", 20),
        ("q1", "u", "share", 25),
        ("q2", "u", "report", 18),
        ("q3", "u", "report", 5),  # long ago
        ("q5", "u", "report", 29),
    ]
)


def test_peer_gaps_by_hand() -> None:
    g = peer_gaps(PEER_EV, PEER_ACC, cutoff=CUTOFF, segment="plan", min_share=0.5, min_peers=2)
    # q3 did report (before the window) -> nothing under "ever"; q4 never did it -> a gap.
    # share: 1 of 3 peers < 50 %. y: q6 has a single peer (< min_peers).
    assert g.select("account_id", "event", "n_peers", "n_peers_did").rows() == [
        ("q4", "report", 3, 2)
    ]
    assert g["peer_share"].item() == pytest.approx(2 / 3)
    assert g["label"].item() == (
        "67% of similar accounts did report in the last 14 days; this account never has"
    )
    w = peer_gaps(PEER_EV, PEER_ACC, cutoff=CUTOFF, segment="plan", min_peers=2, absent="window")
    assert w.select("account_id", "event").rows() == [("q3", "report"), ("q4", "report")]
    assert (
        peer_gaps(PEER_EV, PEER_ACC, cutoff=CUTOFF, segment="plan", key_events=["share"]).height
        == 0
    )
