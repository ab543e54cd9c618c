"""The time split never leaks: periods are ordered and no label window reaches the next period."""

from __future__ import annotations

import itertools
from datetime import date, timedelta

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.errors import ConfigValueError, DataValidationError
from models.split import rolling_origins, split_cutoffs, time_split

from .conftest import make_dataset, small_cfg

D0 = date(2026, 1, 5)


def weekly(n: int) -> list[date]:
    return [D0 + timedelta(days=7 * i) for i in range(n)]


def test_split_cutoffs_exact_weekly_schedule_with_two_week_embargo() -> None:
    cs = weekly(12)
    periods, embargoed = split_cutoffs(cs, n_validation=2, n_test=3, gap_days=14)
    # test = last 3; validation = last 2 with c + 14 <= test start; train likewise before validation
    assert periods["test"] == cs[9:12]
    assert periods["validation"] == cs[6:8]
    assert periods["train"] == cs[0:5]
    assert embargoed == [cs[5], cs[8]]


def test_split_cutoffs_zero_gap_leaves_no_embargo() -> None:
    cs = weekly(6)
    periods, embargoed = split_cutoffs(cs, 1, 1, gap_days=0)
    assert periods == {"train": cs[:4], "validation": [cs[4]], "test": [cs[5]]}
    assert embargoed == []


def test_split_cutoffs_too_short_names_the_problem() -> None:
    with pytest.raises(ConfigValueError, match="only 4 labelled cutoffs"):
        split_cutoffs(weekly(4), 2, 2, gap_days=7)
    with pytest.raises(ConfigValueError, match="embargo 70 days"):
        split_cutoffs(weekly(8), 2, 2, gap_days=70)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    offsets=st.lists(st.integers(0, 400), min_size=3, max_size=40, unique=True),
    n_val=st.integers(1, 4),
    n_test=st.integers(1, 4),
    gap=st.integers(0, 60),
)
def test_split_never_leaks_on_random_schedules(offsets, n_val, n_test, gap) -> None:
    cs = [D0 + timedelta(days=o) for o in offsets]
    try:
        periods, embargoed = split_cutoffs(cs, n_val, n_test, gap)
    except ConfigValueError:
        return  # schedule too short for this split: refused, not leaked
    train, val, test = periods["train"], periods["validation"], periods["test"]
    g = timedelta(days=gap)
    # every label window [t, t + gap) of an earlier period ends by the next period's start
    assert max(train) + g <= min(val)
    assert max(val) + g <= min(test)
    assert test == sorted(cs)[-n_test:]
    assert len(val) == n_val
    # the periods and the embargoed cutoffs partition the schedule
    assert sorted(train + val + test + embargoed) == sorted(cs)
    # nothing that could have been kept was embargoed from training
    assert all(c + g > min(val) for c in embargoed if c < min(val))


def test_time_split_on_dataset_drops_unlabelled_rows_and_respects_horizon(dataset) -> None:
    cfg = small_cfg()
    s = time_split(dataset, cfg)
    h = timedelta(days=cfg.label.horizon_days)
    assert s.embargo_days == 14
    for frame in (s.train, s.validation, s.test):
        assert frame.get_column("label").null_count() == 0
    assert s.train.get_column("cutoff").max() + h <= s.validation.get_column("cutoff").min()
    assert s.validation.get_column("cutoff").max() + h <= s.test.get_column("cutoff").min()
    d = s.describe()
    # 30 weekly cutoffs, 2 unlabelled -> 28 labelled: 4 test, 1 embargoed, 4 validation, 1, 18
    assert d["cutoffs"] == {"train": 18, "validation": 4, "test": 4}
    assert d["rows"] == {"train": 18 * 150, "validation": 600, "test": 600}
    assert d["test"] == ["2025-06-23", "2025-07-14"]
    assert d["validation"] == ["2025-05-19", "2025-06-09"]
    assert d["train"] == ["2025-01-06", "2025-05-05"]
    assert d["embargoed_cutoffs"] == ["2025-05-12", "2025-06-16"]


