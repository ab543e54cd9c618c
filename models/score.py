"""Batch scoring: calibrated risk, tiers, ranks, change since last run, drivers and next step.

Contract: ``features`` is the WHOLE feature frame of one cutoff (``features.build.build_features``
at ``as_of``). Everything population-level (segment peer medians, milestone shares of peers, ranks,
capacity tiers) is computed over that whole frame; only the per-row work (calibrated probability
and TreeSHAP) runs in chunks of ``chunk_rows``. A row's probability and explanation depend only on
the row and the model (statistics saved at training time), so the chunking never changes a number
(tests/scoring prove it).

Units: ``decay_risk`` is a calibrated probability of decay within the label horizon after
``as_of`` (00:00 UTC); contributions are TreeSHAP values in raw log-odds units (positive raises
risk); ``risk_change`` is in probability points (this run minus the previous run).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import polars as pl

from core.errors import ConfigValueError
from features.catalogue import FAMILIES
from models.explain import explain, family_contributions
from models.router import RoutedModel

TIERS = ("high", "medium", "low")
MILESTONE_STATES = ("none", "partly", "all")
# Families that say *why* adoption falls (a CSM can act on them); the rest are symptoms.
DEFAULT_CAUSE_FAMILIES = ("role", "milestones", "onboarding", "friction")
CAUSE_RELATIVE_TO = ("peers", "base")
# Columns `cause_attribution` adds to the scores (and the CRM export).
CAUSE_COLUMNS = ("top_cause_family", "top_cause_kind", "top_cause_contribution",
                 "top_cause_vs_peers", "top_cause_driver", "top_cause_driver_text")
_PLACEHOLDER = re.compile(r"\{([A-Za-z0-9_]+)\}")
# A "days" word right after a placeholder ("{value} days ago"): `_render` consumes it and writes
# "day" or "days" to agree with the rendered number (see `days_word`).
_DAYS_AFTER = re.compile(r"\s*days\b")
# What the peer clause of a sentence says when the peer median is the "never happened" sentinel
# (catalogue entries may override it with ``peer_never``).
DEFAULT_PEER_NEVER = "most accounts like this one never did"
# Optional catalogue texts used instead of ``sentence`` / the peer clause at the sentinel.
NEVER_KEYS = ("sentence_never", "peer_never")


@dataclass
class ScoreParams:
    """The ``score`` config section (plus ``eval.capacity``) as plain values."""

    tier_mode: str = "threshold"
    tier_thresholds: dict[str, float] = field(default_factory=lambda: {"high": 0.5, "medium": 0.25})
    capacity: int = 50
    top_drivers: int = 3
    top_protective: int = 2
    chunk_rows: int = 200_000
    explainer: str = "woodelf"
    n_jobs: int = 1
    # Cause attribution (see `cause_attribution` and core/config.py ScoreConfig).
    cause_families: tuple[str, ...] = DEFAULT_CAUSE_FAMILIES
    cause_min_contribution: float = 0.05
    cause_min_share: float = 0.0
    cause_relative_to: str = "peers"
    # ``features.never_days``: the value a "days since X" feature takes when X never happened.
    # None = no sentinel (numbers are shown as they are).
    never_days: float | None = None

    @classmethod
    def from_cfg(cls, cfg: Any) -> ScoreParams:
        s = cfg.score
        return cls(tier_mode=str(s.tier_mode),
                   tier_thresholds={str(k): float(v) for k, v in s.tier_thresholds.items()},
                   capacity=int(cfg.eval.capacity), top_drivers=int(s.top_drivers),
                   top_protective=int(s.top_protective), chunk_rows=int(s.chunk_rows),
                   explainer=str(s.explainer), n_jobs=int(s.get("n_jobs", 1) or 1),
                   cause_families=tuple(str(f) for f in s.get("cause_families",
                                                              DEFAULT_CAUSE_FAMILIES)),
                   cause_min_contribution=float(s.get("cause_min_contribution", 0.05)),
                   cause_min_share=float(s.get("cause_min_share", 0.0)),
                   cause_relative_to=str(s.get("cause_relative_to", "peers")),
                   never_days=_never_days(cfg))


def _never_days(cfg: Any) -> float | None:
    """``cfg.features.never_days`` as a float (None when the config has no features section)."""
    fcfg = cfg.get("features") if hasattr(cfg, "get") else getattr(cfg, "features", None)
    value = fcfg.get("never_days") if fcfg is not None and hasattr(fcfg, "get") else None
    return None if value is None else float(value)


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

    ``threshold``: high if risk >= thresholds.high, medium if >= thresholds.medium, else low.
    ``capacity``: the ``capacity`` top-ranked accounts are high, the rest medium/low by the
    medium threshold (the team can only act on ``capacity`` accounts per period).
    """
    th = params.tier_thresholds
    if set(th) != {"high", "medium"}:
        raise ConfigValueError(f"score.tier_thresholds needs exactly keys high and medium, got {sorted(th)}")
    if not 0.0 <= th["medium"] <= th["high"] <= 1.0:
        raise ConfigValueError(f"score.tier_thresholds must satisfy 0 <= medium <= high <= 1, got {th}")
    ranked = (scores.with_row_index("_i")
              .sort(["decay_risk", "account_id"], descending=[True, False])
              .with_row_index("rank", offset=1)
              .sort("_i").drop("_i")
              .with_columns(pl.col("rank").cast(pl.Int64)))
    risk = pl.col("decay_risk")
    lower = pl.when(risk >= th["medium"]).then(pl.lit("medium")).otherwise(pl.lit("low"))
    if params.tier_mode == "threshold":
        tier = pl.when(risk >= th["high"]).then(pl.lit("high")).otherwise(lower)
    elif params.tier_mode == "capacity":
        if params.capacity < 0:
            raise ConfigValueError(f"eval.capacity must be >= 0, got {params.capacity}")
        tier = pl.when(pl.col("rank") <= params.capacity).then(pl.lit("high")).otherwise(lower)
    else:
        raise ConfigValueError(f"score.tier_mode={params.tier_mode!r} is not known",
                               hint="use threshold or capacity")
    cols = [c for c in ranked.columns if c not in ("rank", "risk_tier")]
    at = cols.index("decay_risk") + 1
    return ranked.with_columns(tier.alias("risk_tier")).select(
        *cols[:at], "risk_tier", "rank", *cols[at:])


