"""Time split on cutoffs: train < validation < test, separated by an embargo; rolling origins.

Why a time split with an embargo: a row at cutoff ``t`` has its label read from the events in
``[t, t + horizon_days)``. A training row whose label window reaches into the validation (or test)
period would let the model learn from the very days it is judged on. So a row of an earlier period
is kept only when ``t + gap <= first cutoff of the next period`` with
``gap = max(split.embargo_days, label.horizon_days)`` (``embargo_days`` null = the horizon). An
embargo shorter than the horizon cannot be honoured without leakage, so the horizon is its floor
(logged once when that happens). Cutoffs are ``pl.Date`` values standing for 00:00 UTC.

Only labelled rows (``label`` not null) take part: an unobserved label can be neither trained on
nor judged. The test period is the last ``split.test_cutoffs`` labelled cutoffs; the validation
period is the last ``split.validation_cutoffs`` labelled cutoffs that clear the embargo before the
test period; training is every labelled cutoff that clears the embargo before validation. Cutoffs
inside an embargo are dropped (and counted in the description).

Rolling origins (``backtest.origins``, ``backtest.step_cutoffs``): origin ``k`` forgets the last
``k * step_cutoffs`` labelled cutoffs and splits what remains the same way, so each origin is
trained only on labels that were observable before its own test period.

Denser training cutoffs (``split.evaluate_every_days``, default null = every cutoff is one):
with a dense snapshot schedule (e.g. ``snapshot.every_days=1``) only the *evaluation cutoffs*,
every ``evaluate_every_days`` days back from the last labelled cutoff, can be validation or test
cutoffs (and ``test_cutoffs``, ``validation_cutoffs``, ``backtest.step_cutoffs`` count them),
while training takes every cutoff that clears the embargo. Validation and test then hold the
same rows as with a weekly schedule; only the training rows become denser.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import polars as pl

from core.errors import ConfigValueError, DataValidationError

log = logging.getLogger("adoption_decay")

PERIODS = ("train", "validation", "test")


@dataclass
class TimeSplit:
    """Labelled rows of each period, the cutoffs of each period and the embargo used.

    ``cutoffs[p]`` lists the (sorted) cutoff dates of period ``p``; ``embargoed`` the labelled
    cutoffs dropped because their label window reached into the next period; ``origin`` is the
    backtest origin index (0 = the latest, i.e. the main training split).
    """

    train: pl.DataFrame
    validation: pl.DataFrame
    test: pl.DataFrame
    cutoffs: dict[str, list[date]]
    embargo_days: int
    horizon_days: int
    embargoed: list[date]
    origin: int = 0

    def frame(self, period: str) -> pl.DataFrame:
        """The rows of ``period`` (train | validation | test)."""
        if period not in PERIODS:
            raise ValueError(f"period must be one of {PERIODS}, got {period!r}")
        return getattr(self, period)

    def describe(self) -> dict[str, Any]:
        """JSON-able description: ``{"train": [first, last], ..., "embargo_days", "rows"}``.

        Dates are ISO strings (cutoffs, 00:00 UTC); ``rows``/``positives`` count labelled rows.
        """
        out: dict[str, Any] = {}
        for p in PERIODS:
            cs = self.cutoffs[p]
            out[p] = [cs[0].isoformat(), cs[-1].isoformat()]
        out["embargo_days"] = self.embargo_days
        out["horizon_days"] = self.horizon_days
        out["cutoffs"] = {p: len(self.cutoffs[p]) for p in PERIODS}
        out["rows"] = {p: self.frame(p).height for p in PERIODS}
        out["positives"] = {p: int(self.frame(p).get_column("label").cast(pl.Int64).sum())
                            for p in PERIODS}
        out["embargoed_cutoffs"] = [d.isoformat() for d in self.embargoed]
        out["origin"] = self.origin
        return out


def embargo_gap(cfg: Any) -> int:
    """Days between a cutoff of one period and the first cutoff of the next (>= the horizon)."""
    horizon = int(cfg.label.horizon_days)
    embargo = cfg.split.embargo_days
    if embargo is None:
        return horizon
    embargo = int(embargo)
    if embargo < 0:
        raise ConfigValueError(f"split.embargo_days must be >= 0, got {embargo}")
    if embargo < horizon:
        log.warning("split.embargo_days=%d is shorter than label.horizon_days=%d: using %d so no "
                    "label window reaches into the next period", embargo, horizon, horizon)
    return max(embargo, horizon)


def split_cutoffs(cutoffs: list[date], n_validation: int, n_test: int, gap_days: int,
                  evaluation: Collection[date] | None = None
                  ) -> tuple[dict[str, list[date]], list[date]]:
    """Assign sorted unique ``cutoffs`` to periods (pure; the rule of the module docstring).

    ``evaluation``: the cutoffs that may be validation or test cutoffs (None = all); training
    takes any cutoff. Returns ``({"train": [...], "validation": [...], "test": [...]},
    embargoed)``. Raises ``ConfigValueError`` when a period would be empty.
    """
    if n_validation < 1 or n_test < 1:
        raise ConfigValueError(f"split.validation_cutoffs and split.test_cutoffs must be >= 1, "
                               f"got {n_validation} and {n_test}")
    cs = sorted(set(cutoffs))
    gap = timedelta(days=gap_days)
    hint = ("use fewer split.test_cutoffs/validation_cutoffs, a shorter label.horizon_days, or "
            "more snapshot.count cutoffs")
    ev = cs if evaluation is None else [c for c in cs if c in set(evaluation)]
    if len(ev) < n_test + n_validation + (1 if evaluation is None else 0) or len(cs) < n_test + n_validation + 1:
        raise ConfigValueError(
            f"only {len(cs)} labelled cutoffs ({len(ev)} evaluation cutoffs): cannot split into "
            f"{n_test} test, {n_validation} validation and at least 1 training cutoff", hint=hint)
    test = ev[-n_test:]
    before_test = [c for c in ev if c < test[0] and c + gap <= test[0]]
    if len(before_test) < n_validation + (1 if evaluation is None else 0):
        raise ConfigValueError(
            f"only {len(before_test)} labelled cutoffs end their label window before the test "
            f"period starting {test[0]} (embargo {gap_days} days): need {n_validation + 1}",
            hint=hint)
    validation = before_test[-n_validation:]
    train = [c for c in cs if c < validation[0] and c + gap <= validation[0]]
    if not train:
        raise ConfigValueError(
            f"no training cutoff ends its label window before the validation period starting "
            f"{validation[0]} (embargo {gap_days} days)", hint=hint)
    kept = set(train) | set(validation) | set(test)
    embargoed = [c for c in cs if c not in kept]
    return {"train": train, "validation": validation, "test": test}, embargoed


def labelled(dataset: pl.DataFrame) -> pl.DataFrame:
    """Rows with an observed label (null = unobserved horizon: not for training or testing)."""
    for col, dtype in (("cutoff", pl.Date), ("label", None)):
        if col not in dataset.columns:
            raise DataValidationError(f"dataset has no {col!r} column (columns: "
                                      f"{dataset.columns[:10]})")
        if dtype is not None and dataset.schema[col] != dtype:
            raise DataValidationError(f"dataset column 'cutoff' must be Date, got "
                                      f"{dataset.schema[col]}")
    out = dataset.filter(pl.col("label").is_not_null())
    bad = out.filter(~pl.col("label").is_in([0, 1]))
    if bad.height:
        raise DataValidationError(f"dataset column 'label' must be 0/1/null, got value "
                                  f"{bad.get_column('label')[0]!r} ({bad.height} rows)")
    return out


def evaluation_cutoffs(cutoffs: list[date], cfg: Any) -> list[date]:
    """The sorted ``cutoffs`` that may be validation/test cutoffs: all of them, or with
    ``split.evaluate_every_days = e`` those ``k * e`` days before the last one."""
    every = cfg.split.evaluate_every_days
    cs = sorted(cutoffs)
    if every is None or not cs:
        return cs
    if int(every) < 1:
        raise ConfigValueError(f"split.evaluate_every_days must be >= 1 or null, got {every}")
    return [c for c in cs if (cs[-1] - c).days % int(every) == 0]


def time_split(dataset: pl.DataFrame, cfg: Any, origin: int = 0) -> TimeSplit:
    """Split the labelled rows of ``dataset`` by cutoff (see the module docstring).

    ``origin`` k > 0 first forgets the last ``k * backtest.step_cutoffs`` labelled cutoffs
    (rolling-origin backtest).
    """
    rows = labelled(dataset)
    cs = rows.get_column("cutoff").unique().sort().to_list()
    ev = evaluation_cutoffs(cs, cfg)
    if origin:
        drop = origin * int(cfg.backtest.step_cutoffs)
        if drop >= len(ev):
            raise ConfigValueError(f"backtest origin {origin} forgets {drop} of {len(ev)} "
                                   f"labelled (evaluation) cutoffs", hint="use fewer backtest.origins")
        cs = [c for c in cs if c < ev[-drop]]
        ev = ev[:-drop]
    gap = embargo_gap(cfg)
    dense = cfg.split.evaluate_every_days is not None
    periods, embargoed = split_cutoffs(cs, int(cfg.split.validation_cutoffs),
                                       int(cfg.split.test_cutoffs), gap,
                                       evaluation=ev if dense else None)
    frames = {p: rows.filter(pl.col("cutoff").is_in(periods[p])).sort(["cutoff", "account_id"])
              for p in PERIODS}
    for p in ("train", "validation"):
        if frames[p].get_column("label").n_unique() < 2:
            raise DataValidationError(
                f"the {p} period ({periods[p][0]}..{periods[p][-1]}) has only label "
                f"{frames[p].get_column('label')[0]}: the model needs both classes",
                hint="add cutoffs (snapshot.count) or choose another label definition")
    return TimeSplit(train=frames["train"], validation=frames["validation"], test=frames["test"],
                     cutoffs=periods, embargo_days=gap, horizon_days=int(cfg.label.horizon_days),
                     embargoed=embargoed, origin=origin)


def rolling_origins(dataset: pl.DataFrame, cfg: Any) -> list[TimeSplit]:
    """Splits at ``backtest.origins`` origins, oldest first; the last one is the main split.

    Origins whose data is too short to split are skipped with a warning (older history simply
    does not exist yet), so a short dataset still gets the origins it can support.
    """
    out: list[TimeSplit] = []
    for k in range(int(cfg.backtest.origins) - 1, -1, -1):
        try:
            out.append(time_split(dataset, cfg, origin=k))
        except (ConfigValueError, DataValidationError) as err:
            if k == 0:
                raise
            log.warning("backtest origin %d skipped: %s", k, str(err).splitlines()[0])
    return out
