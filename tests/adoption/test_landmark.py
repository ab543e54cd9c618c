"""Landmark analysis: filters, two-group statistics, BH, shrinkage, wording, replication."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import norm

from adoption.landmark import (
    add_q_values,
    landmark_counts,
    landmark_effects,
    replicate,
    shrink_segments,
    two_group_stats,
)
from tests.adoption.helpers import day

Z = norm.ppf(0.975)


def wilson(x: float, n: float) -> tuple[float, float]:
    """Wilson score interval, written out."""
    p = x / n
    centre = (p + Z**2 / (2 * n)) / (1 + Z**2 / n)
    half = Z / (1 + Z**2 / n) * math.sqrt(p * (1 - p) / n + Z**2 / (4 * n**2))
    return centre - half, centre + half


def newcombe(x1: float, n1: float, x0: float, n0: float) -> tuple[float, float]:
    """Newcombe's hybrid score interval for p1 - p0 from the two Wilson intervals."""
    p1, p0 = x1 / n1, x0 / n0
    l1, u1 = wilson(x1, n1)
    l0, u0 = wilson(x0, n0)
    d = p1 - p0
    return d - math.sqrt((p1 - l1) ** 2 + (u0 - p0) ** 2), d + math.sqrt(
        (u1 - p1) ** 2 + (p0 - l0) ** 2
    )


def katz_adjusted(x1: float, n1: float, x0: float, n0: float) -> tuple[float, float]:
    """Log rate-ratio interval with 0.5 added to counts and group sizes."""
    a, na, b, nb = x1 + 0.5, n1 + 0.5, x0 + 0.5, n0 + 0.5
    log_rr = math.log((a / na) / (b / nb))
    se = math.sqrt(1 / a - 1 / na + 1 / b - 1 / nb)
    return math.exp(log_rr - Z * se), math.exp(log_rr + Z * se)


def fisher_two_sided(a: int, n1: int, b: int, n0: int) -> float:
    """Sum of hypergeometric probabilities of tables no more likely than the observed one."""
    k, n = a + b, n1 + n0

    def prob(i: int) -> float:
        return math.comb(n1, i) * math.comb(n0, k - i) / math.comb(n, k)

    observed = prob(a)
    lo, hi = max(0, k - n0), min(k, n1)
    return sum(prob(i) for i in range(lo, hi + 1) if prob(i) <= observed * (1 + 1e-7))


COUNTS = pl.DataFrame(
    {
        "name": ["big", "small", "few"],
        "n_did": [20, 10, 3],
        "x_did": [12, 7, 2],
        "n_not": [30, 12, 40],
        "x_not": [9, 1, 10],
    }
)


def test_two_group_stats_by_hand() -> None:
    s = two_group_stats(COUNTS, min_n=5)
    big, small, few = s.iter_rows(named=True)
    # big: 12/20 = 0.6 vs 9/30 = 0.3; smallest expected cell 20*21/50 = 8.4 -> score test.
    assert big["n_total"] == 50
    assert big["activation_rate"] == pytest.approx(0.4)
    assert (big["activation_low"], big["activation_high"]) == pytest.approx(wilson(20, 50))
    assert big["precision"] == pytest.approx(0.6)
    assert (big["precision_low"], big["precision_high"]) == pytest.approx(wilson(12, 20))
    assert big["rate_not"] == pytest.approx(0.3)
    assert big["risk_difference"] == pytest.approx(0.3)
    assert (big["rd_low"], big["rd_high"]) == pytest.approx(newcombe(12, 20, 9, 30))
    assert big["rate_ratio"] == pytest.approx(2.0)
    assert (big["rr_low"], big["rr_high"]) == pytest.approx(katz_adjusted(12, 20, 9, 30))
    # score test for a difference of 0: pooled variance with the n/(n-1) correction
    pooled = 21 / 50
    z = 0.3 / math.sqrt(pooled * (1 - pooled) * (1 / 20 + 1 / 30) * 50 / 49)
    assert big["test"] == "score"
    assert big["p_value"] == pytest.approx(2 * norm.sf(z))
    # Agresti–Caffo variance: (13/22)(9/22)/22 + (10/32)(22/32)/32
    assert big["rd_variance"] == pytest.approx(13 * 9 / 22**3 + 10 * 22 / 32**3)
    # small: expected successes among "did" 10*8/22 = 3.6 < 5 -> Fisher's exact test.
    assert small["test"] == "fisher"
    assert small["p_value"] == pytest.approx(fisher_two_sided(7, 10, 1, 12))
    # few: 3 < min_n in one arm -> support only.
    assert few["status"] == "too few" and (few["n_did"], few["n_not"]) == (3, 40)
    assert all(few[c] is None for c in ("risk_difference", "rd_low", "p_value", "precision"))
    assert s["name"].to_list() == ["big", "small", "few"]  # other columns kept, in order


