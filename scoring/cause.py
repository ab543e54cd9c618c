"""Likely cause: which *cause* family (role, milestones, onboarding, friction) explains the risk.

When adoption is already falling, symptom families (activity, trends, breadth, peer) carry most of
the SHAP mass, but a CSM needs the why. The rule, in one sentence: a cause family is named only
when its summed contribution is material (``score.cause_min_contribution`` log-odds) and higher
than for ``score.cause_min_peer_percentile`` of the account's segment peers; otherwise the account
has *no single cause* (usage fading across the board), and the next step follows its top symptom.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import polars as pl

from core.config import CauseRelativeTo
from core.errors import ConfigValueError
from features.catalogue import FAMILIES
from scoring.explain import top_contributions
from scoring.params import ScoreParams

#: ``score.cause_relative_to``: the schema's enum is the one list.
CAUSE_RELATIVE_TO = tuple(CauseRelativeTo)

#: ``top_cause_kind`` values: a cause family stands out, or no single cause does (some family
#: still raises the risk); null when no family raises the risk at all.
KIND_CAUSE, KIND_NONE = "cause", "none"

# Columns `cause_attribution` adds to the scores (and the CRM export).
CAUSE_COLUMNS = (
    "top_cause_family",
    "top_cause_kind",
    "top_cause_contribution",
    "top_cause_vs_peers",
    "top_cause_driver",
    "top_cause_driver_text",
    "top_symptom_family",
)


# -- cause attribution: why, not only that ---------------------------------------------------
def validate_cause_params(params: ScoreParams) -> None:
    """Raise ConfigValueError naming the bad ``score.cause_*`` value."""
    unknown = sorted(set(params.cause_families) - set(FAMILIES) - {"other"})
    if unknown:
        raise ConfigValueError(
            f"score.cause_families has unknown families {unknown}",
            hint=f"use families of {list(FAMILIES)}",
        )
    if params.cause_relative_to not in CAUSE_RELATIVE_TO:
        raise ConfigValueError(
            f"score.cause_relative_to={params.cause_relative_to!r} is not known",
            hint=f"use one of {list(CAUSE_RELATIVE_TO)}",
        )
    if not params.cause_min_contribution >= 0:
        raise ConfigValueError(
            "score.cause_min_contribution must be >= 0 (log-odds), got "
            f"{params.cause_min_contribution}"
        )
    if not 0 <= params.cause_min_share <= 1:
        raise ConfigValueError(
            f"score.cause_min_share must be in [0, 1], got {params.cause_min_share}"
        )
    if not 0 <= params.cause_min_peer_percentile < 1:
        raise ConfigValueError(
            "score.cause_min_peer_percentile must be in [0, 1) (0 = off), got "
            f"{params.cause_min_peer_percentile}"
        )


def prior_mask(
    features: pl.DataFrame,
    feature_names: Sequence[str],
    families: Mapping[str, str],
    loss_families: Sequence[str],
    fam_names: Sequence[str],
) -> np.ndarray:
    """(rows, families) bool: may each family be a *cause* for each row?

    Why: a loss family (``score.cause_loss_families``, default ``role``: "key users went quiet")
    names something that was there and went away. For an account that had nobody active in that
    role in the previous window (a dormant account, or one that never got going), low role
    counts are one more symptom of not using the product, not a loss: the row may not claim
    that family as its cause. The "previous window" facts are the family's ``*_prev_*``
    features; a family without any is always eligible."""
    n = features.height
    out = np.ones((n, len(fam_names)), dtype=bool)
    for j, fam in enumerate(fam_names):
        if fam not in set(loss_families):
            continue
        cols = [f for f in feature_names if families.get(f) == fam and f in features.columns]
        prev = [f for f in cols if "_prev_" in f]
        if prev:
            had = features.select(pl.sum_horizontal([pl.col(c).fill_null(0) for c in prev]) > 0)
            out[:, j] = had.to_series().to_numpy()
        if fam == "role":
            out[:, j] &= _role_stands_out(features, cols)
    return out


#: A role "lags the rest" when its use last week is below this share of the whole account's.
ROLE_LAG = 0.75
#: A departure this recent (days; the longest default window) still names a loss.
ROLE_LEFT_DAYS = 90


def _role_stands_out(features: pl.DataFrame, role_cols: Sequence[str]) -> np.ndarray:
    """Rows where the role family names something specific to a role: a user of a role left in
    the recent window (``<role>s_left_*`` > 0, or ``days_since_<role>_left`` <=
    ``ROLE_LEFT_DAYS``), or a role's use last week is below ``ROLE_LAG``
    times the account's overall use (``<role>_user_days_last_week_ratio`` vs
    ``user_days_last_week_ratio``). Why: "key users went quiet before everyone else" is a cause
    a CSM can act on; when every role fades together (a stalled onboarding, a dormant account)
    the role indicators only repeat that use is down. Without these facts every row qualifies."""
    left = [c for c in role_cols if c.endswith("d") and "s_left_" in c]
    since = [c for c in role_cols if c.startswith("days_since_") and c.endswith("_left")]
    ratios = [c for c in role_cols if c.endswith("_user_days_last_week_ratio")]
    overall = "user_days_last_week_ratio"
    tests: list[pl.Expr] = []
    if left:
        tests.append(pl.sum_horizontal([pl.col(c).fill_null(0) for c in left]) > 0)
    if since:
        tests.append(
            pl.min_horizontal([pl.col(c) for c in since]).fill_null(math.inf) <= ROLE_LEFT_DAYS
        )
    if ratios and overall in features.columns:
        lag = pl.min_horizontal([pl.col(c) for c in ratios]) < ROLE_LAG * pl.col(overall)
        tests.append(lag.fill_null(False))
    if not tests:
        return np.ones(features.height, dtype=bool)
    return features.select(pl.any_horizontal(tests)).to_series().to_numpy()


def peer_percentiles(fam_sums: np.ndarray, peer: pl.Series) -> np.ndarray:
    """(rows, families): the share of each row's OTHER peer-group rows whose summed contribution
    of the family is strictly lower (0 = lowest or alone in its group, 1 = above every peer).

    Taken over all rows given (one cutoff, whole population), like the peer medians, so
    chunking never changes it."""
    n, k = fam_sums.shape
    if n == 0 or k == 0:
        return np.zeros((n, k))
    frame = pl.DataFrame({f"_c{j}": fam_sums[:, j] for j in range(k)}).with_columns(
        peer.alias("_peer")
    )
    others = (pl.len().over("_peer") - 1).cast(pl.Float64)
    below = [
        ((pl.col(f"_c{j}").rank("min").over("_peer") - 1) / others).fill_nan(0.0) for j in range(k)
    ]
    return frame.select(below).to_numpy().reshape(n, k)


def cause_attribution(
    fam_names: Sequence[str],
    fam_sums: np.ndarray,
    peer: pl.Series,
    params: ScoreParams,
    eligible: np.ndarray | None = None,
) -> pl.DataFrame:
    """Per row: the family that best says *why* the account is at risk, or no single cause.

    Why not simply the largest family: once adoption is already falling, the symptom families
    (activity, trends, breadth, peer) carry most of the TreeSHAP mass, yet "usage is down" is what
    the CSM already sees. Why not always a cause family: when usage fades across the board, some
    cause family always has *some* positive contribution, and naming it sends the CSM after a
    champion who never left. So a *cause* family (``params.cause_families``: people leaving,
    milestones missed, onboarding, friction) is claimed only when it is material and stands out:
    its summed contribution ``c`` (log-odds, positive raises risk) satisfies
    ``c >= cause_min_contribution``, ``c >= cause_min_share * (sum of the row's positive family
    contributions)``, and ``c`` is higher than for ``cause_min_peer_percentile`` of the row's
    peer-group rows (`peer_percentiles`; 0 turns that test off). ``eligible`` (rows, families)
    may forbid a family for a row (`prior_mask`: a loss family with nothing to lose). Among the
    claimable cause families the largest wins, compared by ``c`` itself
    (``cause_relative_to="base"``) or by ``c`` minus the median of the same family over the row's
    peer group (``"peers"``, the default: a family that raises the risk of every account of a
    segment, such as milestones that small accounts rarely reach, says less about this account
    than one that sets it apart from its peers; it must then also exceed that median). ``peer``
    is the peer-group label of each row; medians and percentiles are taken over ALL rows given
    (one cutoff, whole population), so chunking never changes a result.

    Returns ``top_cause_family`` (the claimed cause family; null when no single cause stands
    out), ``top_cause_kind`` (``cause``; ``none`` = no single cause stands out though some family
    raises the risk; null when no family raises it), ``top_cause_contribution`` and
    ``top_cause_vs_peers`` (the cause family's summed contribution, and that minus the peer-group
    median of the family; null without a cause) and ``top_symptom_family`` (the largest positive
    family that is not a cause family: what the next step acts on when there is no cause).
    """
    validate_cause_params(params)
    n, k = fam_sums.shape
    names = list(fam_names)
    if n == 0 or k == 0:
        fam_sums = np.zeros((n, 1))
        names = ["other"]
    k = fam_sums.shape[1]
    groups = peer if n else pl.Series("_peer", [], dtype=pl.String)
    frame = pl.DataFrame({f"_c{j}": fam_sums[:, j] for j in range(k)}).with_columns(
        groups.alias("_peer")
    )
    medians = frame.select([pl.col(f"_c{j}").median().over("_peer") for j in range(k)]).to_numpy()
    vs_peers = fam_sums - medians.reshape(n, k)
    is_cause = np.array([f in params.cause_families for f in names], dtype=bool)
    positive_total = np.clip(fam_sums, 0, None).sum(axis=1, keepdims=True)
    if eligible is None:
        eligible = np.ones((n, k), dtype=bool)
    material = (
        is_cause[None, :]
        & eligible
        & (fam_sums > 0)
        & (fam_sums >= params.cause_min_contribution)
        & (fam_sums >= params.cause_min_share * positive_total)
    )
    if params.cause_min_peer_percentile > 0:
        material &= peer_percentiles(fam_sums, groups) >= params.cause_min_peer_percentile
    rank_by = fam_sums
    if params.cause_relative_to == "peers":
        material &= vs_peers > 0
        rank_by = vs_peers
    cause_score = np.where(material, rank_by, -np.inf)
    has_cause = material.any(axis=1)
    pick = np.argmax(cause_score, axis=1)
    rows = np.arange(n)
    symptom_score = np.where(~is_cause[None, :] & (fam_sums > 0), fam_sums, -np.inf)
    has_symptom = np.isfinite(symptom_score).any(axis=1)
    symptom = np.asarray(names, dtype=object)[np.argmax(symptom_score, axis=1)]
    raised = (fam_sums > 0).any(axis=1)
    null = np.full(n, None, dtype=object)
    family = np.where(has_cause, np.asarray(names, dtype=object)[pick], null)
    kind = np.where(has_cause, KIND_CAUSE, np.where(raised, KIND_NONE, null))
    contribution = np.where(has_cause, fam_sums[rows, pick], np.nan)
    excess = np.where(has_cause, vs_peers[rows, pick], np.nan)
    return pl.DataFrame(
        {
            "top_cause_family": pl.Series(family.tolist(), dtype=pl.String),
            "top_cause_kind": pl.Series(kind.tolist(), dtype=pl.String),
            "top_cause_contribution": pl.Series(contribution, dtype=pl.Float64).fill_nan(None),
            "top_cause_vs_peers": pl.Series(excess, dtype=pl.Float64).fill_nan(None),
            "top_symptom_family": pl.Series(
                np.where(has_symptom, symptom, null).tolist(), dtype=pl.String
            ),
        }
    )


def family_top_feature(
    contrib: np.ndarray,
    feature_names: Sequence[str],
    families: Mapping[str, str],
    chosen: pl.Series,
) -> pl.DataFrame:
    """``_row, _f, contribution, rank, direction`` of each row's largest positive contribution
    among the features of its ``chosen`` family (rows with a null family or no positive feature in
    it are left out); ``direction`` is ``"cause"``. Same shape as `top_contributions`, so
    `explanation_frame` renders its value, peer median and sentence."""
    fam_of = np.asarray([str(families.get(f, "other")) for f in feature_names], dtype=object)
    want = np.asarray(chosen.fill_null("").to_list(), dtype=object)
    n = contrib.shape[0]
    if n == 0 or contrib.shape[1] == 0:
        return top_contributions(contrib, 0, 0)
    masked = np.where(fam_of[None, :] == want[:, None], contrib, -np.inf)
    best = np.argmax(masked, axis=1)
    value = masked[np.arange(n), best]
    keep = np.isfinite(value) & (value > 0)
    return pl.DataFrame(
        {
            "_row": np.flatnonzero(keep).astype(np.int64),
            "_f": best[keep].astype(np.int64),
            "contribution": value[keep],
            "rank": np.ones(int(keep.sum()), dtype=np.int64),
            "direction": np.full(int(keep.sum()), "cause"),
        },
        schema={
            "_row": pl.Int64,
            "_f": pl.Int64,
            "contribution": pl.Float64,
            "rank": pl.Int64,
            "direction": pl.String,
        },
    )