def with_change(scores: pl.DataFrame, previous: pl.DataFrame | None) -> pl.DataFrame:
    """Add ``previous_risk`` (the account's risk in the previous run, null if not scored then)
    and ``risk_change`` = decay_risk - previous_risk (probability points)."""
    if previous is None or previous.height == 0:
        prev = pl.DataFrame(schema={"account_id": pl.String, "previous_risk": pl.Float64})
    else:
        prev = previous.select("account_id", pl.col("decay_risk").cast(pl.Float64).alias("previous_risk"))
    out = scores.drop("previous_risk", "risk_change", strict=False).join(
        prev, on="account_id", how="left", maintain_order="left")
    return out.with_columns((pl.col("decay_risk") - pl.col("previous_risk")).alias("risk_change"))


# -- peers -----------------------------------------------------------------------------------
def peer_column(features: pl.DataFrame, peer_segment: str | None) -> pl.Expr:
    """The peer group of each row: ``peer_segment`` when the frame has it, else one group."""
    if peer_segment and peer_segment in features.columns:
        return pl.col(peer_segment).cast(pl.String).fill_null("(none)")
    return pl.lit("all")


def peer_medians(features: pl.DataFrame, feature_names: Sequence[str],
                 peer_segment: str | None, share_features: Sequence[str] = ()) -> pl.DataFrame:
    """Long ``_peer, feature, peer_median``: median of each numeric feature over ALL accounts of
    the same peer segment in ``features`` (one cutoff). Nulls are ignored by the median.

    ``share_features`` (0/1 flags such as ``<milestone>_reached``) get the peer *share* (mean)
    instead: the median of a flag is only 0 or 1, and the catalogue sentences say "share"."""
    numeric = [f for f in feature_names if features.schema.get(f) in (pl.Float64, pl.Float32,
                                                                      pl.Int64, pl.Int32, pl.Int8)]
    if not numeric:
        return pl.DataFrame(schema={"_peer": pl.String, "feature": pl.String, "peer_median": pl.Float64})
    return (features.with_columns(peer_column(features, peer_segment).alias("_peer"))
            .group_by("_peer").agg([
                pl.col(f).cast(pl.Float64).mean() if f in share_features
                else pl.col(f).cast(pl.Float64).median() for f in numeric])
            .unpivot(index="_peer", variable_name="feature", value_name="peer_median"))


# -- human formatting ------------------------------------------------------------------------
def _int_str(x: pl.Expr) -> pl.Expr:
    return x.round(0).cast(pl.Int64).cast(pl.String)


def days_word(number_text: pl.Expr) -> pl.Expr:
    """" day" when the rendered number is exactly 1 (or -1), else " days".

    Works on the *formatted* text so it agrees with what the CSM reads ("1" but not "1.5",
    "11" or "never"); used for every placeholder followed by "days", whatever its unit."""
    return (pl.when(number_text.is_in(["1", "-1"])).then(pl.lit(" day"))
            .otherwise(pl.lit(" days")))