def test_zero_rate_in_the_comparison_group() -> None:
    s = two_group_stats(
        pl.DataFrame({"n_did": [10], "x_did": [4], "n_not": [10], "x_not": [0]}), min_n=5
    ).row(0, named=True)
    assert s["rate_ratio"] is None  # 4/10 against 0/10: no finite ratio
    assert s["rr_low"] == pytest.approx(katz_adjusted(4, 10, 0, 10)[0])
    assert s["risk_difference"] == pytest.approx(0.4)


def test_benjamini_hochberg_by_hand() -> None:
    f = pl.DataFrame({"p_value": [0.01, 0.04, 0.03, None, 0.2]})
    q = add_q_values(f, alpha=0.05)
    # sorted p 0.01, 0.03, 0.04, 0.2 (m = 4): q = min over j >= i of p_j * 4 / j
    assert q["q_value"].to_list() == pytest.approx([0.04, 0.16 / 3, 0.16 / 3, None, 0.2])
    assert q["significant"].to_list() == [True, False, False, False, False]
    assert add_q_values(f, alpha=0.06)["significant"].to_list() == [True, True, True, False, False]


def test_shrinkage_by_hand() -> None:
    d = [0.3, -0.1, 0.2]
    v = [0.01, 0.02, 0.04]
    f = pl.DataFrame(
        {
            "segment_column": ["all", "plan", "plan", "plan", "plan"],
            "segment": ["all", "x", "y", "z", "tiny"],
            "candidate": ["c"] * 5,
            "status": ["ok", "ok", "ok", "ok", "too few"],
            "risk_difference": [0.1, *d, None],
            "rd_variance": [0.001, *v, None],
        }
    )
    out = shrink_segments(f)
    # DerSimonian–Laird by hand: weights 1/v, weighted mean, Q, tau² = (Q - (k-1)) / c.
    w = [1 / x for x in v]
    mean = sum(wi * di for wi, di in zip(w, d, strict=True)) / sum(w)
    q = sum(wi * (di - mean) ** 2 for wi, di in zip(w, d, strict=True))
    c = sum(w) - sum(wi**2 for wi in w) / sum(w)
    tau2 = max(0.0, (q - 2) / c)
    assert tau2 > 0
    rows = {r["segment"]: r for r in out.iter_rows(named=True)}
    for seg, di, vi in zip("xyz", d, v, strict=True):
        weight = tau2 / (tau2 + vi)
        assert rows[seg]["tau2"] == pytest.approx(tau2)
        assert rows[seg]["shrink_weight"] == pytest.approx(weight)
        assert rows[seg]["shrunk_risk_difference"] == pytest.approx(
            weight * di + (1 - weight) * 0.1
        )
    assert rows["all"]["shrink_weight"] == 1.0 and rows["all"]["shrunk_risk_difference"] == 0.1
    assert rows["tiny"]["shrunk_risk_difference"] is None


def test_no_spread_between_segments_gives_the_pooled_estimate() -> None:
    f = pl.DataFrame(
        {
            "segment_column": ["all", "plan", "plan"],
            "segment": ["all", "x", "y"],
            "candidate": ["c"] * 3,
            "status": ["ok"] * 3,
            "risk_difference": [0.1, 0.11, 0.09],
            "rd_variance": [0.001, 0.02, 0.02],
        }
    )
    out = shrink_segments(f).filter(pl.col("segment") != "all")
    assert out["tau2"].to_list() == [0.0, 0.0]
    assert out["shrunk_risk_difference"].to_list() == pytest.approx([0.1, 0.1])


