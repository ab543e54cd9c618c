"""Landmark analysis: which early behaviours go with accounts that succeed (not: cause success).

Why a landmark. Comparing "accounts that ever did X" with "accounts that never did" rewards X for
the time an account had to do it: an account that lives longer has more chances to do anything,
and living longer is itself success (immortal-time bias). Instead, for a candidate with landmark
day D (``adoption.candidates``), we keep only accounts that

* are not left-truncated (their first D days are in the log),
* were observed for D days (``observed_days >= D``),
* were still active at D (not churned before day D: ``churn_day`` null or ``>= D``), and
* have an observed outcome (non-null in ``outcome``),

and compare the success rate of those that did X in days ``0 .. D-1`` ("did") with those that
did not ("not"). What happens after D (including churn) cannot change which group an account is
in, so time alive no longer favours either group.

Per candidate and segment (every value of every segment column, plus ``"all"``):

* support: n_did, n_not, n_total; successes x_did, x_not.
* activation_rate: n_did / n_total, Wilson interval (``proportion_confint(method="wilson")``).
* precision: P(success | did) = x_did / n_did, Wilson interval; rate_not = x_not / n_not.
* risk_difference = precision - rate_not, Newcombe hybrid-score interval (built from the two
  Wilson intervals; ``confint_proportions_2indep(method="newcomb", compare="diff")``).
* rate_ratio = precision / rate_not (null when rate_not is 0), Katz interval on the log scale
  with 0.5 added to each success count and each group size (``method="log-adjusted"``; finite
  even with a zero count, centred on the adjusted ratio).
* p_value (two-sided, H0: equal rates): Fisher's exact test (``scipy.stats.fisher_exact``) when
  any expected cell count of the 2x2 table is below ``fisher_below`` (default 5), else the score
  test (Miettinen–Nurminen, ``test_proportions_2indep(method="score")``, which keeps its level
  well for moderate counts; Fisher's conditional test is exact, if conservative, for small ones).
* status: ``"ok"``, or ``"too few"`` when either arm has fewer than ``min_n`` accounts; then no
  estimate, interval or p-value is reported (support only).
* q_value: Benjamini–Hochberg across every ``"ok"`` row (all candidates x all segments, "all"
  included; ``multipletests(method="fdr_bh")``); ``significant`` = rejected at ``alpha``
  (False for "too few"). BH stays valid under the positive dependence between overlapping rows.
* Shrinkage of segment estimates toward the "all" estimate (empirical Bayes, normal–normal):
  for one candidate and one segment column with k >= 2 "ok" segments, raw differences d_i with
  variances v_i, ``tau² = max(0, DerSimonian–Laird moment estimate)``
  (``statsmodels.stats.meta_analysis.combine_effects(method_re="chi2").tau2``: the spread of
  the segments around their inverse-variance weighted mean beyond what their variances
  explain), weight
  ``w_i = tau² / (tau² + v_i)`` and ``shrunk_i = w_i * d_i + (1 - w_i) * d_all``. ``v_i`` is
  the Agresti–Caffo variance (one success and one failure added per arm), never 0, so a segment
  with 0 % or 100 % in an arm is not treated as exact. Small or noisy segments (large v_i) move
  most toward "all"; with no spread between segments (tau² = 0) every segment gets the "all"
  estimate. The "all" rows keep their raw estimate (weight 1). Null when the "all" row or the
  spread cannot be estimated.
* wording: "Accounts that {label} went on to succeed 2.1x as often (95% CI 1.6–2.7x; 412 of
  1,203 accounts did it)." These are associations at the landmark: they say which behaviours go
  with success, not that doing them causes it.

Replication (``replicate``): the accounts are split by start date (the median start of the
analysed accounts, or ``split_date``), the analysis is run on each cohort on its own, and a
finding ``replicates`` when both cohorts are "ok", the later cohort's risk difference has the
same (non-zero) sign as the earlier one and the later cohort's interval excludes 0.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from datetime import datetime

import numpy as np
import polars as pl
from scipy.stats import fisher_exact
from statsmodels.stats.meta_analysis import combine_effects
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    proportion_confint,
    test_proportions_2indep,
)

from adoption._common import (
    ALL,
    SEGMENT_KEYS,
    FrameLike,
    collect,
    lazy,
    percent,
    ratio_text,
    require_columns,
    stack_segments,
    thousands,
)

#: Columns that identify one finding.
FINDING_KEYS = [*SEGMENT_KEYS, "candidate"]
_CANDIDATE_META = ["kind", "item", "threshold", "label", "landmark_day"]
_STAT_COLUMNS = [
    "activation_rate",
    "activation_low",
    "activation_high",
    "precision",
    "precision_low",
    "precision_high",
    "rate_not",
    "risk_difference",
    "rd_low",
    "rd_high",
    "rd_variance",
    "rate_ratio",
    "rr_low",
    "rr_high",
    "p_value",
]


def _check_level(conf_level: float, alpha: float | None = None) -> None:
    if not 0.0 < conf_level < 1.0:
        raise ValueError(f"conf_level: must be in (0, 1), got {conf_level}")
    if alpha is not None and not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha: must be in (0, 1), got {alpha}")


def two_group_stats(
    counts: FrameLike,
    *,
    conf_level: float = 0.95,
    min_n: int = 10,
    fisher_below: float = 5.0,
) -> pl.DataFrame:
    """Compare the success rate of two groups per row ("did" vs "not"; module docstring).

    ``counts`` has n_did, x_did, n_not, x_not (non-negative integers, x <= n) and any other
    columns, which are kept. Adds n_total, activation_rate/_low/_high, precision/_low/_high,
    rate_not, risk_difference, rd_low, rd_high, rd_variance (Agresti–Caffo), rate_ratio, rr_low,
    rr_high, p_value, test ("score" | "fisher" | null), status ("ok" | "too few"). Estimates are
    null when status is "too few". Works on any number of rows (vectorised statsmodels calls;
    Fisher's test runs row by row on the small tables only).
    """
    _check_level(conf_level)
    if min_n < 1:
        raise ValueError(f"min_n: must be >= 1, got {min_n}")
    require_columns(counts, ["n_did", "x_did", "n_not", "x_not"], "counts")
    df = collect(counts)
    n1 = df["n_did"].cast(pl.Float64).to_numpy()
    x1 = df["x_did"].cast(pl.Float64).to_numpy()
    n0 = df["n_not"].cast(pl.Float64).to_numpy()
    x0 = df["x_not"].cast(pl.Float64).to_numpy()
    if np.any((x1 < 0) | (x0 < 0) | (x1 > n1) | (x0 > n0)):
        raise ValueError("counts: need 0 <= x_did <= n_did and 0 <= x_not <= n_not")
    ok = (n1 >= min_n) & (n0 >= min_n)
    idx = np.flatnonzero(ok)
    a, na, b, nb = x1[idx], n1[idx], x0[idx], n0[idx]
    nt = na + nb
    alpha = 1.0 - conf_level
    out: dict[str, np.ndarray] = {c: np.full(df.height, np.nan) for c in _STAT_COLUMNS}
    test = np.full(df.height, None, dtype=object)
    if idx.size:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            act_lo, act_hi = proportion_confint(na, nt, alpha=alpha, method="wilson")
            pre_lo, pre_hi = proportion_confint(a, na, alpha=alpha, method="wilson")
            rd_lo, rd_hi = confint_proportions_2indep(
                a, na, b, nb, method="newcomb", compare="diff", alpha=alpha
            )
            rr_lo, rr_hi = confint_proportions_2indep(
                a, na, b, nb, method="log-adjusted", compare="ratio", alpha=alpha
            )
            p1, p0 = a / na, b / nb
            ratio = np.where(p0 > 0, p1 / np.where(p0 > 0, p0, 1.0), np.nan)
            p1a, p0a = (a + 1) / (na + 2), (b + 1) / (nb + 2)
            var_ac = p1a * (1 - p1a) / (na + 2) + p0a * (1 - p0a) / (nb + 2)
            succ, fail = a + b, nt - a - b
            expected = np.minimum.reduce(
                [na * succ / nt, na * fail / nt, nb * succ / nt, nb * fail / nt]
            )
            small = expected < fisher_below
            pval = np.full(idx.size, np.nan)
            if np.any(~small):
                big = ~small
                pval[big] = test_proportions_2indep(
                    a[big], na[big], b[big], nb[big], method="score", compare="diff"
                ).pvalue
            for j in np.flatnonzero(small):
                table = [[a[j], na[j] - a[j]], [b[j], nb[j] - b[j]]]
                pval[j] = fisher_exact(np.asarray(table, dtype=np.int64)).pvalue
        values = {
            "activation_rate": na / nt,
            "activation_low": act_lo,
            "activation_high": act_hi,
            "precision": p1,
            "precision_low": pre_lo,
            "precision_high": pre_hi,
            "rate_not": p0,
            "risk_difference": p1 - p0,
            "rd_low": rd_lo,
            "rd_high": rd_hi,
            "rd_variance": var_ac,
            "rate_ratio": ratio,
            "rr_low": rr_lo,
            "rr_high": rr_hi,
            "p_value": np.clip(pval, 0.0, 1.0),
        }
        for c, v in values.items():
            out[c][idx] = np.asarray(v, dtype=np.float64)
        test[idx] = np.where(small, "fisher", "score")
    stats = pl.DataFrame(
        [pl.Series(c, out[c], dtype=pl.Float64, nan_to_null=True) for c in _STAT_COLUMNS]
    )
    return pl.concat(
        [
            df.drop([c for c in (*_STAT_COLUMNS, "n_total", "test", "status") if c in df.columns]),
            stats,
        ],
        how="horizontal",
    ).with_columns(
        (pl.col("n_did") + pl.col("n_not")).alias("n_total"),
        pl.Series("test", list(test), dtype=pl.String),
        pl.Series("status", np.where(ok, "ok", "too few"), dtype=pl.String),
    )


def add_q_values(findings: pl.DataFrame, *, alpha: float = 0.05) -> pl.DataFrame:
    """Benjamini–Hochberg q-values over every row with a p-value; ``significant`` = q-rejected
    at ``alpha`` (False where there is no p-value)."""
    _check_level(0.95, alpha)
    p = findings["p_value"].fill_null(np.nan).to_numpy().astype(np.float64)
    has = ~np.isnan(p)
    q = np.full(p.shape, np.nan)
    reject = np.zeros(p.shape, dtype=bool)
    if has.any():
        rej, qv, _, _ = multipletests(p[has], alpha=alpha, method="fdr_bh")
        q[has], reject[has] = qv, rej
    return findings.with_columns(
        pl.Series("q_value", q, dtype=pl.Float64, nan_to_null=True),
        pl.Series("significant", reject, dtype=pl.Boolean),
    )


def shrink_segments(findings: pl.DataFrame) -> pl.DataFrame:
    """Partial pooling of segment risk differences toward the "all" one (module docstring).

    Needs FINDING_KEYS, status, risk_difference, rd_variance. Adds tau2 (per candidate and
    segment column), shrink_weight and shrunk_risk_difference."""
    ok = findings.filter(pl.col("status") == "ok")
    pooled = ok.filter(pl.col("segment_column") == ALL).select(
        "candidate", pl.col("risk_difference").alias("_rd_all")
    )
    seg = ok.filter(pl.col("segment_column") != ALL)
    rows: list[tuple[str, str, float]] = []
    for (candidate, column), g in seg.partition_by(
        ["candidate", "segment_column"], as_dict=True, maintain_order=True
    ).items():
        if g.height < 2:
            continue
        d = g["risk_difference"].to_numpy()
        v = g["rd_variance"].to_numpy()
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tau2 = float(combine_effects(d, v, method_re="chi2").tau2)
        rows.append((str(candidate), str(column), max(0.0, tau2)))
    tau = pl.DataFrame(
        {
            "candidate": [r[0] for r in rows],
            "segment_column": [r[1] for r in rows],
            "tau2": [r[2] for r in rows],
        },
        schema={"candidate": pl.String, "segment_column": pl.String, "tau2": pl.Float64},
    )
    is_all = pl.col("segment_column") == ALL
    is_ok = pl.col("status") == "ok"
    weight = (
        pl.when(is_all & is_ok)
        .then(pl.lit(1.0))
        .when(is_ok & pl.col("_rd_all").is_not_null())
        .then(pl.col("tau2") / (pl.col("tau2") + pl.col("rd_variance")))
    )
    out = (
        findings.drop(
            [
                c
                for c in ("tau2", "shrink_weight", "shrunk_risk_difference")
                if c in findings.columns
            ]
        )
        .join(tau, on=["candidate", "segment_column"], how="left")
        .join(pooled, on="candidate", how="left")
        .with_columns(weight.alias("shrink_weight"))
        .with_columns(
            (
                pl.col("shrink_weight") * pl.col("risk_difference")
                + (1.0 - pl.col("shrink_weight")) * pl.col("_rd_all").fill_null(0.0)
            ).alias("shrunk_risk_difference")
        )
        .drop("_rd_all")
    )
    return out


def _wording(conf_level: float, min_n: int) -> pl.Expr:
    level = round(conf_level * 100)
    subject = (
        pl.when(pl.col("segment_column") == ALL)
        .then(pl.lit("Accounts that "))
        .otherwise(pl.format("Among {} = {} accounts, those that ", "segment_column", "segment"))
    )
    support = pl.format(
        "{} of {} accounts did it", thousands(pl.col("n_did")), thousands(pl.col("n_total"))
    )
    ratio = pl.format(
        "{}{} went on to succeed {}x as often ({}% CI {}–{}x; {}).",
        subject,
        "label",
        ratio_text(pl.col("rate_ratio")),
        pl.lit(level),
        ratio_text(pl.col("rr_low")),
        ratio_text(pl.col("rr_high")),
        support,
    )
    none_else = pl.format(
        "{}{} went on to succeed in {} of cases, against none of the others ({}).",
        subject,
        "label",
        percent(pl.col("precision")),
        support,
    )
    too_few = pl.format(
        "Too few accounts to compare: {} did it and {} did not (at least {} of each needed).",
        thousands(pl.col("n_did")),
        thousands(pl.col("n_not")),
        pl.lit(min_n),
    )
    nobody_subject = (
        pl.when(pl.col("segment_column") == ALL)
        .then(pl.lit("Neither the accounts that "))
        .otherwise(
            pl.format("Among {} = {} accounts, neither those that ", "segment_column", "segment")
        )
    )
    nobody = pl.format(
        "{}{} nor the others went on to succeed ({}).", nobody_subject, "label", support
    )
    return (
        pl.when(pl.col("status") != "ok")
        .then(too_few)
        .when(pl.col("rate_ratio").is_null() & (pl.col("precision") == 0))
        .then(nobody)
        .when(pl.col("rate_ratio").is_null())
        .then(none_else)
        .otherwise(ratio)
        .alias("wording")
    )


def landmark_counts(
    candidates: FrameLike,
    timeline: FrameLike,
    outcome: FrameLike,
    *,
    segments: Sequence[str] = (),
) -> pl.DataFrame:
    """Support table of the landmark analysis: one row per (segment_column, segment, candidate).

    Applies the landmark filter of the module docstring, then counts n_did, x_did, n_not, x_not.
    ``candidates``: ``adoption.candidates.candidate_behaviours``; ``timeline``:
    ``adoption.timeline.account_timeline`` (with the ``segments`` columns); ``outcome``:
    account_id, outcome (1 = success, 0 = not, null = not observed; rows missing = not
    observed)."""
    require_columns(outcome, ["account_id", "outcome"], "outcome")
    require_columns(
        candidates, ["account_id", "candidate", *_CANDIDATE_META, "day_reached"], "candidates"
    )
    segs = list(segments)
    require_columns(
        timeline, ["account_id", "observed_days", "churn_day", "left_truncated", *segs], "timeline"
    )
    oc = (
        lazy(outcome)
        .select("account_id", pl.col("outcome").cast(pl.Int64))
        .filter(pl.col("outcome").is_not_null())
    )
    bad = oc.filter(~pl.col("outcome").is_in([0, 1])).select(pl.len()).collect().item()
    if bad:
        raise ValueError(f"outcome: values must be 0, 1 or null; {bad} row(s) are not")
    tl = (
        lazy(timeline)
        .filter(~pl.col("left_truncated"))
        .select("account_id", "observed_days", "churn_day", *segs)
    )
    d = pl.col("landmark_day")
    rows = (
        lazy(candidates)
        .select("account_id", "candidate", *_CANDIDATE_META, "day_reached")
        .join(tl, on="account_id", how="inner")
        .join(oc, on="account_id", how="inner")
        .filter(
            (pl.col("observed_days") >= d)
            & (pl.col("churn_day").is_null() | (pl.col("churn_day") >= d))
        )
        .with_columns(
            (pl.col("day_reached").is_not_null() & (pl.col("day_reached") < d)).alias("_did")
        )
    )
    success = pl.col("outcome") == 1
    return (
        stack_segments(rows, segs)
        .group_by(*FINDING_KEYS, *_CANDIDATE_META)
        .agg(
            pl.col("_did").sum().cast(pl.Int64).alias("n_did"),
            (pl.col("_did") & success).sum().cast(pl.Int64).alias("x_did"),
            (~pl.col("_did")).sum().cast(pl.Int64).alias("n_not"),
            (~pl.col("_did") & success).sum().cast(pl.Int64).alias("x_not"),
        )
        .sort(
            pl.col("segment_column") != ALL,
            "segment_column",
            "segment",
            "kind",
            "item",
            "landmark_day",
            "threshold",
        )
        .collect()
    )


def landmark_effects(
    candidates: FrameLike,
    timeline: FrameLike,
    outcome: FrameLike,
    *,
    segments: Sequence[str] = (),
    alpha: float = 0.05,
    min_n: int = 10,
    conf_level: float = 0.95,
    fisher_below: float = 5.0,
) -> pl.DataFrame:
    """Landmark findings: one row per (segment_column, segment, candidate) (module docstring).

    Inputs as ``landmark_counts``. Returns segment_column ("all" or a segment column), segment,
    candidate, kind, item, threshold, label, landmark_day, the support counts, the
    ``two_group_stats`` columns, q_value, significant, tau2, shrink_weight,
    shrunk_risk_difference and wording. Rows of "all" first, then by segment and candidate.
    """
    _check_level(conf_level, alpha)
    counts = landmark_counts(candidates, timeline, outcome, segments=segments)
    stats = two_group_stats(counts, conf_level=conf_level, min_n=min_n, fisher_below=fisher_below)
    return shrink_segments(add_q_values(stats, alpha=alpha)).with_columns(
        _wording(conf_level, min_n)
    )


def replicate(
    candidates: FrameLike,
    timeline: FrameLike,
    outcome: FrameLike,
    *,
    segments: Sequence[str] = (),
    split_date: datetime | None = None,
    alpha: float = 0.05,
    min_n: int = 10,
    conf_level: float = 0.95,
    fisher_below: float = 5.0,
) -> pl.DataFrame:
    """Does each finding hold in a later signup cohort on its own?

    Accounts with ``start < split_date`` form the earlier cohort, the rest the later one;
    ``split_date`` defaults to the median start of the accounts the analysis can use (not
    left-truncated, outcome observed). ``landmark_effects`` runs on each cohort separately.

    Returns FINDING_KEYS, split_date, and for each cohort (prefix ``early_`` / ``late_``):
    status, n_total, risk_difference, rd_low, rd_high, significant; then ``replicates``: True
    when both cohorts are "ok", the risk differences have the same non-zero sign and the later
    cohort's interval excludes 0; False when both are "ok" otherwise; null when either cohort
    is "too few" or missing. Join it to ``landmark_effects`` on FINDING_KEYS.
    """
    tl = collect(timeline)
    if split_date is None:
        oc = lazy(outcome).filter(pl.col("outcome").is_not_null()).select("account_id")
        starts = (
            tl.lazy()
            .filter(~pl.col("left_truncated"))
            .join(oc, on="account_id", how="semi")
            .select(pl.col("start").median())
            .collect()
        )
        split_date = starts.item()
        if split_date is None:
            raise ValueError("split_date: no account with an observed outcome to split")
    kwargs = {
        "segments": segments,
        "alpha": alpha,
        "min_n": min_n,
        "conf_level": conf_level,
        "fisher_below": fisher_below,
    }
    keep = ["status", "n_total", "risk_difference", "rd_low", "rd_high", "significant"]
    parts = []
    for prefix, part in (
        ("early_", tl.filter(pl.col("start") < split_date)),
        ("late_", tl.filter(pl.col("start") >= split_date)),
    ):
        found = landmark_effects(candidates, part, outcome, **kwargs)  # type: ignore[arg-type]
        parts.append(found.select(*FINDING_KEYS, *[pl.col(c).alias(prefix + c) for c in keep]))
    early, late = parts
    both_ok = (pl.col("early_status") == "ok") & (pl.col("late_status") == "ok")
    sign_e, sign_l = pl.col("early_risk_difference").sign(), pl.col("late_risk_difference").sign()
    excludes_0 = (pl.col("late_rd_low") > 0) | (pl.col("late_rd_high") < 0)
    return (
        early.join(late, on=FINDING_KEYS, how="full", coalesce=True)
        .with_columns(
            pl.lit(split_date).alias("split_date"),
            pl.when(both_ok)
            .then((sign_e == sign_l) & (sign_e != 0) & excludes_0)
            .otherwise(None)
            .alias("replicates"),
        )
        .select(
            *FINDING_KEYS,
            "split_date",
            *[p + c for p in ("early_", "late_") for c in keep],
            "replicates",
        )
        .sort(pl.col("segment_column") != ALL, *FINDING_KEYS)
    )
