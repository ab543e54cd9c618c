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

Short histories (``split.adapt``, default true): a young product's log (a few months with a 30-
to 90-day horizon) does not fit the configured counts, so the split takes the strongest honest
rung the history allows (``_ladder``): fewer test/validation cutoffs; then a test period with
validation drawn from held-out *accounts* of the training cutoffs (``split.holdout_share``); and
when not even a test period fits after the embargo, every labelled cutoff trains and the model is
marked unevaluated (``TimeSplit.evaluated``). The rung is logged and recorded in ``describe()``.

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

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import polars as pl
from omegaconf import DictConfig

from core.errors import ConfigValueError, DataValidationError
from core.logs import get_logger

log = get_logger(__name__)

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
    #: ``time``: validation is a later period (the configured split, or fewer cutoffs when the
    #: history is short); ``accounts``: too short for a validation period, so validation is a
    #: seeded hold-out of accounts from the training cutoffs (early stopping and calibration
    #: only; test stays a later period).
    validation_kind: str = "time"
    #: False when the history allows no test period after an embargo: the model is trained on
    #: every labelled cutoff and its quality is unknown (``test`` is empty).
    evaluated: bool = True
    #: How the split was chosen (the strongest the history allows), for logs and metrics.json.
    rule: str = "configured"

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
            out[p] = [cs[0].isoformat(), cs[-1].isoformat()] if cs else []
        out["embargo_days"] = self.embargo_days
        out["horizon_days"] = self.horizon_days
        out["cutoffs"] = {p: len(self.cutoffs[p]) for p in PERIODS}
        out["rows"] = {p: self.frame(p).height for p in PERIODS}
        out["positives"] = {
            p: int(self.frame(p).get_column("label").cast(pl.Int64).sum()) for p in PERIODS
        }
        out["embargoed_cutoffs"] = [d.isoformat() for d in self.embargoed]
        out["origin"] = self.origin
        out["validation_kind"] = self.validation_kind
        out["evaluated"] = self.evaluated
        out["rule"] = self.rule
        return out


def embargo_gap(cfg: DictConfig) -> int:
    """Days between a cutoff of one period and the first cutoff of the next (>= the horizon)."""
    horizon: int = cfg.label.horizon_days
    embargo: int | None = cfg.split.embargo_days
    if embargo is None:
        return horizon
    if embargo < 0:
        raise ConfigValueError(f"split.embargo_days must be >= 0, got {embargo}")
    if embargo < horizon:
        log.warning(
            "split.embargo_days=%d is shorter than label.horizon_days=%d: using %d so no "
            "label window reaches into the next period",
            embargo,
            horizon,
            horizon,
        )
    return max(embargo, horizon)


def split_cutoffs(
    cutoffs: list[date],
    n_validation: int,
    n_test: int,
    gap_days: int,
    evaluation: Collection[date] | None = None,
) -> tuple[dict[str, list[date]], list[date]]:
    """Assign sorted unique ``cutoffs`` to periods (pure; the rule of the module docstring).

    ``evaluation``: the cutoffs that may be validation or test cutoffs (None = all); training
    takes any cutoff. Returns ``({"train": [...], "validation": [...], "test": [...]},
    embargoed)``. Raises ``ConfigValueError`` when a period would be empty.
    """
    if n_validation < 1 or n_test < 1:
        raise ConfigValueError(
            f"split.validation_cutoffs and split.test_cutoffs must be >= 1, "
            f"got {n_validation} and {n_test}"
        )
    cs = sorted(set(cutoffs))
    gap = timedelta(days=gap_days)
    hint = (
        "use fewer split.test_cutoffs/validation_cutoffs, a shorter label.horizon_days, or "
        "more snapshot.count cutoffs"
    )
    ev = cs if evaluation is None else [c for c in cs if c in set(evaluation)]
    if (
        len(ev) < n_test + n_validation + (1 if evaluation is None else 0)
        or len(cs) < n_test + n_validation + 1
    ):
        raise ConfigValueError(
            f"only {len(cs)} labelled cutoffs ({len(ev)} evaluation cutoffs): cannot split into "
            f"{n_test} test, {n_validation} validation and at least 1 training cutoff",
            hint=hint,
        )
    test = ev[-n_test:]
    before_test = [c for c in ev if c < test[0] and c + gap <= test[0]]
    if len(before_test) < n_validation + (1 if evaluation is None else 0):
        raise ConfigValueError(
            f"only {len(before_test)} labelled cutoffs end their label window before the test "
            f"period starting {test[0]} (embargo {gap_days} days): need {n_validation + 1}",
            hint=hint,
        )
    validation = before_test[-n_validation:]
    train = [c for c in cs if c < validation[0] and c + gap <= validation[0]]
    if not train:
        raise ConfigValueError(
            f"no training cutoff ends its label window before the validation period starting "
            f"{validation[0]} (embargo {gap_days} days)",
            hint=hint,
        )
    kept = set(train) | set(validation) | set(test)
    embargoed = [c for c in cs if c not in kept]
    return {"train": train, "validation": validation, "test": test}, embargoed