def format_number(x: pl.Expr, unit: str, follows: str = "", never_days: float | None = None
                  ) -> pl.Expr:
    """A number as a CSM reads it; ``follows`` is the template text right after the placeholder.

    days -> "12 days", "1 day" (just "12" when the template already says "days": `_render` then
    writes the agreeing "day"/"days" word itself); share -> "45%";
    ratio -> "45%" (or "0.45" before "times"); percentile (0..1) -> "45th"; anything else:
    integers without decimals, other numbers with one decimal. Null -> "n/a". With ``never_days``
    (the features' "never happened" sentinel), a days value at or above it reads "never" (the
    catalogue's ``sentence_never`` / ``peer_never`` keep the sentence grammatical around it).
    """
    unit = unit.strip().lower()
    nxt = follows.lstrip().lower()
    plain = pl.when(x == x.round(0)).then(_int_str(x)).otherwise(x.round(1).cast(pl.String))
    if unit == "days":
        text = (_int_str(x) if nxt.startswith("day")
                else pl.concat_str([_int_str(x), days_word(_int_str(x))]))
    elif unit == "share" or (unit == "ratio" and not nxt.startswith("times")):
        text = pl.concat_str([_int_str(x * 100), pl.lit("%")])
    elif unit == "ratio":
        text = x.round(2).cast(pl.String)
    elif unit.startswith("percentile"):
        n = (x * 100).round(0).cast(pl.Int64)
        suffix = (pl.when((n % 100).is_between(11, 13)).then(pl.lit("th"))
                  .when(n % 10 == 1).then(pl.lit("st"))
                  .when(n % 10 == 2).then(pl.lit("nd"))
                  .when(n % 10 == 3).then(pl.lit("rd"))
                  .otherwise(pl.lit("th")))
        text = pl.concat_str([n.cast(pl.String), suffix])
    else:
        text = plain
    if unit == "days" and never_days is not None:
        text = pl.when(x >= never_days).then(pl.lit("never")).otherwise(text)
    return pl.when(x.is_null() | x.is_nan()).then(pl.lit("n/a")).otherwise(text)


def is_never(x: pl.Expr, unit: str, never_days: float | None) -> pl.Expr:
    """True where ``x`` is the "never happened" sentinel of a days feature (False elsewhere,
    null-safe): ``features.never_days`` fills "days since X" when X never happened."""
    if never_days is None or unit.strip().lower() != "days":
        return pl.lit(False)
    return (x >= never_days).fill_null(False)


def peer_never_template(template: str, phrase: str) -> str | None:
    """``template`` with the clause holding ``{peer}`` replaced by ``phrase``.

    The peer clause runs from the ``;`` before ``{peer}`` to the next ``.`` or ``;`` (catalogue
    sentences read "<this account>; <accounts like this one ... {peer} ...>."). None when
    ``{peer}`` is not in a clause of its own (the caller then renders ``{peer}`` as "never")."""
    at = template.find("{peer}")
    start = template.rfind(";", 0, at)
    if at < 0 or start < 0:
        return None
    ends = [i for i in (template.find(".", at), template.find(";", at)) if i >= 0]
    end = min(ends) if ends else len(template)
    return f"{template[:start + 1]} {phrase}{template[end:]}"


def template_expr(template: str, feature: str, units: Mapping[str, str],
                  schema: Mapping[str, pl.DataType], never_days: float | None = None,
                  entry: Mapping[str, Any] | None = None) -> pl.Expr:
    """Polars expression rendering ``template`` on each row of an explanation frame.

    ``{value}`` and ``{peer}`` read columns ``value`` / ``peer_median`` with ``feature``'s unit;
    ``{<name>}`` reads column ``<name>`` (another feature of the row) with its own unit; String
    columns are inserted with underscores read as spaces ("financial_services" -> "financial
    services"); unknown placeholders stay as written. A "days" word right after a placeholder agrees
    with the rendered number ("1 day ago", "2 days ago").

    ``never_days`` (``features.never_days``) marks days values meaning "never happened". For a
    days feature, rows whose value is the sentinel use ``entry["sentence_never"]`` when the
    catalogue entry has one; rows whose peer median is the sentinel get the ``{peer}`` clause
    replaced by ``entry["peer_never"]`` (default `DEFAULT_PEER_NEVER`). Any other sentinel left
    in the text reads "never".
    """
    entry = entry or {}
    unit = units.get(feature, "").strip().lower()
    if never_days is None or unit != "days":
        return _render(template, feature, units, schema, never_days)
    phrase = str(entry.get("peer_never") or DEFAULT_PEER_NEVER)

    def with_peer(tpl: str) -> pl.Expr:
        alt = peer_never_template(tpl, phrase) if "{peer}" in tpl else None
        plain = _render(tpl, feature, units, schema, never_days)
        if alt is None:
            return plain
        return (pl.when(is_never(pl.col("peer_median"), unit, never_days))
                .then(_render(alt, feature, units, schema, never_days)).otherwise(plain))

    expr = with_peer(template)
    if entry.get("sentence_never"):
        expr = (pl.when(is_never(pl.col("value"), unit, never_days))
                .then(with_peer(str(entry["sentence_never"]))).otherwise(expr))
    return expr