# A hand-made landmark frame (D = 7). The last five rows must be filtered out or re-grouped.
ROWS = [
    # account, plan, day_reached, outcome, observed_days, churn_day, left_truncated
    ("x1", "x", 1, 1, 40, None, False),
    ("x2", "x", 2, 1, 40, None, False),
    ("x3", "x", 6, 0, 40, None, False),
    ("x4", "x", None, 1, 40, None, False),
    ("x5", "x", None, 0, 40, None, False),
    ("x6", "x", None, 0, 40, None, False),
    ("y1", "y", 0, 1, 40, None, False),
    ("y2", "y", 3, 0, 40, None, False),
    ("y3", "y", None, 0, 40, None, False),
    ("y4", "y", None, 0, 40, None, False),
    ("y5", "y", 7, 1, 40, None, False),  # on day D itself: not "by D" -> counts as not
    ("c2", "y", 5, 0, 40, 7, False),  # churned on day 7: was active through day 6 -> in
    ("c1", "x", 1, 1, 40, 5, False),  # churned before D -> out
    ("o1", "x", 1, 1, 5, None, False),  # observed 5 < 7 days -> out
    ("t1", "x", 1, 1, 40, None, True),  # started before the log -> out
    ("n1", "x", 1, None, 40, None, False),  # outcome not observed -> out
]


def _frames() -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    cand = pl.DataFrame(
        {
            "account_id": [r[0] for r in ROWS],
            "candidate": ["event__x__ge1__7d"] * len(ROWS),
            "kind": ["event"] * len(ROWS),
            "item": ["x"] * len(ROWS),
            "threshold": [1] * len(ROWS),
            "label": ["did x in the first 7 days"] * len(ROWS),
            "landmark_day": [7] * len(ROWS),
            "day_reached": [r[2] for r in ROWS],
        },
        schema_overrides={"day_reached": pl.Int64, "threshold": pl.Int64, "landmark_day": pl.Int64},
    )
    tl = pl.DataFrame(
        {
            "account_id": [r[0] for r in ROWS],
            "plan": [r[1] for r in ROWS],
            "observed_days": [r[4] for r in ROWS],
            "churn_day": [r[5] for r in ROWS],
            "left_truncated": [r[6] for r in ROWS],
        },
        schema_overrides={"churn_day": pl.Int64},
    )
    oc = pl.DataFrame(
        {"account_id": [r[0] for r in ROWS], "outcome": [r[3] for r in ROWS]},
        schema_overrides={"outcome": pl.Int8},
    )
    return cand, tl, oc


def test_landmark_filter_and_counts() -> None:
    cand, tl, oc = _frames()
    counts = landmark_counts(cand, tl, oc, segments=["plan"])
    got = {
        r["segment"]: (r["n_did"], r["x_did"], r["n_not"], r["x_not"])
        for r in counts.iter_rows(named=True)
    }
    # all: did x1 x2 x3 y1 y2 c2 (3 succeed); not x4 x5 x6 y3 y4 y5 (x4, y5 succeed)
    assert got == {"all": (6, 3, 6, 2), "x": (3, 2, 3, 1), "y": (3, 1, 3, 1)}
    assert counts["segment_column"].to_list() == ["all", "plan", "plan"]