def labelled(dataset: pl.DataFrame) -> pl.DataFrame:
    """Rows with an observed label (null = unobserved horizon: not for training or testing)."""
    for col, dtype in (("cutoff", pl.Date), ("label", None)):
        if col not in dataset.columns:
            raise DataValidationError(
                f"dataset has no {col!r} column (columns: {dataset.columns[:10]})"
            )
        if dtype is not None and dataset.schema[col] != dtype:
            raise DataValidationError(
                f"dataset column 'cutoff' must be Date, got {dataset.schema[col]}"
            )
    out = dataset.filter(pl.col("label").is_not_null())
    bad = out.filter(~pl.col("label").is_in([0, 1]))
    if bad.height:
        raise DataValidationError(
            f"dataset column 'label' must be 0/1/null, got value "
            f"{bad.get_column('label')[0]!r} ({bad.height} rows)"
        )
    return out


def evaluation_cutoffs(cutoffs: list[date], cfg: DictConfig) -> list[date]:
    """The sorted ``cutoffs`` that may be validation/test cutoffs: all of them, or with
    ``split.evaluate_every_days = e`` those ``k * e`` days before the last one."""
    every: int | None = cfg.split.evaluate_every_days
    cs = sorted(cutoffs)
    if every is None or not cs:
        return cs
    if every < 1:
        raise ConfigValueError(f"split.evaluate_every_days must be >= 1 or null, got {every}")
    return [c for c in cs if (cs[-1] - c).days % every == 0]


def account_holdout(ids: pl.Series, share: float, seed: int) -> pl.Series:
    """Boolean mask: is each account id in the seeded hold-out of about ``share`` of accounts?

    Why by account: rows of one account at neighbouring cutoffs are near copies, so a row-level
    hold-out would leak; hashing the id with the seed keeps the choice deterministic and the same
    account on one side at every cutoff."""
    if not 0.0 < share < 1.0:
        raise ConfigValueError(f"split.holdout_share must be in (0, 1), got {share}")
    h = ids.cast(pl.String).hash(seed=int(seed))
    return (h % 10_000) < round(share * 10_000)


def _ladder(
    cs: list[date], ev: list[date], n_val: int, n_test: int, gap: int, dense: bool
) -> tuple[dict[str, list[date]], list[date], str, str]:
    """The strongest honest split ``cs`` allows: (periods, embargoed, validation_kind, rule).

    1. the configured counts; 2. fewer test and validation cutoffs (down to one each);
    3. a test period only, validation from held-out accounts of the training cutoffs;
    4. no test period: every cutoff trains (unevaluated). The embargo is kept at every rung."""
    wanted = (n_val, n_test)
    tried: list[str] = []
    for k in range(max(n_val, n_test), 0, -1):
        v, t = min(n_val, k), min(n_test, k)
        try:
            periods, emb = split_cutoffs(cs, v, t, gap, evaluation=ev if dense else None)
        except ConfigValueError as err:
            tried.append(f"{t} test + {v} validation cutoffs: {str(err).splitlines()[0]}")
            continue
        rule = (
            "configured"
            if (v, t) == wanted
            else f"shortened to {t} test and {v} validation cutoffs (configured {n_test} and "
            f"{n_val}): the history is too short for more"
        )
        return periods, emb, "time", rule
    for t in range(n_test, 0, -1):
        test = (ev if dense else cs)[-t:]
        if len(test) < t:
            continue
        train = [c for c in cs if c < test[0] and c + timedelta(days=gap) <= test[0]]
        if train:
            emb = [c for c in cs if c not in set(train) | set(test)]
            return (
                {"train": train, "validation": train, "test": test},
                emb,
                "accounts",
                f"{t} test cutoffs after an embargo of {gap} days; no room for a validation "
                f"period, so validation is a hold-out of accounts at the training cutoffs",
            )
    return (
        {"train": cs, "validation": cs, "test": []},
        [],
        "accounts",
        f"no test period fits: every labelled cutoff ({cs[0]}..{cs[-1]}) lies within one "
        f"embargo of {gap} days of the last; trained on all of them, UNEVALUATED",
    )