def test_embargo_shorter_than_horizon_is_raised_to_the_horizon(dataset) -> None:
    s = time_split(dataset, small_cfg("split.embargo_days=3"))
    assert s.embargo_days == 14
    s = time_split(dataset, small_cfg("split.embargo_days=21"))
    assert s.embargo_days == 21
    assert (
        s.train.get_column("cutoff").max() + timedelta(days=21)
        <= s.validation.get_column("cutoff").min()
    )


def test_rolling_origins_move_back_and_stay_leak_free(dataset) -> None:
    cfg = small_cfg("backtest.origins=3", "backtest.step_cutoffs=4")
    splits = rolling_origins(dataset, cfg)
    assert [s.origin for s in splits] == [2, 1, 0]
    starts = [s.test.get_column("cutoff").min() for s in splits]
    assert starts == sorted(starts)
    assert [(b - a).days for a, b in itertools.pairwise(starts)] == [28, 28]
    h = timedelta(days=cfg.label.horizon_days)
    for s in splits:
        # trained only on labels observable before its own test period
        assert s.train.get_column("cutoff").max() + h <= s.test.get_column("cutoff").min()
        assert s.validation.get_column("cutoff").max() + h <= s.test.get_column("cutoff").min()


def test_rolling_origins_skip_origins_without_history(dataset) -> None:
    splits = rolling_origins(dataset, small_cfg("backtest.origins=9", "backtest.step_cutoffs=4"))
    assert [s.origin for s in splits] == [4, 3, 2, 1, 0]


def test_bad_label_values_are_named() -> None:
    ds = make_dataset(n_accounts=10, n_cutoffs=12).with_columns(
        pl.when(pl.col("account_id") == "a0003")
        .then(pl.lit(2, pl.Int8))
        .otherwise(pl.col("label"))
        .alias("label")
    )
    with pytest.raises(DataValidationError, match="'label' must be 0/1/null, got value 2"):
        time_split(ds, small_cfg("split.test_cutoffs=1", "split.validation_cutoffs=1"))


def test_single_class_training_period_is_refused() -> None:
    ds = make_dataset(n_accounts=10, n_cutoffs=12).with_columns(pl.lit(0, pl.Int8).alias("label"))
    with pytest.raises(DataValidationError, match="needs both classes"):
        time_split(ds, small_cfg("split.test_cutoffs=1", "split.validation_cutoffs=1"))


def test_split_cutoffs_dense_training_with_weekly_evaluation_cutoffs() -> None:
    cs = [D0 + timedelta(days=i) for i in range(85)]  # daily: D0 .. D0 + 84
    ev = [c for c in cs if (cs[-1] - c).days % 7 == 0]  # D0, D0 + 7, ..., D0 + 84
    periods, embargoed = split_cutoffs(cs, n_validation=2, n_test=3, gap_days=14, evaluation=ev)
    d = [(c - D0).days for c in periods["train"]]
    assert [(c - D0).days for c in periods["test"]] == [70, 77, 84]
    # validation: weekly cutoffs whose window [t, t + 14) ends by the test start (day 70)
    assert [(c - D0).days for c in periods["validation"]] == [49, 56]
    # training: every daily cutoff whose label window ends by the validation start (day 49)
    assert d == list(range(0, 36))
    assert sorted(periods["train"] + periods["validation"] + periods["test"] + embargoed) == cs