def _render(template: str, feature: str, units: Mapping[str, str],
            schema: Mapping[str, pl.DataType], never_days: float | None) -> pl.Expr:
    """One template as a concatenation of literal text and formatted columns."""
    parts: list[pl.Expr] = []
    pos = 0
    unit = units.get(feature, "")
    # "{value} times its earlier level": the account's ratio and its peers' read as multipliers.
    times = "{value} times" in template
    for m in _PLACEHOLDER.finditer(template):
        if m.start() < pos:  # inside a "days" word consumed below (cannot hold a placeholder)
            continue
        parts.append(pl.lit(template[pos:m.start()]))
        name, follows = m.group(1), template[m.end():]
        text: pl.Expr | None = None
        if name == "value":
            text = format_number(pl.col("value"), unit, follows, never_days)
        elif name == "peer":
            peer_unit = "share" if unit == "flag" else unit
            text = format_number(pl.col("peer_median"), peer_unit,
                                 " times" if times else follows, never_days)
        elif name in schema and schema[name] == pl.String:
            # Category values ("financial_services") read as words, like the catalogue's texts.
            parts.append(pl.col(name).fill_null("n/a").str.replace_all("_", " ", literal=True))
        elif name in schema:
            text = format_number(pl.col(name).cast(pl.Float64), units.get(name, ""), follows,
                                 never_days)
        else:
            parts.append(pl.lit(m.group(0)))
        pos = m.end()
        if text is not None:
            parts.append(text)
            # "{value} days ago" with a value of 1 reads "1 day ago": the template's own "days"
            # word is replaced by one that agrees with the rendered number.
            days = _DAYS_AFTER.match(template, pos)
            if days is not None:
                parts.append(days_word(text))
                pos = days.end()
    parts.append(pl.lit(template[pos:]))
    return pl.concat_str(parts)


def _humanise(name: str) -> str:
    return name.replace("_", " ").strip().capitalize()


# -- drivers ---------------------------------------------------------------------------------
def top_contributions(contrib: np.ndarray, k_risk: int, k_protective: int) -> pl.DataFrame:
    """Long ``_row, _f, contribution, rank, direction`` of each row's top ``k_risk`` positive and
    top ``k_protective`` negative contributions (ties: feature order). Zero never counts."""
    frames = []
    n, f = contrib.shape
    for direction, k, sign in (("risk", k_risk, 1.0), ("protective", k_protective, -1.0)):
        k = min(k, f)
        if k <= 0 or n == 0:
            continue
        order = np.argsort(-sign * contrib, axis=1, kind="stable")[:, :k]
        values = np.take_along_axis(contrib, order, axis=1)
        frames.append(pl.DataFrame({
            "_row": np.repeat(np.arange(n), k),
            "_f": order.ravel(),
            "contribution": values.ravel(),
            "rank": np.tile(np.arange(1, k + 1), n),
            "direction": np.full(n * k, direction),
        }).filter(pl.col("contribution") * sign > 0))
    if not frames:
        return pl.DataFrame(schema={"_row": pl.Int64, "_f": pl.Int64, "contribution": pl.Float64,
                                    "rank": pl.Int64, "direction": pl.String})
    return pl.concat(frames).with_columns(pl.col("_row", "_f", "rank").cast(pl.Int64))


def explanation_frame(tops: pl.DataFrame, features: pl.DataFrame, X: np.ndarray,
                      model: RoutedModel, catalogue: Mapping[str, Mapping[str, str]],
                      peers: pl.DataFrame, peer_segment: str | None,
                      never_days: float | None = None) -> pl.DataFrame:
    """Add account_id, feature, family, value, peer_median and the rendered sentence to ``tops``.

    ``never_days`` is ``features.never_days`` (see `template_expr`: "never happened" wording)."""
    names = model.feature_names
    cat = set(model.categorical_levels)
    value = X[tops["_row"].to_numpy(), tops["_f"].to_numpy()] if tops.height else np.empty(0)
    numeric_f = np.array([f not in cat for f in names], dtype=bool)
    keep = numeric_f[tops["_f"].to_numpy()] if tops.height else np.empty(0, dtype=bool)
    value = np.where(keep, value, np.nan)
    rows = features.select(pl.col("account_id"), peer_column(features, peer_segment).alias("_peer"))
    out = (tops.with_columns(
        pl.Series("feature", np.asarray(names, dtype=object)[tops["_f"].to_numpy()].tolist()
                  if tops.height else [], dtype=pl.String),
        pl.Series("value", value, dtype=pl.Float64).fill_nan(None))
        .join(rows.with_row_index("_row").with_columns(pl.col("_row").cast(pl.Int64)),
              on="_row", how="left")
        .join(peers, on=["_peer", "feature"], how="left"))
    units = {f: str(e.get("unit", "")) for f, e in catalogue.items()}
    families = {f: str(catalogue[f]["family"]) if f in catalogue else "other" for f in names}
    out = out.with_columns(pl.col("feature").replace_strict(families, default="other",
                                                            return_dtype=pl.String).alias("family"))
    parts = []
    for (feature,), part in out.partition_by("feature", as_dict=True, maintain_order=True).items():
        entry = catalogue.get(feature)
        template = str(entry["sentence"]) if entry else f"{_humanise(feature)}: {{{feature}}}."
        texts = template + str((entry or {}).get("sentence_never") or "")
        refs = [r for r in _PLACEHOLDER.findall(texts)
                if r not in ("value", "peer") and r in features.columns]
        if refs:
            part = part.join(features.select("account_id", *sorted(set(refs))),
                             on="account_id", how="left")
        schema = dict(part.schema)
        part = part.with_columns(template_expr(template, feature, units, schema, never_days,
                                                     entry).alias("sentence"))
        parts.append(part.select("_row", "account_id", "feature", "family", "value", "peer_median",
                                 "contribution", "rank", "direction", "sentence"))
    if not parts:
        return pl.DataFrame(schema={"_row": pl.Int64, "account_id": pl.String, "feature": pl.String,
                                    "family": pl.String, "value": pl.Float64,
                                    "peer_median": pl.Float64, "contribution": pl.Float64,
                                    "rank": pl.Int64, "direction": pl.String, "sentence": pl.String})
    return (pl.concat(parts).sort(["_row", "direction", "rank"], descending=[False, True, False]))


