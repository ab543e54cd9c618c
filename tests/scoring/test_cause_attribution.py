"""Cause attribution: `top_cause_family` names *why* (cause families) rather than *that* usage falls
(symptom families), and only when the cause stands out against the segment peers, else "no single
cause"; exact on hand-made family sums, and on a simulated world it names the planted cause for at
least 75% of the high-risk accounts that have one while claiming one for at most 35% of those
without (the issue's bars)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import mlflow
import numpy as np
import polars as pl
import pytest

from benchmarks.cause_attribution import EXPECTED_FAMILIES, attribution_table, summarise
from core.config import load_config
from core.errors import ConfigValueError
from scoring.cause import cause_attribution, family_top_feature, peer_percentiles, prior_mask
from scoring.params import ScoreParams

# Module-scoped fixtures are built once: keep these tests on one xdist worker.
pytestmark = pytest.mark.xdist_group("cause_world")

FAMS = ["activity", "friction", "milestones", "role", "trends"]


def _attr(sums: list[list[float]], peer: list[str] | None = None, **kw: Any) -> pl.DataFrame:
    s = np.asarray(sums, dtype=float)
    groups = pl.Series("p", peer or ["all"] * len(sums))
    return cause_attribution(FAMS, s, groups, ScoreParams(**kw))


#: The peer-percentile test off: the hand-made frames below have too few rows to stand out in.
NO_PCT = {"cause_min_peer_percentile": 0.0}


# -- exact, hand-made ------------------------------------------------------------------------
def test_material_cause_beats_a_larger_symptom_else_no_single_cause() -> None:
    out = _attr(
        [
            [2.0, 0.3, 0.0, 0.1, 1.0],  # friction is a material cause: it wins over activity
            [2.0, 0.04, 0.0, 0.0, 1.0],  # friction 0.04 < 0.05 log-odds: no single cause
            [-1.0, -0.2, 0.0, 0.0, -0.5],  # nothing raises the risk
            [0.1, 0.0, 0.2, 0.6, 0.0],
        ],  # role beats milestones
        cause_relative_to="base",
        cause_min_contribution=0.05,
        **NO_PCT,
    )
    assert out["top_cause_family"].to_list() == ["friction", None, None, "role"]
    assert out["top_cause_kind"].to_list() == ["cause", "none", None, "cause"]
    assert out["top_cause_contribution"].to_list() == [0.3, None, None, 0.6]
    # what the next step acts on without a cause: the largest positive non-cause family
    assert out["top_symptom_family"].to_list() == ["activity", "activity", None, "activity"]


def test_a_loss_family_needs_something_to_lose() -> None:
    # Two rows where role carries the largest cause mass; the second had no active admin or
    # builder in the previous window (dormant), so for it role names no loss: no single cause.
    feats = pl.DataFrame(
        {
            "active_admins_prev_28d": [2.0, 0.0],
            "active_builders_prev_28d": [1.0, None],
            "active_admins_28d": [0.0, 0.0],
        }
    )
    fam_of = {
        "active_admins_prev_28d": "role",
        "active_builders_prev_28d": "role",
        "active_admins_28d": "role",
    }
    mask = prior_mask(feats, list(fam_of), fam_of, ["role"], FAMS)
    assert mask[:, FAMS.index("role")].tolist() == [True, False]
    assert mask[:, FAMS.index("friction")].tolist() == [True, True]  # not a loss family
    sums = np.asarray([[0.5, 0.0, 0.0, 1.0, 0.2], [0.5, 0.0, 0.0, 1.0, 0.2]])
    params = ScoreParams(cause_relative_to="base", **NO_PCT)
    out = cause_attribution(FAMS, sums, pl.Series(["all", "all"]), params, mask)
    assert out["top_cause_family"].to_list() == ["role", None]
    assert out["top_cause_kind"].to_list() == ["cause", "none"]
    assert out["top_symptom_family"].to_list() == ["activity", "activity"]


def test_role_is_a_cause_only_where_a_role_stands_out() -> None:
    # a: admins lag the account (0.2 vs 1.0); b: every role fades together (0.3 vs 0.3);
    # c: fading together, but a builder left this month; d: an admin left 60 days ago
    # (9999 = never: the features' sentinel)
    feats = pl.DataFrame(
        {
            "active_admins_prev_28d": [2.0, 2.0, 2.0, 2.0],
            "admin_user_days_last_week_ratio": [0.2, 0.3, 0.3, 0.3],
            "builder_user_days_last_week_ratio": [1.1, 0.3, 0.3, 0.3],
            "builders_left_28d": [0.0, 0.0, 1.0, 0.0],
            "days_since_admin_left": [9999.0, 9999.0, 9999.0, 60.0],
            "user_days_last_week_ratio": [1.0, 0.3, 0.3, 0.3],
        }
    )
    fam_of = {c: "role" for c in feats.columns if c != "user_days_last_week_ratio"}
    mask = prior_mask(feats, list(feats.columns), fam_of, ["role"], FAMS)
    assert mask[:, FAMS.index("role")].tolist() == [True, False, True, True]


def test_min_share_of_the_positive_mass_is_configurable() -> None:
    sums = [[3.0, 0.2, 0.0, 0.0, 1.0]]  # friction is 0.2 / 4.2 = 4.8% of the positive mass
    assert _attr(sums, cause_relative_to="base", **NO_PCT)["top_cause_family"][0] == "friction"
    strict = _attr(sums, cause_relative_to="base", cause_min_share=0.05, **NO_PCT)
    assert strict["top_cause_family"][0] is None
    assert strict["top_cause_kind"][0] == "none"


def test_peers_mode_prefers_the_family_that_sets_the_account_apart_from_its_segment() -> None:
    # Segment "a": milestones raise everyone's risk by 0.5 or more; account 0 also has role 0.4.
    sums = [
        [1.0, 0.0, 0.6, 0.4, 0.0],
        [0.0, 0.0, 0.5, 0.0, 0.0],
        [0.0, 0.0, 0.5, 0.0, 0.0],
        [1.0, 0.0, 0.6, 0.0, 0.0],
    ]  # alone in segment "b": it IS its peers' median
    peer = ["a", "a", "a", "b"]
    base = _attr(sums, peer, cause_relative_to="base", **NO_PCT)
    assert base["top_cause_family"].to_list() == ["milestones"] * 4
    peers = _attr(sums, peer, **NO_PCT)
    # Row 0: role 0.4 above the segment median 0, milestones only 0.1 above 0.5.
    assert peers["top_cause_family"].to_list() == ["role", None, None, None]
    assert peers["top_cause_kind"].to_list() == ["cause", "none", "none", "none"]
    np.testing.assert_allclose(peers["top_cause_vs_peers"].to_numpy()[[0]], [0.4])
    assert peers["top_cause_contribution"].to_list() == [0.4, None, None, None]
    assert peers["top_symptom_family"].to_list() == ["activity", None, None, "activity"]


def test_peer_percentile_is_the_share_of_other_peers_strictly_below() -> None:
    sums = np.asarray([[0.1], [0.5], [0.5], [0.9], [2.0]])
    pct = peer_percentiles(sums, pl.Series(["a", "a", "a", "a", "b"]))
    # in "a" (4 rows) each row has 3 others: 0, 1 and 1 (a tie is not below), 3 of them lower;
    # alone in "b" it has no peer to stand out from
    np.testing.assert_allclose(pct[:, 0], [0.0, 1 / 3, 1 / 3, 1.0, 0.0])


def test_a_cause_must_stand_out_against_its_segment_peers() -> None:
    # Ten accounts of one segment whose role contributions climb 0.2, 0.3, ... 1.1 (usage fades
    # across the board: every one of them has some role mass), and one planted departure at 3.0.
    role = [0.2 + 0.1 * i for i in range(10)] + [3.0]
    sums = [[1.0, 0.0, 0.0, r, 0.5] for r in role]
    out = _attr(sums, cause_min_contribution=0.15, cause_min_peer_percentile=0.9)
    # only the rows above 90% of their 10 peers (the top two) claim role; the rest: no cause
    assert out["top_cause_family"].to_list() == [None] * 9 + ["role", "role"]
    assert out["top_cause_kind"].to_list() == ["none"] * 9 + ["cause", "cause"]
    assert out["top_symptom_family"].unique().to_list() == ["activity"]
    # the same rows without the test: every row above the segment median claims role
    loose = _attr(sums, cause_min_contribution=0.15, **NO_PCT)
    assert loose["top_cause_kind"].to_list() == ["none"] * 6 + ["cause"] * 5


def test_bad_cause_config_is_rejected_with_the_value_named() -> None:
    with pytest.raises(ConfigValueError, match="unknown families \\['why'\\]"):
        _attr([[1.0] * 5], cause_families=("role", "why"))
    with pytest.raises(ConfigValueError, match="cause_relative_to='segment'"):
        _attr([[1.0] * 5], cause_relative_to="segment")
    with pytest.raises(ConfigValueError, match="cause_min_share must be in"):
        _attr([[1.0] * 5], cause_min_share=1.5)
    with pytest.raises(ConfigValueError, match="cause_min_peer_percentile must be in"):
        _attr([[1.0] * 5], cause_min_peer_percentile=1.0)


def test_cause_driver_is_the_largest_positive_feature_of_the_chosen_family() -> None:
    contrib = np.array([[0.5, 0.1, 0.3, 2.0], [0.5, -0.1, -0.3, 2.0], [0.5, 0.1, 0.3, 2.0]])
    names = ["errors", "tickets", "errors_change", "users"]
    fams = {
        "errors": "friction",
        "tickets": "friction",
        "errors_change": "friction",
        "users": "activity",
    }
    chosen = pl.Series(["friction", "friction", None], dtype=pl.String)
    top = family_top_feature(contrib, names, fams, chosen)
    assert top.select("_row", "_f", "contribution", "direction").rows() == [
        (0, 0, 0.5, "cause"),
        (1, 0, 0.5, "cause"),
    ]


# -- on simulated data -----------------------------------------------------------------------
SCORED_CUTOFFS = 4


@pytest.fixture(scope="module")
def cause_world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The demo-sized world (1200 accounts, 540 days: the issue's bar is set "on simulated data" at
    the size the product ships as its demo), scored at the last four weekly cutoffs:
    in-process decay-simulate, decay-train (real champion in a SQLite MLflow store), decay-score.
    Smaller worlds train models that barely use the role and friction indicators (600 accounts
    measured 0.47), so the bar is checked where the model has seen enough of each mechanism."""
    from pipelines.score import score_job
    from pipelines.simulate import write_simulation
    from pipelines.train import train_job
    from simulator import simulate, spec_from_config

    root = tmp_path_factory.mktemp("cause_world")
    base = [
        f"data.dir={root}/data",
        f"output.dir={root}/out",
        f"mlflow.tracking_uri=sqlite:///{root}/mlruns/mlflow.db",
        f"mlflow.artifact_location={root}/mlruns/artifacts",
        "simulate.accounts=1200",
        "simulate.days=540",
        "simulate.oracle_replays=5",
        "backtest.origins=1",
    ]
    cfg = load_config(base)
    write_simulation(simulate(spec_from_config(cfg)), cfg.data.dir)
    tracking, registry = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    train_job(cfg)
    runs, dirs = [], []
    for k in range(SCORED_CUTOFFS):
        as_of = cfg.snapshot.as_of
        from scoring.history import parse_as_of

        day = parse_as_of(as_of) - timedelta(days=int(cfg.snapshot.every_days) * k)
        out = score_job(load_config([*base, f"snapshot.as_of={day}", "score.report=false"]))
        runs.append(pl.read_parquet(out["dir"] / "scores.parquet"))
        dirs.append(out["dir"])
    yield {
        "scores": pl.concat(runs),
        "dirs": dirs,
        "truth": pl.read_parquet(f"{root}/data/truth.parquet"),
        "cfg": cfg,
    }
    mlflow.set_tracking_uri(tracking)
    mlflow.set_registry_uri(registry)