def test_time_split_dense_schedule_keeps_the_weekly_test_rows() -> None:
    weekly_ds = make_dataset(n_accounts=40, n_cutoffs=30)
    start = weekly_ds.get_column("cutoff").min()
    # the same accounts at daily cutoffs: a row per day (labels copied from the week's row)
    daily = (
        weekly_ds.with_columns(pl.col("cutoff").alias("week"))
        .join(pl.DataFrame({"d": list(range(7))}), how="cross")
        .with_columns((pl.col("week") - pl.duration(days=pl.col("d"))).alias("cutoff"))
        .filter(pl.col("cutoff") >= start)
        .drop("week", "d")
    )
    cfg = small_cfg("split.evaluate_every_days=7")
    dense, plain = time_split(daily, cfg), time_split(weekly_ds, small_cfg())
    for p in ("validation", "test"):
        assert dense.cutoffs[p] == plain.cutoffs[p]
        assert dense.frame(p).height == plain.frame(p).height
    assert set(plain.cutoffs["train"]) < set(dense.cutoffs["train"])
    assert (
        max(dense.cutoffs["train"]) + timedelta(days=dense.embargo_days)
        <= dense.cutoffs["validation"][0]
    )
    # a backtest origin moves back by whole evaluation cutoffs
    back = time_split(
        daily, small_cfg("split.evaluate_every_days=7", "backtest.step_cutoffs=2"), origin=1
    )
    assert back.cutoffs["test"][-1] == plain.cutoffs["test"][-1] - timedelta(days=14)


# -- short histories: the strongest honest split the history allows ----------------------------
def _periods(s) -> tuple[int, int, int]:
    return tuple(len(s.cutoffs[p]) for p in ("train", "validation", "test"))


def test_short_history_shortens_the_split_instead_of_stopping() -> None:
    # 8 labelled weekly cutoffs, horizon 14 (SMALL): 4 + 4 and 3 + 3 cannot fit, 2 + 2 can.
    ds = make_dataset(n_accounts=120, n_cutoffs=10)
    s = time_split(ds, small_cfg())
    assert s.evaluated and s.validation_kind == "time"
    assert "shortened to 2 test and 2 validation" in s.rule
    assert s.describe()["rule"] == s.rule
    with pytest.raises(ConfigValueError):
        time_split(ds, small_cfg("split.adapt=false"))


def test_no_room_for_validation_holds_out_accounts() -> None:
    # 3 labelled cutoffs 7 days apart with a 14-day embargo: a test period fits, validation not.
    ds = make_dataset(n_accounts=200, n_cutoffs=5)
    s = time_split(ds, small_cfg("split.embargo_days=14"))
    assert s.evaluated and s.validation_kind == "accounts"
    train_ids = set(s.train["account_id"].to_list())
    val_ids = set(s.validation["account_id"].to_list())
    assert train_ids and val_ids and not train_ids & val_ids  # same account never on both sides
    assert s.validation["cutoff"].max() + timedelta(days=14) <= s.test["cutoff"].min()
    assert 0.1 < len(val_ids) / (len(val_ids) | len(train_ids)) < 0.3  # ~ holdout_share 0.2


def test_one_labelled_cutoff_trains_unevaluated() -> None:
    ds = make_dataset(n_accounts=200, n_cutoffs=3)  # 1 labelled cutoff
    s = time_split(ds, small_cfg())
    assert not s.evaluated and s.test.height == 0 and "UNEVALUATED" in s.rule
    assert s.train.height + s.validation.height == ds.filter(pl.col("label").is_not_null()).height
    assert s.describe()["test"] == [] and s.describe()["evaluated"] is False


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n_cutoffs=st.integers(3, 14), gap=st.integers(0, 40), seed=st.integers(0, 3))
def test_adaptive_split_never_leaks(n_cutoffs, gap, seed) -> None:
    ds = make_dataset(n_accounts=120, n_cutoffs=n_cutoffs, seed=seed)
    try:
        s = time_split(ds, small_cfg(f"split.embargo_days={gap}"))
    except DataValidationError:
        return  # a period with one class only: refused, not leaked
    g = timedelta(days=max(gap, 14))
    if s.evaluated:
        assert s.train["cutoff"].max() + g <= s.test["cutoff"].min()
        assert s.validation["cutoff"].max() + g <= s.test["cutoff"].min()
    if s.validation_kind == "time":
        assert s.train["cutoff"].max() + g <= s.validation["cutoff"].min()
    else:
        assert not set(s.train["account_id"]) & set(s.validation["account_id"])