def driver_columns(explanations: pl.DataFrame, n: int, k_risk: int, k_protective: int
                   ) -> pl.DataFrame:
    """Wide ``_row, driver_1, driver_1_text, driver_1_family, ..., protective_1, protective_1_text``."""
    out = pl.DataFrame({"_row": np.arange(n, dtype=np.int64)})
    for direction, prefix, k, with_family in (("risk", "driver", k_risk, True),
                                              ("protective", "protective", k_protective, False)):
        for r in range(1, k + 1):
            sel = [pl.col("_row"), pl.col("feature").alias(f"{prefix}_{r}"),
                   pl.col("sentence").alias(f"{prefix}_{r}_text")]
            if with_family:
                sel.append(pl.col("family").alias(f"{prefix}_{r}_family"))
            part = explanations.filter((pl.col("direction") == direction) & (pl.col("rank") == r))
            out = out.join(part.select(sel), on="_row", how="left", maintain_order="left")
    return out


# -- cause attribution: why, not only that ---------------------------------------------------
def validate_cause_params(params: ScoreParams) -> None:
    """Raise ConfigValueError naming the bad ``score.cause_*`` value."""
    unknown = sorted(set(params.cause_families) - set(FAMILIES) - {"other"})
    if unknown:
        raise ConfigValueError(f"score.cause_families has unknown families {unknown}",
                               hint=f"use families of {list(FAMILIES)}")
    if params.cause_relative_to not in CAUSE_RELATIVE_TO:
        raise ConfigValueError(f"score.cause_relative_to={params.cause_relative_to!r} is not known",
                               hint=f"use one of {list(CAUSE_RELATIVE_TO)}")
    if not params.cause_min_contribution >= 0:
        raise ConfigValueError("score.cause_min_contribution must be >= 0 (log-odds), got "
                               f"{params.cause_min_contribution}")
    if not 0 <= params.cause_min_share <= 1:
        raise ConfigValueError(f"score.cause_min_share must be in [0, 1], got {params.cause_min_share}")


def cause_attribution(fam_names: Sequence[str], fam_sums: np.ndarray, peer: pl.Series,
                      params: ScoreParams) -> pl.DataFrame:
    """Per row: the family that best says *why* the account is at risk.

    Why not simply the largest family: once adoption is already falling, the symptom families
    (activity, trends, breadth, peer) carry most of the TreeSHAP mass, yet "usage is down" is what
    the CSM already sees. A *cause* family (``params.cause_families``: people leaving, milestones
    missed, onboarding, friction) wins when it is material: its summed contribution ``c`` (log-odds,
    positive raises risk) satisfies ``c >= cause_min_contribution`` and
    ``c >= cause_min_share * (sum of the row's positive family contributions)``. Among material
    cause families the largest wins, compared by ``c`` itself (``cause_relative_to="base"``) or by
    ``c`` minus the median of the same family over the row's peer group (``"peers"``, the default:
    a family that raises the risk of every account of a segment, such as milestones that small
    accounts rarely reach, says less about this account than one that sets it apart from its
    peers; it must then also exceed that median). ``peer`` is the peer-group label of each row,
    and the medians are taken over ALL rows given (one cutoff, whole population), so chunking
    never changes a result. Without a material cause family the row falls back to its largest
    positive symptom family (kind ``symptom``), and to null when no family raises the risk.

    Returns ``top_cause_family`` (str|null), ``top_cause_kind`` (cause | symptom | null),
    ``top_cause_contribution`` (the family's summed contribution, log-odds) and
    ``top_cause_vs_peers`` (that contribution minus the peer-group median of the family).
    """
    validate_cause_params(params)
    n, k = fam_sums.shape
    names = list(fam_names)
    if n == 0 or k == 0:
        fam_sums = np.zeros((n, 1))
        names = ["other"]
    k = fam_sums.shape[1]
    frame = pl.DataFrame({f"_c{j}": fam_sums[:, j] for j in range(k)}).with_columns(
        peer.alias("_peer") if n else pl.lit(None, pl.String).alias("_peer"))
    medians = frame.select([pl.col(f"_c{j}").median().over("_peer") for j in range(k)]).to_numpy()
    vs_peers = fam_sums - medians.reshape(n, k)
    is_cause = np.array([f in params.cause_families for f in names], dtype=bool)
    positive_total = np.clip(fam_sums, 0, None).sum(axis=1, keepdims=True)
    material = (is_cause[None, :] & (fam_sums > 0)
                & (fam_sums >= params.cause_min_contribution)
                & (fam_sums >= params.cause_min_share * positive_total))
    rank_by = fam_sums
    if params.cause_relative_to == "peers":
        material &= vs_peers > 0
        rank_by = vs_peers
    cause_score = np.where(material, rank_by, -np.inf)
    symptom_score = np.where(~is_cause[None, :] & (fam_sums > 0), fam_sums, -np.inf)
    has_cause = material.any(axis=1)
    pick = np.where(has_cause, np.argmax(cause_score, axis=1), np.argmax(symptom_score, axis=1))
    found = has_cause | np.isfinite(symptom_score).any(axis=1)
    rows = np.arange(n)
    family = np.where(found, np.asarray(names, dtype=object)[pick], None)
    kind = np.where(has_cause, "cause", np.where(found, "symptom", None))
    contribution = np.where(found, fam_sums[rows, pick], np.nan)
    excess = np.where(found, vs_peers[rows, pick], np.nan)
    return pl.DataFrame({
        "top_cause_family": pl.Series(family.tolist(), dtype=pl.String),
        "top_cause_kind": pl.Series(kind.tolist(), dtype=pl.String),
        "top_cause_contribution": pl.Series(contribution, dtype=pl.Float64).fill_nan(None),
        "top_cause_vs_peers": pl.Series(excess, dtype=pl.Float64).fill_nan(None),
    })


