"""Scoring: exact risk on a hand-made model, tiers/ranks, change since last run, sentences,
playbook, and chunk invariance of every output."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from core.errors import ConfigValueError
from models.router import Calibrator
from scoring.cause import CAUSE_COLUMNS
from scoring.explain import top_contributions
from scoring.params import ScoreParams
from scoring.playbook import next_best_action, validate_playbook
from scoring.score import crm_table, rank_and_tier, score_accounts, with_change
from scoring.sentences import format_number
from tests.scoring.conftest import AS_OF, make_features, stump_model

SEGMENTS = ["industry", "size_tier", "use_case"]


def _score(model, frame, catalogue, playbook, milestones, **kw):
    params = ScoreParams(**{"explainer": "woodelf", **kw})
    return score_accounts(
        model,
        frame.drop("label", strict=False),
        catalogue,
        params,
        playbook,
        as_of=AS_OF,
        segments=SEGMENTS,
        milestones=milestones,
        peer_segment="size_tier",
        model_version="7",
        model_uri="models:/m/7",
    )


def test_tiny_hand_made_case_is_exact(playbook) -> None:
    model = stump_model(Calibrator("none"))
    frame = pl.DataFrame(
        {"account_id": ["x", "y", "z"], "a": [0.0, 1.0, 0.2], "b": [5.0, 5.0, 1.0]}
    )
    out = score_accounts(
        model,
        frame,
        {},
        ScoreParams(tier_mode="threshold", tier_thresholds={"high": 0.8, "medium": 0.5}),
        playbook,
        as_of=AS_OF,
    )
    s = out.scores
    sig = [1 / (1 + math.exp(1.0)), 1 / (1 + math.exp(-2.0)), 1 / (1 + math.exp(1.0))]
    np.testing.assert_allclose(s["decay_risk"].to_numpy(), sig, rtol=0, atol=1e-15)
    np.testing.assert_allclose(s["raw_score"].to_numpy(), [-1.0, 2.0, -1.0], atol=1e-6)
    assert s["rank"].to_list() == [2, 1, 3]  # tie between x and z broken by account_id
    assert s["risk_tier"].to_list() == ["low", "high", "low"]  # 0.269, 0.881, 0.269
    e = out.explanations
    assert e.select("account_id", "feature", "direction", "rank").rows() == [
        ("x", "a", "protective", 1),
        ("y", "a", "risk", 1),
        ("z", "a", "protective", 1),
    ]
    np.testing.assert_allclose(e["contribution"].to_numpy(), [-0.75, 2.25, -0.75], atol=1e-6)
    assert e["value"].to_list() == [0.0, 1.0, 0.2]
    assert e["peer_median"].to_list() == [0.2, 0.2, 0.2]  # one peer group: median of 0, 1, 0.2
    assert s["driver_1"].to_list() == [None, "a", None]
    assert s["top_family"].to_list() == [None, "other", None]
    assert s["next_best_action"][0] == playbook["default"]


def test_rank_and_tiers_threshold_and_capacity() -> None:
    s = pl.DataFrame({"account_id": ["a", "b", "c", "d"], "decay_risk": [0.3, 0.9, 0.1, 0.6]})
    th = {"high": 0.5, "medium": 0.25}
    t = rank_and_tier(s, ScoreParams(tier_mode="threshold", tier_thresholds=th))
    assert t["rank"].to_list() == [3, 1, 4, 2]
    assert t["risk_tier"].to_list() == ["medium", "high", "low", "high"]
    c = rank_and_tier(s, ScoreParams(tier_mode="capacity", tier_thresholds=th, capacity=1))
    assert c["risk_tier"].to_list() == ["medium", "high", "low", "medium"]
    with pytest.raises(ConfigValueError, match="tier_mode='top'"):
        rank_and_tier(s, ScoreParams(tier_mode="top"))
    with pytest.raises(ConfigValueError, match="medium <= high"):
        rank_and_tier(s, ScoreParams(tier_thresholds={"high": 0.2, "medium": 0.4}))


def test_relative_tiers_follow_rank_not_base_rate() -> None:
    # A base rate of ~90%: thresholds would make almost everyone "high"; relative tiers do not.
    risk = [0.99, 0.97, 0.95, 0.93, 0.91, 0.9, 0.89, 0.88, 0.87, 0.2]
    s = pl.DataFrame({"account_id": [f"a{i}" for i in range(10)], "decay_risk": risk})
    t = rank_and_tier(
        s, ScoreParams(tier_mode="relative", tier_shares={"high": 0.2, "medium": 0.5}, capacity=50)
    )
    assert t["risk_tier"].to_list() == ["high"] * 2 + ["medium"] * 3 + ["low"] * 5
    cap = rank_and_tier(
        s, ScoreParams(tier_mode="relative", capacity=1, tier_shares={"high": 0.2, "medium": 0.5})
    )
    assert cap["risk_tier"].to_list()[:2] == ["high", "medium"]  # capacity caps "high"
    with pytest.raises(ConfigValueError, match="tier_shares"):
        rank_and_tier(
            s, ScoreParams(tier_mode="relative", tier_shares={"high": 0.6, "medium": 0.5})
        )


@given(
    st.lists(st.floats(0, 1), min_size=1, max_size=60),
    st.floats(0, 1),
    st.floats(0, 1),
    st.integers(0, 80),
)
def test_relative_tiers_properties(risk, a, b, capacity) -> None:
    hi, med = sorted((a, b))
    s = pl.DataFrame({"account_id": [f"a{i:03d}" for i in range(len(risk))], "decay_risk": risk})
    t = rank_and_tier(
        s,
        ScoreParams(
            tier_mode="relative", capacity=capacity, tier_shares={"high": hi, "medium": med}
        ),
    )
    n_high = t.filter(pl.col("risk_tier") == "high").height
    assert 1 <= n_high <= max(1, min(capacity, math.ceil(hi * len(risk))))
    # Tiers are monotone in rank: no "low" above a "medium", no "medium" above a "high".
    order = {"high": 0, "medium": 1, "low": 2}
    tiers = t.sort("rank")["risk_tier"].map_elements(order.get, return_dtype=pl.Int64).to_list()
    assert tiers == sorted(tiers)


def test_change_since_previous_run() -> None:
    now = pl.DataFrame({"account_id": ["a", "b", "c"], "decay_risk": [0.5, 0.25, 0.75]})
    prev = pl.DataFrame({"account_id": ["b", "a", "gone"], "decay_risk": [0.5, 0.125, 0.9]})
    out = with_change(now, prev)
    assert out["previous_risk"].to_list() == [0.125, 0.5, None]
    assert out["risk_change"].to_list() == [0.375, -0.25, None]
    assert with_change(now, None)["risk_change"].null_count() == 3


def test_top_contributions_keep_sign_and_order() -> None:
    c = np.array([[0.5, -0.2, 0.0, 1.5], [-1.0, -3.0, 0.0, 0.0]])
    t = top_contributions(c, 3, 2)
    assert t.rows() == [
        (0, 3, 1.5, 1, "risk"),
        (0, 0, 0.5, 2, "risk"),
        (0, 1, -0.2, 1, "protective"),
        (1, 1, -3.0, 1, "protective"),
        (1, 0, -1.0, 2, "protective"),
    ]


@pytest.mark.parametrize(
    ("value", "unit", "follows", "text"),
    [
        (12.0, "days", "", "12 days"),
        (12.4, "days", " days ago", "12"),
        (3.0, "users", "", "3"),
        (2.5, "events", "", "2.5"),
        (0.456, "share", "", "46%"),
        (0.5, "ratio", "", "50%"),
        (0.456, "ratio", " times", "0.46"),
        (0.21, "percentile (0..1)", "", "21st"),
        (0.12, "percentile (0..1)", "", "12th"),
        (None, "users", "", "n/a"),
    ],
)
def test_numbers_are_formatted_for_humans(value, unit, follows, text) -> None:
    got = pl.select(format_number(pl.lit(value, pl.Float64), unit, follows)).item()
    assert got == text


def test_driver_sentence_uses_value_peer_and_other_features(
    model, frame, catalogue, playbook, milestones
) -> None:
    out = _score(model, frame, catalogue, playbook, milestones)
    e = out.explanations
    row = e.filter(pl.col("feature") == "integration_errors_28d").row(0, named=True)
    assert row["sentence"] == (
        f"{row['value']:.0f} integration errors in the last 28 days; "
        f"accounts like this one had {row['peer_median']:.0f}."
    )
    acc = row["account_id"]
    tier = frame.filter(pl.col("account_id") == acc)["size_tier"][0]
    peers = frame.filter(pl.col("size_tier") == tier)["integration_errors_28d"]
    assert row["peer_median"] == peers.median()
    ratio = e.filter(pl.col("feature") == "active_users_trend_ratio").row(0, named=True)
    prev = frame.filter(pl.col("account_id") == ratio["account_id"])["active_users_prev_28d"][0]
    assert ratio["sentence"].startswith(f"Active users went from {prev:.0f} to ")
    assert set(e["direction"]) == {"risk", "protective"}
    assert e.filter(pl.col("direction") == "risk")["contribution"].min() > 0
    assert e.filter(pl.col("direction") == "protective")["contribution"].max() < 0


def test_chunk_size_never_changes_a_score_or_explanation(
    model, frame, catalogue, playbook, milestones
) -> None:
    whole = _score(model, frame, catalogue, playbook, milestones, chunk_rows=100_000)
    for chunk in (1, 13):
        part = _score(model, frame, catalogue, playbook, milestones, chunk_rows=chunk, n_jobs=2)
        assert_frame_equal(part.scores, whole.scores)
        assert_frame_equal(part.explanations, whole.explanations)
        assert_frame_equal(part.families, whole.families)


def test_peer_medians_come_from_the_whole_frame_not_a_subset(
    model, frame, catalogue, playbook, milestones
) -> None:
    whole = _score(model, frame, catalogue, playbook, milestones).explanations
    sub = frame.head(20)
    alone = _score(model, sub, catalogue, playbook, milestones).explanations
    joined = alone.join(whole, on=["account_id", "feature", "direction"], suffix="_w")
    assert (joined["contribution"] == joined["contribution_w"]).all()  # per-row: identical
    assert (joined["peer_median"] != joined["peer_median_w"]).any()  # population: differs


def test_playbook_rule_fires_on_top_family_and_milestone_progress(playbook) -> None:
    ctx = pl.DataFrame(
        {
            "top_family": ["milestones", "milestones", "friction", None],
            "milestone_state": ["partly", "all", "partly", None],
            "milestones_reached": [1, 3, 1, None],
            "milestones_total": [2, 3, 3, 0],
            "next_milestone": ["first automation launched", None, "x", None],
            "peer_share_next": [0.62, None, 0.1, None],
            "segment": ["smb", "smb", "mid", None],
            "driver": ["d1", "d2", "3 integration errors.", None],
        }
    )
    got = next_best_action(ctx, playbook).to_list()
    assert got[0] == (
        "You're halfway to first automation launched: 62% of peers in your segment "
        "have reached it. Offer a working session to get there this month."
    )
    assert got[1].startswith("Every milestone is reached")
    assert got[2].endswith("3 integration errors.")
    assert got[3] == playbook["default"]


def test_playbook_without_family_default_is_rejected(playbook) -> None:
    bad = {
        **playbook,
        "rules": {**playbook["rules"], "role": [{"when": {"milestones": "none"}, "action": "x"}]},
    }
    with pytest.raises(ConfigValueError, match="no default rule for family 'role'"):
        validate_playbook(bad)


def test_crm_table_has_one_flat_row_per_account(
    model, frame, catalogue, playbook, milestones
) -> None:
    out = _score(model, frame, catalogue, playbook, milestones)
    crm = crm_table(out.scores, SEGMENTS, 3, 2)
    assert crm.height == frame.height == crm["account_id"].n_unique()
    assert crm.columns[:10] == [
        "account_id",
        "as_of",
        *SEGMENTS,
        "decay_risk",
        "risk_tier",
        "rank",
        "previous_risk",
        "risk_change",
    ]
    assert {"driver_3_family", "protective_2_text", "next_best_action"} <= set(crm.columns)
    assert all(dt != pl.List for dt in crm.dtypes)
    top = out.scores.sort("rank").row(0, named=True)
    assert top["driver_1_text"] and top["next_best_action"]
    # "no single cause" is a clean row: kind none, no family, contribution or cause driver
    assert crm.columns[-8:-1] == list(CAUSE_COLUMNS)
    assert set(crm["top_cause_kind"].unique().to_list()) <= {"cause", "none", None}
    none = crm.filter(pl.col("top_cause_kind") == "none")
    assert none.height > 0
    assert none["top_cause_family"].null_count() == none.height
    assert none["top_cause_contribution"].null_count() == none.height
    assert none["top_cause_driver_text"].null_count() == none.height


def test_duplicate_accounts_are_rejected(model, catalogue, playbook) -> None:
    f = make_features(10)
    with pytest.raises(ValueError, match="acc0000"):
        _score(model, pl.concat([f, f.head(1)]), catalogue, playbook, [])


def test_a_served_baseline_is_scored_and_explained_like_a_booster(catalogue, playbook) -> None:
    from models.linear import LinearScorer
    from models.router import GLOBAL, RoutedModel, SegmentModel
    from tests.scoring.conftest import FEATURES

    frame = make_features(400)
    shell = RoutedModel(FEATURES, {}, None, {GLOBAL: SegmentModel(None, Calibrator())}, {})
    X = shell.to_matrix(frame)
    cols = [FEATURES.index("active_users_28d"), FEATURES.index("integration_errors_28d")]
    sc = LinearScorer.fit("event_counts", X, frame["label"].to_numpy(), cols, seed=0)
    model = RoutedModel(
        FEATURES,
        {},
        None,
        {GLOBAL: SegmentModel(sc, Calibrator("none"))},
        {},
        {"served": "event_counts"},
    )
    out = _score(model, frame, catalogue, playbook, [])
    s, e = out.scores, out.explanations
    assert s.height == 400 and s["decay_risk"].is_between(0, 1).all()
    np.testing.assert_allclose(s["decay_risk"].to_numpy(), model.predict_proba(frame))
    # only the baseline's two inputs can drive an explanation, each with its sentence
    assert set(e["feature"].unique()) <= {"active_users_28d", "integration_errors_28d"}
    assert e["sentence"].null_count() == 0
    risky = e.filter(pl.col("direction") == "risk")
    assert (risky["contribution"] > 0).all() and risky.height > 0


def test_csv_cells_a_spreadsheet_would_run_are_neutralised() -> None:
    from scoring.score import neutralise_formulas

    crm = pl.DataFrame(
        {
            "account_id": ['=HYPERLINK("x")', "+1", "-2", "@SUM(A1)", "\tx", "ok", None],
            "decay_risk": [0.1, -0.2, 0.3, 0.4, 0.5, 0.6, 0.7],
        }
    )
    out = neutralise_formulas(crm)
    assert out["account_id"].to_list() == [
        '\'=HYPERLINK("x")',
        "'+1",
        "'-2",
        "'@SUM(A1)",
        "'\tx",
        "ok",
        None,
    ]
    assert out["decay_risk"].to_list() == crm["decay_risk"].to_list()  # numbers untouched


@given(st.lists(st.one_of(st.none(), st.text(max_size=12)), min_size=1, max_size=20))
def test_no_neutralised_cell_starts_a_formula(values) -> None:
    from scoring.score import FORMULA_START, neutralise_formulas

    out = neutralise_formulas(pl.DataFrame({"v": values}, schema={"v": pl.String}))["v"].to_list()
    for before, after in zip(values, out, strict=True):
        if before is None:
            assert after is None
        elif before.startswith(FORMULA_START):
            assert after == "'" + before  # shown as the same text, never run
        else:
            assert after == before


#: Cells a spreadsheet would run (OWASP CSV injection), as customer data can carry them.
FORMULAS = ["=cmd|' /C calc'!A0", "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1", "=HYPERLINK(x)"]
FORMULA_CHARS = ("=", "+", "-", "@", "\t", "\r")


@pytest.mark.parametrize("neutralise", [True, False])
def test_scores_csv_neutralises_ids_segments_and_driver_texts_but_not_numbers(
    model, frame, catalogue, playbook, milestones, tmp_path, neutralise
) -> None:
    import csv

    from scoring.outputs import write_score_outputs

    scores = _score(model, frame, catalogue, playbook, milestones).scores.head(len(FORMULAS))
    k = len(FORMULAS)
    hostile = scores.with_columns(
        pl.Series("account_id", FORMULAS),
        pl.Series("industry", FORMULAS[::-1]),
        pl.Series("driver_1_text", FORMULAS),
        pl.Series("top_cause_driver_text", FORMULAS[1:] + FORMULAS[:1]),
        pl.Series("risk_change", [-0.5] * k),
        pl.Series("previous_risk", [0.25] * k),
    )
    crm = crm_table(hostile, SEGMENTS, 3, 2)
    write_score_outputs(tmp_path, {}, crm, {}, csv_neutralise=neutralise)
    with (tmp_path / "scores.csv").open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == k
    for col in ("account_id", "industry", "driver_1_text", "top_cause_driver_text"):
        got = [r[col] for r in rows]
        want = crm[col].to_list()
        assert got == (["'" + v for v in want] if neutralise else want), col
    for r in rows:  # numbers stay numbers a sheet can sum; no text cell starts a formula
        assert r["risk_change"] == "-0.5" and _is_number(r["decay_risk"])
        text = [v for v in r.values() if v and not _is_number(v)]
        assert not neutralise or not [v for v in text if v.startswith(FORMULA_CHARS)]
    assert rows[0]["account_id"] == ("'" if neutralise else "") + "=cmd|' /C calc'!A0"


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
