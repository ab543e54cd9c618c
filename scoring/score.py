"""Batch scoring: calibrated risk, tiers, ranks, change since last run, drivers and next step.

Contract: ``features`` is the WHOLE feature frame of one cutoff (``features.build.build_features``
at ``as_of``). Everything population-level (segment peer medians, milestone shares of peers, ranks,
capacity tiers) is computed over that whole frame; only the per-row work (calibrated probability
and TreeSHAP) runs in chunks of ``chunk_rows``. A row's probability and explanation depend only on
the row and the model (statistics saved at training time), so the chunking never changes a number
(tests/scoring prove it). The same holds for partitions: with a Dask ``client`` (``engine=dask``)
the per-row work runs on the workers, one task per hash group of account ids
(``row_scores_on_cluster``), and the numbers are identical to ``engine=local``.

Units: ``decay_risk`` is a calibrated probability of decay within the label horizon after
``as_of`` (00:00 UTC); contributions are TreeSHAP values in raw log-odds units (positive raises
risk); ``risk_change`` is in probability points (this run minus the previous run).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import polars as pl

from core.errors import ConfigValueError, DataValidationError
from core.logs import get_logger
from core.progress import progress
from features.catalogue import humanise
from models.router import RoutedModel
from scoring.cause import (
    CAUSE_COLUMNS,
    cause_attribution,
    family_top_feature,
    prior_mask,
    validate_cause_params,
)
from scoring.explain import explain, family_contributions, top_contributions
from scoring.nudges import EVIDENCE_COLUMN, NUDGE_COLUMNS
from scoring.params import ScoreParams
from scoring.peers import peer_column, peer_medians
from scoring.playbook import (
    milestone_progress,
    next_best_action,
    next_step_about,
    validate_playbook,
)
from scoring.sentences import DEFAULT_ENTITY, PLACEHOLDER, template_expr

log = get_logger(__name__)

TIERS = ("high", "medium", "low")


@dataclass
class ScoreResult:
    """``scores`` one row per account; ``explanations`` long (top drivers + protective factors);
    ``families`` long (account_id, family, contribution: summed TreeSHAP per indicator family)."""

    scores: pl.DataFrame
    explanations: pl.DataFrame
    families: pl.DataFrame


# -- risk, rank, tier ------------------------------------------------------------------------
def rank_and_tier(scores: pl.DataFrame, params: ScoreParams) -> pl.DataFrame:
    """Add ``rank`` (1 = riskiest; ties broken by account_id) and ``risk_tier``.

    ``relative`` (default): tiers by rank in the scored population, so a high base rate does
    not make everyone "high": the top ``min(capacity, ceil(tier_shares.high * n))`` accounts are
    high (at least 1), the rest of the top ``ceil(tier_shares.medium * n)`` medium, the others
    low. Probabilities stay calibrated; only the labels are relative.
    ``threshold``: high if risk >= thresholds.high, medium if >= thresholds.medium, else low.
    ``capacity``: the ``capacity`` top-ranked accounts are high, the rest medium/low by the
    medium threshold (the team can only act on ``capacity`` accounts per period).
    """
    th = params.tier_thresholds
    if set(th) != {"high", "medium"}:
        raise ConfigValueError(
            f"score.tier_thresholds needs exactly keys high and medium, got {sorted(th)}"
        )
    if not 0.0 <= th["medium"] <= th["high"] <= 1.0:
        raise ConfigValueError(
            f"score.tier_thresholds must satisfy 0 <= medium <= high <= 1, got {th}"
        )
    ranked = (
        scores.with_row_index("_i")
        .sort(["decay_risk", "account_id"], descending=[True, False])
        .with_row_index("rank", offset=1)
        .sort("_i")
        .drop("_i")
        .with_columns(pl.col("rank").cast(pl.Int64))
    )
    risk = pl.col("decay_risk")
    lower = pl.when(risk >= th["medium"]).then(pl.lit("medium")).otherwise(pl.lit("low"))
    if params.tier_mode == "relative":
        sh = params.tier_shares
        if set(sh) != {"high", "medium"} or not 0.0 <= sh["high"] <= sh["medium"] <= 1.0:
            raise ConfigValueError(
                f"score.tier_shares needs keys high and medium with "
                f"0 <= high <= medium <= 1, got {dict(sh)}"
            )
        n = scores.height
        n_high = max(1, min(int(params.capacity), math.ceil(sh["high"] * n))) if n else 0
        n_medium = max(n_high, math.ceil(sh["medium"] * n))
        rank = pl.col("rank")
        tier = (
            pl.when(rank <= n_high)
            .then(pl.lit("high"))
            .when(rank <= n_medium)
            .then(pl.lit("medium"))
            .otherwise(pl.lit("low"))
        )
    elif params.tier_mode == "threshold":
        tier = pl.when(risk >= th["high"]).then(pl.lit("high")).otherwise(lower)
    elif params.tier_mode == "capacity":
        if params.capacity < 0:
            raise ConfigValueError(f"eval.capacity must be >= 0, got {params.capacity}")
        tier = pl.when(pl.col("rank") <= params.capacity).then(pl.lit("high")).otherwise(lower)
    else:
        raise ConfigValueError(
            f"score.tier_mode={params.tier_mode!r} is not known",
            hint="use relative, threshold or capacity",
        )
    cols = [c for c in ranked.columns if c not in ("rank", "risk_tier")]
    at = cols.index("decay_risk") + 1
    return ranked.with_columns(tier.alias("risk_tier")).select(
        *cols[:at], "risk_tier", "rank", *cols[at:]
    )


def tier_cuts(scores: pl.DataFrame, params: ScoreParams) -> dict[str, float]:
    """The decay risk at which each tier starts, for pages that say "high: 12% or more".

    ``threshold`` mode: the configured thresholds. Rank-based modes: the lowest risk of the
    accounts placed in each tier by this run (absent when the tier is empty)."""
    if params.tier_mode == "threshold":
        return dict(params.tier_thresholds)
    low = scores.group_by("risk_tier").agg(pl.col("decay_risk").min())
    cuts = {t: float(v) for t, v in low.iter_rows() if t in ("high", "medium") and v is not None}
    return cuts


def with_change(scores: pl.DataFrame, previous: pl.DataFrame | None) -> pl.DataFrame:
    """Add ``previous_risk`` (the account's risk in the previous run, null if not scored then)
    and ``risk_change`` = decay_risk - previous_risk (probability points)."""
    if previous is None or previous.height == 0:
        prev = pl.DataFrame(schema={"account_id": pl.String, "previous_risk": pl.Float64})
    else:
        prev = previous.select(
            "account_id", pl.col("decay_risk").cast(pl.Float64).alias("previous_risk")
        )
    out = scores.drop("previous_risk", "risk_change", strict=False).join(
        prev, on="account_id", how="left", maintain_order="left"
    )
    return out.with_columns((pl.col("decay_risk") - pl.col("previous_risk")).alias("risk_change"))


def explanation_frame(
    tops: pl.DataFrame,
    features: pl.DataFrame,
    X: np.ndarray,
    model: RoutedModel,
    catalogue: Mapping[str, Mapping[str, str]],
    peers: pl.DataFrame,
    peer_segment: str | None,
    never_days: float | None = None,
    entity: tuple[str, str] = DEFAULT_ENTITY,
) -> pl.DataFrame:
    """Add account_id, feature, family, value, peer_median and the rendered sentence to ``tops``.

    ``never_days`` is ``features.never_days`` (see `template_expr`: "never happened" wording);
    ``entity`` the (singular, plural) noun filling ``{entity}`` / ``{entities}``."""
    names = model.feature_names
    cat = set(model.categorical_levels)
    value = X[tops["_row"].to_numpy(), tops["_f"].to_numpy()] if tops.height else np.empty(0)
    numeric_f = np.array([f not in cat for f in names], dtype=bool)
    keep = numeric_f[tops["_f"].to_numpy()] if tops.height else np.empty(0, dtype=bool)
    value = np.where(keep, value, np.nan)
    rows = features.select(pl.col("account_id"), peer_column(features, peer_segment).alias("_peer"))
    out = (
        tops.with_columns(
            pl.Series(
                "feature",
                np.asarray(names, dtype=object)[tops["_f"].to_numpy()].tolist()
                if tops.height
                else [],
                dtype=pl.String,
            ),
            pl.Series("value", value, dtype=pl.Float64).fill_nan(None),
        )
        .join(
            rows.with_row_index("_row").with_columns(pl.col("_row").cast(pl.Int64)),
            on="_row",
            how="left",
        )
        .join(peers, on=["_peer", "feature"], how="left")
    )
    units = {f: str(e.get("unit", "")) for f, e in catalogue.items()}
    families = {f: str(catalogue[f]["family"]) if f in catalogue else "other" for f in names}
    out = out.with_columns(
        pl.col("feature")
        .replace_strict(families, default="other", return_dtype=pl.String)
        .alias("family")
    )
    parts = []
    for (feature,), part in out.partition_by("feature", as_dict=True, maintain_order=True).items():
        entry = catalogue.get(feature)
        template = (
            str(entry["sentence"])
            if entry
            else f"{humanise(feature, capital=True)}: {{{feature}}}."
        )
        texts = template + str((entry or {}).get("sentence_never") or "")
        refs = [
            r
            for r in PLACEHOLDER.findall(texts)
            if r not in ("value", "peer") and r in features.columns
        ]
        if refs:
            part = part.join(
                features.select("account_id", *sorted(set(refs))), on="account_id", how="left"
            )
        schema = dict(part.schema)
        part = part.with_columns(
            template_expr(template, feature, units, schema, never_days, entry, entity).alias(
                "sentence"
            )
        )
        parts.append(
            part.select(
                "_row",
                "account_id",
                "feature",
                "family",
                "value",
                "peer_median",
                "contribution",
                "rank",
                "direction",
                "sentence",
            )
        )
    if not parts:
        return pl.DataFrame(
            schema={
                "_row": pl.Int64,
                "account_id": pl.String,
                "feature": pl.String,
                "family": pl.String,
                "value": pl.Float64,
                "peer_median": pl.Float64,
                "contribution": pl.Float64,
                "rank": pl.Int64,
                "direction": pl.String,
                "sentence": pl.String,
            }
        )
    return pl.concat(parts).sort(["_row", "direction", "rank"], descending=[False, True, False])


def driver_columns(
    explanations: pl.DataFrame, n: int, k_risk: int, k_protective: int
) -> pl.DataFrame:
    """Wide ``_row, driver_1, driver_1_text, driver_1_family, ..., protective_1, protective_1_text``."""
    out = pl.DataFrame({"_row": np.arange(n, dtype=np.int64)})
    for direction, prefix, k, with_family in (
        ("risk", "driver", k_risk, True),
        ("protective", "protective", k_protective, False),
    ):
        for r in range(1, k + 1):
            sel = [
                pl.col("_row"),
                pl.col("feature").alias(f"{prefix}_{r}"),
                pl.col("sentence").alias(f"{prefix}_{r}_text"),
            ]
            if with_family:
                sel.append(pl.col("family").alias(f"{prefix}_{r}_family"))
            part = explanations.filter((pl.col("direction") == direction) & (pl.col("rank") == r))
            out = out.join(part.select(sel), on="_row", how="left", maintain_order="left")
    return out


# -- the whole scoring step ------------------------------------------------------------------
def _predict_proba(model: RoutedModel, features: pl.DataFrame, chunk_rows: int) -> np.ndarray:
    out = np.empty(features.height, dtype=np.float64)
    starts = range(0, features.height, max(chunk_rows, 1))
    for start in progress(starts, f"risk of {features.height:,} rows (chunks)", logger=log):
        stop = min(start + chunk_rows, features.height)
        out[start:stop] = model.predict_proba(features.slice(start, stop - start))
    return out


def row_scores(
    model: RoutedModel, features: pl.DataFrame, params: ScoreParams
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(calibrated risk[n], TreeSHAP contrib[n, f], base[n]) of each row of ``features``: the
    per-row work of ``score_accounts`` (a row's numbers depend on the row and the model only)."""
    risk = _predict_proba(model, features, params.chunk_rows)
    contrib, base = explain(model, features, params.explainer, params.chunk_rows, params.n_jobs)
    return risk, contrib, base


def row_scores_on_cluster(
    client: Any, model: RoutedModel, features: pl.DataFrame, params: ScoreParams, partitions: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``row_scores`` computed on the Dask cluster behind ``client``: the model is sent to every
    worker once, each of ``partitions`` hash groups of ``account_id`` is one task, and the
    results are put back in the rows' order (identical to ``row_scores`` on the whole frame)."""
    if partitions < 1:
        raise ConfigValueError(f"engine.partitions must be >= 1, got {partitions}")
    group = features.select(pl.col("account_id").hash(seed=0) % partitions).to_series().to_numpy()
    rows = [idx for g in range(partitions) if (idx := np.flatnonzero(group == g)).size]
    shared = client.scatter(model, broadcast=True, hash=False)
    futures = [client.submit(row_scores, shared, features[idx], params, pure=False) for idx in rows]
    parts = client.gather(futures)
    n, f = features.height, len(model.feature_names)
    risk = np.empty(n, dtype=np.float64)
    contrib = np.empty((n, f), dtype=parts[0][1].dtype)
    base = np.empty(n, dtype=parts[0][2].dtype)
    for idx, (r, c, b) in zip(rows, parts, strict=True):
        risk[idx], contrib[idx], base[idx] = r, c, b
    log.info("risk and drivers of %d rows: %d partitions on the cluster", n, len(rows))
    return risk, contrib, base


def score_accounts(
    model: RoutedModel,
    features: pl.DataFrame,
    catalogue: Mapping[str, Mapping[str, str]],
    params: ScoreParams,
    playbook: Mapping[str, Any],
    *,
    as_of: date,
    segments: Sequence[str] = (),
    milestones: Sequence[Mapping[str, Any]] = (),
    peer_segment: str | None = None,
    model_version: str = "",
    model_uri: str = "",
    previous: pl.DataFrame | None = None,
    entity: tuple[str, str] = DEFAULT_ENTITY,
    client: Any | None = None,
    partitions: int = 1,
) -> ScoreResult:
    """Score and explain every row of ``features`` (one cutoff, whole population).

    ``catalogue`` maps feature -> {family, unit, sentence, ...}; ``previous`` is the previous
    run's scores (account_id, decay_risk) or None; ``entity`` the (singular, plural) noun the
    sentences and next steps use (``report.words.entity_noun``). ``client`` (``engine=dask``):
    the risk and TreeSHAP of the rows run on that cluster in ``partitions`` hash groups of
    accounts (``row_scores_on_cluster``); everything population-level stays here.
    """
    if features.height == 0:
        raise ValueError("score_accounts: empty feature frame")
    dup = features.filter(pl.col("account_id").is_duplicated())
    if dup.height:
        raise ValueError(
            f"score_accounts: account_id {dup['account_id'][0]!r} appears more than "
            "once; pass the features of ONE cutoff"
        )
    validate_playbook(playbook)
    validate_cause_params(params)
    n = features.height
    risk, contrib, base = (
        row_scores(model, features, params)
        if client is None
        else row_scores_on_cluster(client, model, features, params, partitions)
    )
    X = model.to_matrix(features)
    flags = [f for f, e in catalogue.items() if str(e.get("unit", "")) == "flag"]
    peers = peer_medians(features, model.feature_names, peer_segment, flags)
    tops = top_contributions(contrib, params.top_drivers, params.top_protective)
    expl = explanation_frame(
        tops, features, X, model, catalogue, peers, peer_segment, params.never_days, entity
    )
    fam_map = {f: str(e["family"]) for f, e in catalogue.items()}
    fam_names, fam_sums = family_contributions(contrib, model.feature_names, fam_map)
    top_fam = np.asarray(fam_names, dtype=object)[np.argmax(fam_sums, axis=1)]
    top_fam = np.where(fam_sums.max(axis=1) > 0, top_fam, np.full(n, None, dtype=object))
    eligible = prior_mask(
        features, model.feature_names, fam_map, params.cause_loss_families, fam_names
    )
    cause = cause_attribution(
        fam_names,
        fam_sums,
        features.with_columns(peer_column(features, peer_segment).alias("_peer"))["_peer"],
        params,
        eligible,
    )
    cause_expl = explanation_frame(
        family_top_feature(contrib, model.feature_names, fam_map, cause["top_cause_family"]),
        features,
        X,
        model,
        catalogue,
        peers,
        peer_segment,
        params.never_days,
        entity,
    )
    cause = pl.concat(
        [
            cause,
            pl.DataFrame({"_row": np.arange(n, dtype=np.int64)})
            .join(
                cause_expl.select(
                    "_row",
                    pl.col("feature").alias("top_cause_driver"),
                    pl.col("sentence").alias("top_cause_driver_text"),
                ),
                on="_row",
                how="left",
                maintain_order="left",
            )
            .drop("_row"),
        ],
        how="horizontal",
    )
    segs = [s for s in segments if s in features.columns]
    scores = features.select(
        "account_id",
        pl.lit(as_of, pl.Date).alias("as_of"),
        *[pl.col(s).cast(pl.String) for s in segs],
    ).with_columns(
        pl.Series("decay_risk", risk, dtype=pl.Float64),
        pl.Series("raw_score", contrib.sum(axis=1) + base, dtype=pl.Float64),
        pl.lit(None, pl.Float64).alias("previous_risk"),
        pl.lit(None, pl.Float64).alias("risk_change"),
        pl.lit(str(model_version)).alias("model_version"),
        pl.lit(str(model_uri)).alias("model_uri"),
        pl.Series("serving_model", model.route(features).tolist(), dtype=pl.String),
        pl.Series("top_family", top_fam.tolist(), dtype=pl.String),
    )
    scores = pl.concat([scores, cause], how="horizontal")
    scores = with_change(rank_and_tier(scores, params), previous)
    wide = driver_columns(expl, n, params.top_drivers, params.top_protective)
    # The playbook acts on the cause (top_cause_family), or on the top symptom when no single
    # cause stands out; {driver} quotes the cause's own driver sentence (else the top risk
    # driver's).
    first_driver = (
        wide["driver_1_text"]
        if params.top_drivers >= 1
        else pl.Series("driver_1_text", [None] * n, dtype=pl.String)
    )
    context = pl.concat(
        [
            scores.select(
                pl.coalesce("top_cause_family", "top_symptom_family").alias("top_family"),
                (
                    peer_column(features, peer_segment)
                    if peer_segment in scores.columns
                    else pl.lit(None, pl.String)
                ).alias("segment"),
                pl.coalesce(pl.col("top_cause_driver_text"), pl.lit(first_driver)).alias("driver"),
            ),
            milestone_progress(features, milestones, peer_segment),
        ],
        how="horizontal",
    )
    scores = pl.concat([scores, wide.drop("_row")], how="horizontal").with_columns(
        next_best_action(context, playbook, entity), next_step_about(context, playbook)
    )
    families = pl.DataFrame(
        {
            "account_id": np.repeat(features["account_id"].to_numpy(), len(fam_names)),
            "family": np.tile(np.asarray(fam_names, dtype=object), n),
            "contribution": fam_sums.ravel(),
        },
        schema={"account_id": pl.String, "family": pl.String, "contribution": pl.Float64},
    )
    return ScoreResult(scores=scores, explanations=expl.drop("_row"), families=families)


#: First characters that make a spreadsheet treat a cell as a formula (OWASP CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise_formulas(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with every text cell that a spreadsheet would run as a formula (it starts with
    ``= + - @``, a tab or a carriage return) prefixed by a single quote, which spreadsheets show as
    text. Why: account ids, segment values and event names come from customer data, and
    ``scores.csv`` is opened in Excel or synced into a CRM (``score.csv_neutralise=false`` for
    machine consumers that want the raw values). Numbers are left alone."""
    text = [c for c, t in frame.schema.items() if t == pl.String]
    if not text:
        return frame
    starts = "|".join(re.escape(c) for c in FORMULA_START)
    return frame.with_columns(
        [
            pl.when(pl.col(c).str.contains(f"^(?:{starts})"))
            .then(pl.lit("'") + pl.col(c))
            .otherwise(pl.col(c))
            .alias(c)
            for c in text
        ]
    )


def crm_table(
    scores: pl.DataFrame, segments: Sequence[str], k_risk: int, k_protective: int
) -> pl.DataFrame:
    """The flat CRM export: one row per account, stable column order, no nested types."""
    cols = [
        "account_id",
        "as_of",
        *[s for s in segments if s in scores.columns],
        "decay_risk",
        "risk_tier",
        "rank",
        "previous_risk",
        "risk_change",
        "model_version",
    ]
    for r in range(1, k_risk + 1):
        cols += [f"driver_{r}", f"driver_{r}_text", f"driver_{r}_family"]
    for r in range(1, k_protective + 1):
        cols += [f"protective_{r}", f"protective_{r}_text"]
    cols += [c for c in CAUSE_COLUMNS if c in scores.columns]
    cols.append("next_best_action")
    # The adoption map's nudges and next-step number (scoring.nudges; null without a map).
    cols += [c for c in (*NUDGE_COLUMNS, EVIDENCE_COLUMN) if c in scores.columns]
    return scores.select(cols)


def risk_summary(scores: pl.DataFrame) -> dict[str, float]:
    """Counts and distribution of decay_risk for logging (n, mean, quantiles, tier counts)."""
    r = pl.col("decay_risk")
    out: dict[str, float] = {
        "n_accounts": float(scores.height),
        "risk_mean": float(scores.select(r.mean()).item()),
    }
    for q in (0.1, 0.25, 0.5, 0.75, 0.9, 0.99):
        out[f"risk_q{int(q * 100):02d}"] = float(
            scores.select(r.quantile(q, interpolation="linear")).item()
        )
    counts = dict(scores.group_by("risk_tier").len().iter_rows())
    for t in TIERS:
        out[f"tier_{t}"] = float(counts.get(t, 0))
    return out


def check_model_columns(feature_names: Sequence[str], features: pl.DataFrame) -> None:
    """DataValidationError when the features built now lack inputs the model was trained on."""
    missing = [f for f in feature_names if f not in features.columns]
    if missing:
        raise DataValidationError(
            f"the features built at this cutoff lack model input columns {missing[:5]} "
            f"({len(missing)} missing)",
            hint="the data or feature config changed since training: run decay-train again",
        )