def family_top_feature(contrib: np.ndarray, feature_names: Sequence[str],
                       families: Mapping[str, str], chosen: pl.Series) -> pl.DataFrame:
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
    return pl.DataFrame({
        "_row": np.flatnonzero(keep).astype(np.int64), "_f": best[keep].astype(np.int64),
        "contribution": value[keep], "rank": np.ones(int(keep.sum()), dtype=np.int64),
        "direction": np.full(int(keep.sum()), "cause"),
    }, schema={"_row": pl.Int64, "_f": pl.Int64, "contribution": pl.Float64, "rank": pl.Int64,
               "direction": pl.String})


# -- next best action ------------------------------------------------------------------------
def validate_playbook(playbook: Mapping[str, Any]) -> None:
    """Every family needs a default rule (no ``when``) or the playbook a global ``default``;
    conditions and families must be known. Raises ConfigValueError naming the problem."""
    rules = playbook.get("rules") or {}
    unknown = sorted(set(rules) - set(FAMILIES) - {"other"})
    if unknown:
        raise ConfigValueError(f"playbook.rules has unknown families {unknown}",
                               hint=f"use {list(FAMILIES)}")
    if not playbook.get("default"):
        raise ConfigValueError("playbook.default (the step when no rule applies) is missing")
    for fam in FAMILIES:
        fam_rules = list(rules.get(fam) or [])
        for rule in fam_rules:
            if "action" not in rule:
                raise ConfigValueError(f"playbook rule for {fam!r} has no action: {dict(rule)}")
            bad = sorted(set(rule.get("when") or {}) - {"milestones"})
            if bad:
                raise ConfigValueError(f"playbook rule for {fam!r} has unknown conditions {bad}",
                                       hint="supported: milestones (none | partly | all)")
            state = (rule.get("when") or {}).get("milestones")
            if state is not None and state not in MILESTONE_STATES:
                raise ConfigValueError(f"playbook rule for {fam!r}: milestones={state!r} is not "
                                       f"one of {list(MILESTONE_STATES)}")
        if not any(not r.get("when") for r in fam_rules):
            raise ConfigValueError(f"playbook has no default rule for family {fam!r}",
                                   hint="add a rule without `when` under playbook.rules." + fam)


def milestone_progress(features: pl.DataFrame, milestones: Sequence[Mapping[str, Any]],
                       peer_segment: str | None) -> pl.DataFrame:
    """Per row: ``milestones_reached``, ``milestones_total``, ``milestone_state`` (none | partly |
    all | null without milestone features), ``next_milestone`` (description of the first
    configured milestone not reached) and ``peer_share_next`` (share of ALL same-segment accounts
    at the cutoff that reached it). Reads the ``<milestone>_reached`` 0/1 feature columns."""
    ms = [m for m in milestones if f"{m['name']}_reached" in features.columns]
    peer = peer_column(features, peer_segment)
    if not ms:
        return features.select("account_id").with_columns(
            pl.lit(None, pl.Int64).alias("milestones_reached"), pl.lit(0, pl.Int64).alias("milestones_total"),
            pl.lit(None, pl.String).alias("milestone_state"), pl.lit(None, pl.String).alias("next_milestone"),
            pl.lit(None, pl.Float64).alias("peer_share_next")).drop("account_id")
    reached = [pl.col(f"{m['name']}_reached").fill_null(0) >= 1 for m in ms]
    n_reached = pl.sum_horizontal([r.cast(pl.Int64) for r in reached])
    total = len(ms)
    desc = [str(m.get("description") or m["name"]) for m in ms]
    next_ms = pl.coalesce([pl.when(~r).then(pl.lit(d)) for r, d in zip(reached, desc, strict=True)])
    share = [(pl.col(f"{m['name']}_reached").fill_null(0) >= 1).cast(pl.Float64).mean().over(peer)
             for m in ms]
    peer_share = pl.coalesce([pl.when(~r).then(s) for r, s in zip(reached, share, strict=True)])
    state = (pl.when(n_reached == 0).then(pl.lit("none"))
             .when(n_reached == total).then(pl.lit("all")).otherwise(pl.lit("partly")))
    return features.select(n_reached.alias("milestones_reached"),
                           pl.lit(total, pl.Int64).alias("milestones_total"),
                           state.alias("milestone_state"), next_ms.alias("next_milestone"),
                           peer_share.alias("peer_share_next"))