def test_cause_is_named_for_planted_causes_and_withheld_without_one(cause_world) -> None:
    scores, truth = cause_world["scores"], cause_world["truth"]
    summary = summarise(scores, truth)
    print(
        f"\ncause attribution: rate {summary['rate']} "
        f"({summary['matched']}/{summary['n_high_risk_with_cause']} high-risk accounts with a "
        f"planted cause; plain top family: {summary['rate_if_plain_top_family']}); a cause "
        f"claimed for {summary['no_cause_claimed_a_cause_share']} of the "
        f"{summary['no_cause_high_risk']} without one"
    )
    for cause, c in summary["per_cause"].items():
        print(
            f"  {cause:20s} {c['matched']:3d}/{c['n']:3d} = {c['rate']:.2f}  instead: {c['won_instead']}"
        )
    assert summary["n_high_risk_with_cause"] >= 60  # enough rows for the rate to mean something
    assert set(summary["per_cause"]) == set(EXPECTED_FAMILIES)
    assert summary["rate"] >= 0.75
    # ... naming the cause beats the symptom-dominated plain top family by far ...
    assert summary["rate"] >= summary["rate_if_plain_top_family"] + 0.2
    # ... and where nothing was planted, most high-risk accounts get "no single cause".
    assert summary["no_cause_high_risk"] >= 20
    assert summary["no_cause_claimed_a_cause_share"] <= 0.35


