"""Decay labels: what happened in the horizon ``[t, t + horizon_days)`` after each cutoff.

Chosen by ``cfg.label.name`` (see ``core.config.LabelConfig``):

* ``usage_drop`` (default): mean weekly active users (WAU) over the last ``assess_days`` of the
  horizon < ``drop_fraction`` x mean WAU over the ``baseline_days`` before ``t``. Weeks are
  aligned to the cutoff: baseline weeks ``[t - 7(i+1), t - 7i)``, assess weeks ending at
  ``t + horizon``. The baseline reads the past (known at ``t``), the assessment only the horizon.
* ``inactivity``: no qualifying event at all in ``[t, t + horizon)``.
* ``churn_event``: a configured cancellation event or ``accounts.churned_at`` in the horizon.

Dormant accounts (baseline WAU below ``min_baseline_users``) are part of the population
(``label.dormant=label``, the default): they are scored at serving time, so the model must see
rows like them in training. Their label asks whether they *stay* inactive: ``usage_drop`` is 1
when the assessed WAU is still below ``min_baseline_users`` (they did not come back), 0 when it
reached it; ``inactivity`` keeps its meaning (no qualifying event in the horizon). With
``label.dormant=exclude`` they get no label (the older behaviour: "they cannot decay further").
Every label is null unless the whole horizon is observed: ``t + horizon_days <=
observed_until``. 1 = decayed (or stayed dormant), 0 = not; Int8.

Labels read the same window engine as the features (``features.windows``), looking forward:
boundaries after the cutoff (negative offsets) give the horizon ``[t, t + h)`` and its weeks
``[t + h - 7(j+1), t + h - 7j)`` with the same grids that give the features' ``[t - w, t)``.
"""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl

from core.config import Dormant, LabelConfig, LabelName
from core.errors import ConfigValueError
from features.windows import Engine, Sampler, T, build_engine, date_to_day, day_of, in_window
from ingest.tables import Tables

#: The allowed values are the schema's enums (one declaration; Hydra rejects others at start-up,
#: ``_check`` gives direct Python callers the same message).
LABELS = tuple(LabelName)
#: label.dormant: label accounts already inactive at the cutoff (stay dormant = 1), or exclude.
DORMANT = tuple(Dormant)


def observed_end_day(observed_until: datetime) -> int:
    """Last day index ``d`` whose midnight is ``<= observed_until`` (naive = UTC)."""
    if observed_until.tzinfo is not None:
        observed_until = observed_until.astimezone(UTC)
    return date_to_day(observed_until.date())


def _check(lcfg: LabelConfig) -> None:
    h, base, assess = int(lcfg.horizon_days), int(lcfg.baseline_days), int(lcfg.assess_days)
    if lcfg.name not in LABELS:
        raise ConfigValueError(
            f"label.name must be one of {list(LABELS)}, got {lcfg.name!r}",
            hint="choose with label=usage_drop|inactivity|churn_event",
        )
    if h < 1:
        raise ConfigValueError(f"label.horizon_days must be >= 1, got {h}")
    if str(lcfg.dormant) not in DORMANT:
        raise ConfigValueError(
            f"label.dormant must be one of {list(DORMANT)}, got {lcfg.dormant!r}"
        )
    if lcfg.name in ("usage_drop", "inactivity") and (base < 7 or base % 7):
        raise ConfigValueError(
            f"label.baseline_days must be a positive multiple of 7 (whole weeks), got {base}"
        )
    if lcfg.name == "usage_drop" and (assess < 7 or assess % 7 or assess > h or (h - assess) % 7):
        raise ConfigValueError(
            f"label.assess_days must be whole weeks within the horizon aligned to the cutoff, got "
            f"assess_days={assess}, horizon_days={h}",
            hint="e.g. horizon_days=28 assess_days=14",
        )