def test_landmark_effects_end_to_end_with_wording() -> None:
    cand, tl, oc = _frames()
    eff = landmark_effects(cand, tl, oc, segments=["plan"], min_n=4)
    rows = {r["segment"]: r for r in eff.iter_rows(named=True)}
    a = rows["all"]
    assert a["status"] == "ok"
    assert a["risk_difference"] == pytest.approx(0.5 - 2 / 6)
    assert (a["rd_low"], a["rd_high"]) == pytest.approx(newcombe(3, 6, 2, 6))
    assert a["rate_ratio"] == pytest.approx(1.5)
    lo, hi = katz_adjusted(3, 6, 2, 6)
    assert a["test"] == "fisher"  # expected cells 2.5 < 5
    assert a["p_value"] == pytest.approx(fisher_two_sided(3, 6, 2, 6))
    assert a["q_value"] == pytest.approx(a["p_value"])  # the only tested row
    assert a["significant"] is False
    assert a["wording"] == (
        f"Accounts that did x in the first 7 days went on to succeed 1.5x as often "
        f"(95% CI {lo:.2f}–{hi:.1f}x; 6 of 12 accounts did it)."
    )
    # segments have 3 per arm < min_n = 4: support only, and the wording says so
    assert rows["x"]["status"] == "too few" and rows["x"]["risk_difference"] is None
    assert rows["x"]["wording"] == (
        "Too few accounts to compare: 3 did it and 3 did not (at least 4 of each needed)."
    )
    seg = landmark_effects(cand, tl, oc, segments=["plan"], min_n=2)
    x = seg.filter(pl.col("segment") == "x").row(0, named=True)
    assert x["wording"].startswith("Among plan = x accounts, those that did x in the first 7 days")
    assert x["shrunk_risk_difference"] is not None


def test_outcome_values_are_checked() -> None:
    cand, tl, oc = _frames()
    with pytest.raises(ValueError, match="outcome"):
        landmark_effects(cand, tl, oc.with_columns(pl.lit(2, dtype=pl.Int8).alias("outcome")))


def _cohort_rows(
    prefix: str, start: datetime, did: tuple[int, int], not_: tuple[int, int], cand: str
) -> list[dict[str, Any]]:
    """n accounts that did it (x succeed) and n that did not (x succeed), started at ``start``."""
    rows = []
    for arm, (n, x) in (("d", did), ("n", not_)):
        for i in range(n):
            rows.append(
                {
                    "account_id": f"{prefix}{cand}{arm}{i}",
                    "candidate": cand,
                    "day_reached": 1 if arm == "d" else None,
                    "outcome": 1 if i < x else 0,
                    "start": start,
                }
            )
    return rows


def test_replication_by_cohort() -> None:
    early, late = day(0), day(100)
    rows: list[dict[str, Any]] = []
    # "holds": strong in both cohorts. "flips": positive early, negative late. "thin": too few late.
    rows += _cohort_rows("e", early, (20, 16), (20, 4), "holds")
    rows += _cohort_rows("l", late, (20, 18), (20, 4), "holds")
    rows += _cohort_rows("e", early, (20, 16), (20, 4), "flips")
    rows += _cohort_rows("l", late, (20, 4), (20, 16), "flips")
    rows += _cohort_rows("e", early, (20, 16), (20, 4), "thin")
    rows += _cohort_rows("l", late, (2, 2), (38, 8), "thin")
    df = pl.DataFrame(rows, schema_overrides={"day_reached": pl.Int64})
    cand = df.select(
        "account_id",
        "candidate",
        pl.lit("event").alias("kind"),
        pl.col("candidate").alias("item"),
        pl.lit(1, dtype=pl.Int64).alias("threshold"),
        pl.col("candidate").alias("label"),
        pl.lit(7, dtype=pl.Int64).alias("landmark_day"),
        "day_reached",
    )
    tl = df.select(
        "account_id",
        "start",
        pl.lit(40, dtype=pl.Int64).alias("observed_days"),
        pl.lit(None, dtype=pl.Int64).alias("churn_day"),
        pl.lit(False).alias("left_truncated"),
    ).unique("account_id")
    oc = df.select("account_id", "outcome")
    rep = replicate(cand, tl, oc, min_n=5)
    got = dict(zip(rep["candidate"], rep["replicates"], strict=True))
    assert got == {"flips": False, "holds": True, "thin": None}
    holds = rep.filter(pl.col("candidate") == "holds").row(0, named=True)
    assert holds["early_risk_difference"] == pytest.approx(0.6)
    assert holds["late_risk_difference"] == pytest.approx(0.7)
    assert holds["late_rd_low"] == pytest.approx(newcombe(18, 20, 4, 20)[0])
    # default split: the median start of the usable accounts (120 at day 0, 120 at day 100)
    assert holds["split_date"] == day(50)
    explicit = replicate(cand, tl, oc, min_n=5, split_date=day(99))
    assert dict(zip(explicit["candidate"], explicit["replicates"], strict=True)) == got