def _progress_words(reached: pl.Expr, total: pl.Expr) -> pl.Expr:
    frac = reached.cast(pl.Float64) / total.cast(pl.Float64)
    return (pl.when(frac >= 2 / 3).then(pl.lit("almost at"))
            .when(frac >= 0.5).then(pl.lit("halfway to"))
            .when(frac > 0).then(pl.lit("on your way to"))
            .otherwise(pl.lit("at the start of the path to")))


def next_best_action(context: pl.DataFrame, playbook: Mapping[str, Any]) -> pl.Series:
    """The suggested step per row of ``context`` (columns: top_family, milestone_state,
    milestones_reached, milestones_total, next_milestone, peer_share_next, segment, driver).

    Rules under ``playbook.rules.<top_family>`` are tried in order; the first whose ``when``
    matches wins; the global ``playbook.default`` covers families without rules. Placeholders:
    {next_milestone} {progress} {milestones_reached} {milestones_total} {peer_share_next}
    {segment} {driver}.
    """
    validate_playbook(playbook)
    ctx = context.with_columns(
        _progress_words(pl.col("milestones_reached"), pl.col("milestones_total")).alias("progress"),
        format_number(pl.col("peer_share_next"), "share").alias("peer_share_next"),
        pl.col("milestones_reached").cast(pl.String).fill_null("n/a"),
        pl.col("milestones_total").cast(pl.String).fill_null("n/a"),
        pl.col("next_milestone").fill_null("the next milestone"),
        pl.col("segment").fill_null("your segment"),
        pl.col("driver").fill_null("no single driver stands out"),
    )
    schema = {c: pl.String for c in ("next_milestone", "progress", "milestones_reached",
                                     "milestones_total", "peer_share_next", "segment", "driver")}
    chain = None
    for fam, rules in (playbook.get("rules") or {}).items():
        for rule in rules or []:
            cond = pl.col("top_family") == fam
            state = (rule.get("when") or {}).get("milestones")
            if state is not None:
                cond = cond & (pl.col("milestone_state") == state)
            text = template_expr(str(rule["action"]), "", {}, schema)
            chain = pl.when(cond).then(text) if chain is None else chain.when(cond).then(text)
    default = template_expr(str(playbook["default"]), "", {}, schema)
    expr = default if chain is None else chain.otherwise(default)
    return ctx.select(expr.alias("next_best_action")).to_series()


def with_never_texts(catalogue: Mapping[str, Mapping[str, str]], catalogue_cfg: Mapping[str, Any],
                     fcfg: Any) -> dict[str, dict[str, str]]:
    """``catalogue`` plus the optional `NEVER_KEYS` texts of ``catalogue_cfg`` (the patterns of
    conf/catalogue), expanded for the same concrete features.

    `features.catalogue.expand_patterns` keeps only the required fields, so each optional key is
    expanded by passing it as the ``sentence`` of a copy of the patterns (same placeholders)."""
    from features.catalogue import expand_patterns

    out = {f: dict(e) for f, e in catalogue.items()}
    for key in NEVER_KEYS:
        patterns = {p: {**dict(raw), "sentence": raw[key]} for p, raw in catalogue_cfg.items()
                    if raw.get(key)}
        if not patterns:
            continue
        for f, e in expand_patterns(patterns, fcfg).items():
            if f in out:
                out[f][key] = e["sentence"]
    return out


def never_features(catalogue: Mapping[str, Mapping[str, str]]) -> list[str]:
    """Features whose value can be the ``features.never_days`` sentinel (unit ``days``), sorted:
    the report shows "never" for them."""
    return sorted(f for f, e in catalogue.items() if str(e.get("unit", "")).strip().lower() == "days")


# -- the whole scoring step ------------------------------------------------------------------
def _predict_proba(model: RoutedModel, features: pl.DataFrame, chunk_rows: int) -> np.ndarray:
    out = np.empty(features.height, dtype=np.float64)
    for start in range(0, features.height, max(chunk_rows, 1)):
        stop = min(start + chunk_rows, features.height)
        out[start:stop] = model.predict_proba(features.slice(start, stop - start))
    return out