def _weekly_active(
    rows: pl.DataFrame,
    engine: Engine,
    at: Sampler,
    codes: list[int],
    lcfg: LabelConfig,
    extra_offsets: list[int],
) -> pl.DataFrame:
    """Rows plus ``wau_base`` and weekly active users ``au_7@<offset>`` for ``extra_offsets``.

    ``au_7@o``: distinct users with a qualifying event (codes ``codes``) in ``[t - o - 7, t -
    o)``; the baseline weeks have ``o = 0, 7, ..`` (before ``t``), the assessment weeks negative
    offsets (inside the horizon after ``t``)."""
    base_offsets = [7 * i for i in range(int(lcfg.baseline_days) // 7)]
    offsets = base_offsets + extra_offsets
    grid = at.grid(offsets)
    au7 = engine.active_users(grid, [7], codes=codes)["au_7"]
    out = rows.with_columns(
        [pl.Series(f"au_7@{o}", at(au7, grid, o), dtype=pl.UInt32) for o in dict.fromkeys(offsets)]
    )
    return out.with_columns(
        pl.mean_horizontal([pl.col(f"au_7@{o}").cast(pl.Float64) for o in base_offsets]).alias(
            "wau_base"
        )
    )


def _in_horizon(engine: Engine, at: Sampler, codes: list[int], h: int) -> pl.Series:
    """``_in_horizon``: events with a code in ``codes`` in the horizon ``[t, t + h)``."""
    grid = at.grid([0, -h])
    return pl.Series("_in_horizon", at.window(engine.event_sums(grid, codes), grid, 0, -h))


def build_labels(
    tables: Tables, rows: pl.DataFrame, lcfg: LabelConfig, engine: Engine | None = None
) -> pl.DataFrame:
    """``label`` (Int8, nullable) for each (account_id, cutoff) of ``rows`` (which carry ``_t``).

    ``engine``: the feature build's window engine (its users and day tables are reused; the
    label's qualifying events need not be the features' usage events). Without one, an engine
    is built from ``tables`` for the cutoffs of ``rows``. Returns ``account_id, cutoff, label``
    in the order of ``rows``.
    """
    _check(lcfg)
    h = int(lcfg.horizon_days)
    usage = (list(lcfg.qualifying_events), list(lcfg.excluded_events))
    if engine is None:
        cut_days = rows.get_column(T).unique().to_list()
        engine = build_engine(tables, cut_days, usage, extra_accounts=[rows["account_id"]])
    at = engine.sampler(rows)
    qual = engine.enc.usage_codes(*usage)
    observed = pl.col(T) + h <= observed_end_day(tables.observed_until)
    name = lcfg.name
    if name == "usage_drop":
        assess = [-(h - 7 * j) for j in range(int(lcfg.assess_days) // 7)]
        r = _weekly_active(rows, engine, at, qual, lcfg, assess)
        wau_assess = pl.mean_horizontal([pl.col(f"au_7@{o}").cast(pl.Float64) for o in assess])
        active = pl.col("wau_base") >= float(lcfg.min_baseline_users)
        decayed = (
            pl.when(active)
            .then(wau_assess < float(lcfg.drop_fraction) * pl.col("wau_base"))
            .otherwise(wau_assess < float(lcfg.min_baseline_users))
        )
        has_base = active if str(lcfg.dormant) == "exclude" else pl.lit(True)
    elif name == "inactivity":
        r = _weekly_active(rows, engine, at, qual, lcfg, []).with_columns(
            _in_horizon(engine, at, qual, h)
        )
        decayed = pl.col("_in_horizon") == 0
        has_base = (
            pl.col("wau_base") >= float(lcfg.min_baseline_users)
            if str(lcfg.dormant) == "exclude"
            else pl.lit(True)
        )
    else:
        churn = engine.enc.event_codes(lcfg.churn_events)
        r = rows.with_columns(_in_horizon(engine, at, churn, h))
        decayed = pl.col("_in_horizon") > 0
        if tables.accounts is not None and "churned_at" in tables.accounts.columns:
            churned = tables.accounts.select(
                "account_id", day_of(pl.col("churned_at")).alias("_churn")
            )
            r = r.join(churned, on="account_id", how="left", maintain_order="left")
            decayed = decayed | in_window(pl.col("_churn"), 0, -h).fill_null(False)
        has_base = pl.lit(True)
    label = pl.when(observed & has_base).then(decayed.cast(pl.Int8)).otherwise(None).cast(pl.Int8)
    return r.select("account_id", "cutoff", label.alias("label"))