@settings(max_examples=60, deadline=None)
@given(
    st.integers(5, 200),
    st.integers(5, 200),
    st.floats(0, 1),
    st.floats(0, 1),
)
def test_stats_invariants(n1: int, n0: int, f1: float, f0: float) -> None:
    x1, x0 = round(f1 * n1), round(f0 * n0)
    s = two_group_stats(
        pl.DataFrame({"n_did": [n1], "x_did": [x1], "n_not": [n0], "x_not": [x0]}), min_n=5
    ).row(0, named=True)
    eps = 1e-9
    assert -1 - eps <= s["rd_low"] <= s["risk_difference"] + eps
    assert s["risk_difference"] - eps <= s["rd_high"] <= 1 + eps
    assert s["activation_low"] - eps <= s["activation_rate"] <= s["activation_high"] + eps
    assert s["precision_low"] - eps <= s["precision"] <= s["precision_high"] + eps
    assert 0 <= s["p_value"] <= 1
    assert 0 < s["rr_low"] <= s["rr_high"]
    assert s["rd_variance"] > 0


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(st.floats(-1, 1), st.floats(1e-4, 0.2)), min_size=2, max_size=6),
    st.floats(-1, 1),
)
def test_shrunk_estimate_lies_between_segment_and_pooled(
    segs: list[tuple[float, float]], pooled: float
) -> None:
    f = pl.DataFrame(
        {
            "segment_column": ["all"] + ["s"] * len(segs),
            "segment": ["all"] + [f"v{i}" for i in range(len(segs))],
            "candidate": ["c"] * (len(segs) + 1),
            "status": ["ok"] * (len(segs) + 1),
            "risk_difference": [pooled] + [d for d, _ in segs],
            "rd_variance": [0.01] + [v for _, v in segs],
        }
    )
    out = shrink_segments(f).filter(pl.col("segment_column") == "s")
    w = out["shrink_weight"].to_numpy()
    assert np.all((w >= 0) & (w <= 1))
    lo = np.minimum(out["risk_difference"].to_numpy(), pooled) - 1e-9
    hi = np.maximum(out["risk_difference"].to_numpy(), pooled) + 1e-9
    shrunk = out["shrunk_risk_difference"].to_numpy()
    assert np.all((shrunk >= lo) & (shrunk <= hi))
    q = add_q_values(pl.DataFrame({"p_value": [min(1.0, abs(d)) for d, _ in segs]}), alpha=0.05)
    assert (q["q_value"] >= pl.Series([min(1.0, abs(d)) for d, _ in segs]) - 1e-12).all()


def _simple(did: list[bool], success: list[int]) -> tuple[pl.DataFrame, ...]:
    ids = [f"a{i}" for i in range(len(did))]
    cand = pl.DataFrame(
        {
            "account_id": ids,
            "candidate": "c",
            "kind": "event",
            "item": "x",
            "threshold": 1,
            "label": "did x in the first 7 days",
            "landmark_day": 7,
            "day_reached": [0 if d else None for d in did],
        },
        schema_overrides={"day_reached": pl.Int64, "threshold": pl.Int64, "landmark_day": pl.Int64},
    )
    tl = pl.DataFrame(
        {
            "account_id": ids,
            "observed_days": 30,
            "churn_day": None,
            "left_truncated": False,
        },
        schema_overrides={"churn_day": pl.Int64},
    )
    return cand, tl, pl.DataFrame({"account_id": ids, "outcome": success})


def test_wording_when_the_others_never_succeed() -> None:
    frames = _simple([True] * 4 + [False] * 4, [1, 1, 0, 0, 0, 0, 0, 0])
    w = landmark_effects(*frames, min_n=2)["wording"].item()
    assert w == (
        "Accounts that did x in the first 7 days went on to succeed in 50% of cases, "
        "against none of the others (4 of 8 accounts did it)."
    )
    frames = _simple([True] * 4 + [False] * 4, [0] * 8)
    w = landmark_effects(*frames, min_n=2)["wording"].item()
    assert w == (
        "Neither the accounts that did x in the first 7 days nor the others went on to succeed "
        "(4 of 8 accounts did it)."
    )