def score_accounts(model: RoutedModel, features: pl.DataFrame,
                   catalogue: Mapping[str, Mapping[str, str]], params: ScoreParams,
                   playbook: Mapping[str, Any], *, as_of: date, segments: Sequence[str] = (),
                   milestones: Sequence[Mapping[str, Any]] = (), peer_segment: str | None = None,
                   model_version: str = "", model_uri: str = "",
                   previous: pl.DataFrame | None = None) -> ScoreResult:
    """Score and explain every row of ``features`` (one cutoff, whole population).

    ``catalogue`` maps feature -> {family, unit, sentence, ...}; ``previous`` is the previous
    run's scores (account_id, decay_risk) or None.
    """
    if features.height == 0:
        raise ValueError("score_accounts: empty feature frame")
    dup = features.filter(pl.col("account_id").is_duplicated())
    if dup.height:
        raise ValueError(f"score_accounts: account_id {dup['account_id'][0]!r} appears more than "
                         "once; pass the features of ONE cutoff")
    validate_playbook(playbook)
    validate_cause_params(params)
    n = features.height
    risk = _predict_proba(model, features, params.chunk_rows)
    contrib, base = explain(model, features, params.explainer, params.chunk_rows, params.n_jobs)
    X = model.to_matrix(features)
    flags = [f for f, e in catalogue.items() if str(e.get("unit", "")) == "flag"]
    peers = peer_medians(features, model.feature_names, peer_segment, flags)
    tops = top_contributions(contrib, params.top_drivers, params.top_protective)
    expl = explanation_frame(tops, features, X, model, catalogue, peers, peer_segment,
                             params.never_days)
    fam_map = {f: str(e["family"]) for f, e in catalogue.items()}
    fam_names, fam_sums = family_contributions(contrib, model.feature_names, fam_map)
    top_fam = np.asarray(fam_names, dtype=object)[np.argmax(fam_sums, axis=1)]
    top_fam = np.where(fam_sums.max(axis=1) > 0, top_fam, None)
    cause = cause_attribution(fam_names, fam_sums,
                              features.with_columns(peer_column(features, peer_segment).alias("_peer"))["_peer"],
                              params)
    cause_expl = explanation_frame(
        family_top_feature(contrib, model.feature_names, fam_map, cause["top_cause_family"]),
        features, X, model, catalogue, peers, peer_segment, params.never_days)
    cause = pl.concat([cause, pl.DataFrame({"_row": np.arange(n, dtype=np.int64)})
                       .join(cause_expl.select("_row", pl.col("feature").alias("top_cause_driver"),
                                               pl.col("sentence").alias("top_cause_driver_text")),
                             on="_row", how="left", maintain_order="left").drop("_row")],
                      how="horizontal")
    segs = [s for s in segments if s in features.columns]
    scores = features.select(
        "account_id", pl.lit(as_of, pl.Date).alias("as_of"),
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
    # The playbook acts on the cause (top_cause_family), and {driver} quotes the cause's own
    # driver sentence (else the top risk driver's).
    first_driver = (wide["driver_1_text"] if params.top_drivers >= 1
                    else pl.Series("driver_1_text", [None] * n, dtype=pl.String))
    context = pl.concat([
        scores.select(pl.col("top_cause_family").alias("top_family"),
                      (peer_column(features, peer_segment) if peer_segment in scores.columns
                       else pl.lit(None, pl.String)).alias("segment"),
                      pl.coalesce(pl.col("top_cause_driver_text"), pl.lit(first_driver))
                      .alias("driver")),
        milestone_progress(features, milestones, peer_segment),
    ], how="horizontal")
    scores = pl.concat([scores, wide.drop("_row")], how="horizontal").with_columns(
        next_best_action(context, playbook))
    families = pl.DataFrame({
        "account_id": np.repeat(features["account_id"].to_numpy(), len(fam_names)),
        "family": np.tile(np.asarray(fam_names, dtype=object), n),
        "contribution": fam_sums.ravel(),
    }, schema={"account_id": pl.String, "family": pl.String, "contribution": pl.Float64})
    return ScoreResult(scores=scores, explanations=expl.drop("_row"), families=families)


def crm_table(scores: pl.DataFrame, segments: Sequence[str], k_risk: int, k_protective: int
              ) -> pl.DataFrame:
    """The flat CRM export: one row per account, stable column order, no nested types."""
    cols = ["account_id", "as_of", *[s for s in segments if s in scores.columns], "decay_risk",
            "risk_tier", "rank", "previous_risk", "risk_change", "model_version"]
    for r in range(1, k_risk + 1):
        cols += [f"driver_{r}", f"driver_{r}_text", f"driver_{r}_family"]
    for r in range(1, k_protective + 1):
        cols += [f"protective_{r}", f"protective_{r}_text"]
    cols += [c for c in CAUSE_COLUMNS if c in scores.columns]
    cols.append("next_best_action")
    return scores.select(cols)


def risk_summary(scores: pl.DataFrame) -> dict[str, float]:
    """Counts and distribution of decay_risk for logging (n, mean, quantiles, tier counts)."""
    r = scores["decay_risk"]
    out: dict[str, float] = {"n_accounts": float(scores.height), "risk_mean": float(r.mean())}
    for q in (0.1, 0.25, 0.5, 0.75, 0.9, 0.99):
        out[f"risk_q{int(q * 100):02d}"] = float(r.quantile(q, interpolation="linear"))
    counts = dict(scores.group_by("risk_tier").len().iter_rows())
    for t in TIERS:
        out[f"tier_{t}"] = float(counts.get(t, 0))
    return out