def time_split(dataset: pl.DataFrame, cfg: DictConfig, origin: int = 0) -> TimeSplit:
    """Split the labelled rows of ``dataset`` by cutoff (see the module docstring).

    ``origin`` k > 0 first forgets the last ``k * backtest.step_cutoffs`` labelled cutoffs
    (rolling-origin backtest).
    """
    rows = labelled(dataset)
    cs = rows.get_column("cutoff").unique().sort().to_list()
    ev = evaluation_cutoffs(cs, cfg)
    if origin:
        drop = origin * cfg.backtest.step_cutoffs
        if drop >= len(ev):
            raise ConfigValueError(
                f"backtest origin {origin} forgets {drop} of {len(ev)} "
                f"labelled (evaluation) cutoffs",
                hint="use fewer backtest.origins",
            )
        cs = [c for c in cs if c < ev[-drop]]
        ev = ev[:-drop]
    gap = embargo_gap(cfg)
    dense = cfg.split.evaluate_every_days is not None
    n_val, n_test = cfg.split.validation_cutoffs, cfg.split.test_cutoffs
    if not cs:
        raise DataValidationError(
            "the dataset has no labelled row: no cutoff's label window "
            "ends before the end of the data",
            hint="use a shorter label.horizon_days or an earlier snapshot.as_of",
        )
    if origin or not cfg.split.adapt:
        periods, embargoed = split_cutoffs(cs, n_val, n_test, gap, evaluation=ev if dense else None)
        kind, rule = "time", "configured"
    else:
        periods, embargoed, kind, rule = _ladder(cs, ev, n_val, n_test, gap, dense)
        if rule != "configured":
            log.warning("split: %s", rule)
    frames = {
        p: rows.filter(pl.col("cutoff").is_in(periods[p])).sort(["cutoff", "account_id"])
        for p in PERIODS
    }
    if kind == "accounts":
        hold = account_holdout(
            frames["train"].get_column("account_id"), cfg.split.holdout_share, cfg.seed
        )
        frames["validation"] = frames["train"].filter(hold)
        frames["train"] = frames["train"].filter(~hold)
    for p in ("train", "validation"):
        if frames[p].get_column("label").n_unique() < 2:
            raise DataValidationError(
                f"the {p} period ({periods[p][0]}..{periods[p][-1]}) has only label "
                f"{frames[p].get_column('label')[0]}: the model needs both classes",
                hint="add cutoffs (snapshot.count) or choose another label definition",
            )
    return TimeSplit(
        train=frames["train"],
        validation=frames["validation"],
        test=frames["test"],
        cutoffs=periods,
        embargo_days=gap,
        horizon_days=cfg.label.horizon_days,
        embargoed=embargoed,
        origin=origin,
        validation_kind=kind,
        evaluated=bool(periods["test"]),
        rule=rule,
    )


def rolling_origins(dataset: pl.DataFrame, cfg: DictConfig) -> list[TimeSplit]:
    """Splits at ``backtest.origins`` origins, oldest first; the last one is the main split.

    Origins whose data is too short to split are skipped with a warning (older history simply
    does not exist yet), so a short dataset still gets the origins it can support.
    """
    out: list[TimeSplit] = []
    for k in range(cfg.backtest.origins - 1, -1, -1):
        try:
            out.append(time_split(dataset, cfg, origin=k))
        except (ConfigValueError, DataValidationError) as err:
            if k == 0:
                raise
            log.warning("backtest origin %d skipped: %s", k, str(err).splitlines()[0])
    return out