def test_cause_columns_are_in_the_outputs_and_drive_the_next_step(cause_world) -> None:
    d = cause_world["dirs"][0]
    crm = pl.read_csv(d / "scores.csv")
    scores = pl.read_parquet(d / "scores.parquet")
    assert {"top_cause_family", "top_cause_kind", "top_cause_driver_text"} <= set(crm.columns)
    assert crm.height == scores.height
    # top drivers are unchanged: ranked by contribution, whatever family they belong to.
    assert scores.filter(pl.col("driver_1").is_not_null()).height > 0
    causes = scores.filter(pl.col("top_cause_kind") == "cause")
    assert causes["top_cause_family"].is_in(list(cause_world["cfg"].score.cause_families)).all()
    assert (
        causes["top_cause_contribution"] >= cause_world["cfg"].score.cause_min_contribution
    ).all()
    assert causes["top_cause_driver_text"].null_count() == 0
    friction = causes.filter(pl.col("top_cause_family") == "friction")
    assert friction.height > 0
    assert friction["next_best_action"].str.starts_with("Friction is rising").all()
    # {driver} in the friction rule quotes the cause's own sentence, not the top risk driver's.
    assert all(
        a.endswith(t)
        for a, t in friction.select("next_best_action", "top_cause_driver_text").iter_rows()
    )
    # no single cause: no family named, and the next step follows the top symptom, never a
    # cause family's rule ("Key users went quiet" is a claim)
    none = scores.filter(pl.col("top_cause_kind") == "none")
    assert none.height > 0 and none["top_cause_family"].null_count() == none.height
    assert none["top_cause_driver_text"].null_count() == none.height
    assert not none["top_symptom_family"].is_in(list(cause_world["cfg"].score.cause_families)).any()
    assert not none["next_best_action"].str.starts_with("Key users went quiet").any()
    assert crm.filter(pl.col("top_cause_kind") == "none")["top_cause_family"].null_count() > 0
    table = attribution_table(cause_world["scores"], cause_world["truth"])
    assert table["match"].dtype == pl.Boolean
