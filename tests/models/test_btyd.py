"""BTYD baseline: point-in-time summaries (exact numbers), P(no active day) properties, the
Pareto/NBD numerics against lifetimes, and a fit on simulated Pareto/NBD activity."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

from models.btyd import (
    BTYDModel,
    _fit_sample,
    _lifetimes,
    _Patterns,
    _pnbd_loglik,
    btyd_scores,
    fit_btyd,
    rfm_summary,
)

TS = pl.Datetime("us", "UTC")

#: Plausible daily parameters: light users (fits of simulated data) and heavy ones (the demo).
MODELS = {
    "bgnbd": BTYDModel("bgnbd", {"r": 0.47, "alpha": 5.5, "a": 0.46, "b": 5.0}),
    "paretonbd": BTYDModel("paretonbd", {"r": 0.8, "alpha": 10.0, "s": 0.6, "beta": 60.0}),
    "bgnbd_heavy": BTYDModel("bgnbd", {"r": 17.0, "alpha": 24.0, "a": 0.55, "b": 363.0}),
    "paretonbd_heavy": BTYDModel("paretonbd", {"r": 17.0, "alpha": 24.0, "s": 3.0, "beta": 1650.0}),
}


def _ts(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def _events(rows: list[tuple[str, datetime]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "account_id": [a for a, _ in rows],
            "user_id": [f"{a}-u" for a, _ in rows],
            "event": ["use"] * len(rows),
            "timestamp": pl.Series([t for _, t in rows], dtype=TS),
            "value": pl.Series([None] * len(rows), dtype=pl.Float64),
        }
    )


def _rows(pairs: list[tuple[str, date]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "account_id": [a for a, _ in pairs],
            "cutoff": pl.Series([c for _, c in pairs], dtype=pl.Date),
        }
    )


def _summary(x, t_x, age) -> pl.DataFrame:
    return pl.DataFrame(
        {"frequency": np.atleast_1d(x), "recency": np.atleast_1d(t_x), "T": np.atleast_1d(age)}
    ).cast(pl.Float64)


# --- summaries ---------------------------------------------------------------------------------

TEN_EVENTS = _events(
    [
        ("a", _ts(2025, 1, 1, 10)),
        ("a", _ts(2025, 1, 1, 18)),  # one active day
        ("a", _ts(2025, 1, 4, 23, 59, 59)),
        ("a", _ts(2025, 1, 10)),  # 01-10 00:00 = cutoff
        ("a", _ts(2025, 1, 12, 9)),
        ("b", _ts(2025, 1, 5)),
        ("b", _ts(2025, 1, 7, 12)),
        ("b", datetime(2025, 1, 9, 23, 59, 59, 999999, tzinfo=UTC)),
        ("c", _ts(2025, 1, 15, 8)),
        ("c", _ts(2025, 1, 20, 0, 0, 1)),
    ]
)
ROWS = _rows(
    [
        ("a", date(2025, 1, 10)),
        ("b", date(2025, 1, 10)),
        ("c", date(2025, 1, 10)),
        ("d", date(2025, 1, 10)),
        ("a", date(2025, 1, 2)),
        ("c", date(2025, 1, 20)),
        ("a", date(2025, 1, 1)),
    ]
)


def test_rfm_summary_exact_numbers_point_in_time():
    out = rfm_summary(TEN_EVENTS, ROWS)
    assert out.select("account_id", "cutoff").equals(ROWS)  # order of the rows kept
    assert out.get_column("frequency").to_list() == [1, 2, 0, 0, 0, 0, 0]
    assert out.get_column("recency").to_list() == [3, 4, 0, 0, 0, 0, 0]
    assert out.get_column("T").to_list() == [9, 5, 0, 0, 1, 5, 0]
    assert out.get_column("n_days_observed").to_list() == [2, 3, 0, 0, 1, 1, 0]
    assert out.get_column("has_history").to_list() == [True, True, False, False, True, True, False]


def test_rfm_summary_ignores_events_at_and_after_the_cutoff():
    cut = date(2025, 1, 10)
    rows = _rows([("a", cut), ("b", cut), ("c", cut)])
    before = TEN_EVENTS.filter(pl.col("timestamp") < datetime(2025, 1, 10, tzinfo=UTC))
    assert rfm_summary(TEN_EVENTS, rows).equals(rfm_summary(before, rows))


# --- P(no active day in the horizon) -------------------------------------------------------------


@st.composite
def histories(draw, min_gap: int = 1):
    age = draw(st.integers(2, 500))
    t_x = draw(st.integers(1, age - min_gap))
    x = draw(st.integers(1, t_x))
    return x, t_x, age


@settings(max_examples=40, deadline=None)
@given(
    name=st.sampled_from(sorted(MODELS)),
    h=histories(),
    shift=st.integers(1, 200),
    horizon=st.integers(1, 90),
)
def test_p_inactive_bounded_and_rises_with_the_silence(name, h, shift, horizon):
    """In [0, 1]; for a fixed frequency it rises with T - recency (an earlier last active day
    at the same T, or a later cutoff with the same history) and falls with a longer horizon."""
    m, (x, t_x, age) = MODELS[name], h
    earlier = max(x, t_x - shift)
    p = m.p_inactive(_summary([x, x, x], [t_x, earlier, t_x], [age, age, age + shift]), horizon)
    assert np.all((p >= 0) & (p <= 1))
    assert p[1] >= p[0] - 1e-12 and p[2] >= p[0] - 1e-12
    longer = m.p_inactive(_summary(x, t_x, age), horizon + 7)[0]
    assert longer <= p[0] + 1e-12


@settings(max_examples=40, deadline=None)
@given(name=st.sampled_from(sorted(MODELS)), age=st.integers(1, 500), horizon=st.integers(1, 90))
def test_p_inactive_falls_with_frequency_when_last_active_at_the_cutoff(name, age, horizon):
    """For t_x = T (active right up to the cutoff) both models are sure or nearly sure the
    account is alive, and more active days mean a higher rate: P(inactive) falls with x.
    (For t_x < T it is not monotone in x, by design of both models: a frequent user gone
    quiet is more likely dead than a rare one; see the module docstring.)"""
    x = np.arange(1, age + 1)
    p = MODELS[name].p_inactive(_summary(x, np.full(x.size, age), np.full(x.size, age)), horizon)
    assert np.all(np.diff(p) <= 1e-12)


def test_p_inactive_without_history_is_one_and_horizon_is_checked():
    summary = rfm_summary(TEN_EVENTS, ROWS)
    p = MODELS["paretonbd"].p_inactive(summary, 28)
    assert p[~summary.get_column("has_history").to_numpy()].tolist() == [1.0, 1.0, 1.0]
    with pytest.raises(ValueError, match="horizon_days"):
        MODELS["bgnbd"].p_inactive(summary, 0)


def test_bgnbd_matches_hardie_eq34_including_no_repeat_days():
    """Eq. 34 of Fader and Hardie (note 039) with y = 0, written out independently."""
    from scipy.special import betaln

    r, alpha, a, b = 0.47, 5.5, 0.46, 5.0
    x, t_x, age, h = (
        np.array([0, 0, 3, 40]),
        np.array([0, 0, 10, 90]),
        np.array([5, 200, 30, 91]),
        28,
    )
    dead = np.where(
        x > 0,
        np.exp(betaln(a + 1, b + x - 1) - betaln(a, b + x) - (r + x) * np.log(alpha + t_x)),
        0.0,
    )
    expected = ((alpha + age + h) ** -(r + x) + dead) / ((alpha + age) ** -(r + x) + dead)
    got = MODELS["bgnbd"].p_inactive(_summary(x, t_x, age), h)
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_pareto_nbd_matches_lifetimes_where_finite_and_stays_finite_for_heavy_users():
    rng = np.random.default_rng(0)
    age = rng.integers(1, 520, 3000).astype(float)
    t_x = np.floor(rng.random(age.size) * age)
    x = np.where(t_x > 0, np.floor(rng.random(age.size) * (t_x + 1)), 0.0)
    daily = np.arange(300.0, 520.0)  # active every day since the first: lifetimes overflows
    x, t_x, age = np.r_[x, daily - 1], np.r_[t_x, daily - 1], np.r_[age, daily]
    lt = _lifetimes()
    for name in ("paretonbd", "paretonbd_heavy"):
        m = MODELS[name]
        params = np.array([m.params[k] for k in ("r", "alpha", "s", "beta")])
        ref = lt.ParetoNBDFitter()
        ref.params_ = pd.Series(params, index=["r", "alpha", "s", "beta"])
        with np.errstate(all="ignore"):
            ll_ref = ref._conditional_log_likelihood(params, x, t_x, age)
            p_ref = np.asarray(
                ref.conditional_probability_of_n_purchases_up_to_time(0, 28.0, x, t_x, age), float
            )
        ll, p = _pnbd_loglik(params, x, t_x, age)[0], m.p_inactive(_summary(x, t_x, age), 28)
        ok = np.isfinite(ll_ref) & np.isfinite(p_ref)
        np.testing.assert_allclose(ll[ok], ll_ref[ok], rtol=1e-10, atol=1e-9)
        np.testing.assert_allclose(p[ok], p_ref[ok], atol=1e-9)
        assert np.all(np.isfinite(ll)) and np.all((p >= 0) & (p <= 1))
        if name == "paretonbd_heavy":
            assert (~ok).sum() > 10  # the case the own implementation exists for


# --- fitting on simulated Pareto/NBD activity ----------------------------------------------------

START = date(2025, 1, 1)
DAYS, H, SCORE_DAY = 300, 28, 240


def _simulate(n: int = 1500, seed: int = 3) -> tuple[pl.DataFrame, np.ndarray]:
    """Discrete-time Pareto/NBD: each account is born on a day in [0, 150) (active that day),
    is active on each later day with probability 1 - exp(-lambda) until it dies at
    birth + Exp(mu); lambda ~ Gamma(1.2, 1/4) (0.3 active days per day), mu ~ Gamma(1.0, 1/90).
    Returns the events (one to three per active day) and the active-day matrix."""
    rng = np.random.default_rng(seed)
    lam, mu = rng.gamma(1.2, 1 / 4, n), rng.gamma(1.0, 1 / 90, n)
    birth = rng.integers(0, 150, n)
    death = birth + rng.exponential(1 / mu)
    day = np.arange(DAYS)
    active = (
        (rng.random((n, DAYS)) < -np.expm1(-lam[:, None]))
        & (day >= birth[:, None])
        & (day < death[:, None])
    )
    active[np.arange(n), birth] = True
    acc, d = np.nonzero(active)
    reps = rng.integers(1, 4, acc.size)
    acc, d = np.repeat(acc, reps), np.repeat(d, reps)
    us = (d * 86_400 + rng.integers(0, 86_400, d.size)) * 1_000_000
    t0 = int(datetime(2025, 1, 1, tzinfo=UTC).timestamp() * 1_000_000)
    events = pl.DataFrame(
        {
            "account_id": [f"acc{i:05d}" for i in acc],
            "user_id": [f"u{i:05d}" for i in acc],
            "event": ["use"] * acc.size,
            "timestamp": pl.Series(us + t0, dtype=pl.Int64).cast(TS),
            "value": pl.Series([None] * acc.size, dtype=pl.Float64),
        }
    ).sample(fraction=1.0, shuffle=True, seed=seed)
    return events, active


def _cutoff_rows(n: int, days: list[int]) -> pl.DataFrame:
    return pl.DataFrame({"account_id": [f"acc{i:05d}" for i in range(n)]}).join(
        pl.DataFrame(
            {"cutoff": pl.Series([START + timedelta(days=d) for d in days], dtype=pl.Date)}
        ),
        how="cross",
    )


@pytest.fixture(scope="module")
def simulated():
    events, active = _simulate()
    n = active.shape[0]
    fit_rows = _cutoff_rows(n, list(range(100, SCORE_DAY - H + 1, 7)))  # labels end <= SCORE_DAY
    score_rows = _cutoff_rows(n, [SCORE_DAY])
    inactive = ~active[:, SCORE_DAY : SCORE_DAY + H].any(axis=1)
    risk, facts = btyd_scores(events, fit_rows, score_rows, H, seed=0, model="auto")
    return events, fit_rows, score_rows, inactive, risk, facts


def test_auto_fit_ranks_future_inactivity(simulated):
    _, _, _, inactive, risk, facts = simulated
    assert facts["selection"].startswith("held-out") and facts["model"] in ("bgnbd", "paretonbd")
    assert set(facts["mean_loglik"]) == {"bgnbd", "paretonbd"}
    assert facts["fit_accounts"] == 1500 and facts["score_rows"] == 1500
    assert 0.0 < inactive.mean() < 1.0
    assert roc_auc_score(inactive, risk) > 0.75


@pytest.mark.parametrize("model", ["bgnbd", "paretonbd"])
def test_each_model_fits_deterministically_and_ranks(simulated, model):
    events, fit_rows, score_rows, inactive, _, _ = simulated
    first = fit_btyd(events, fit_rows, seed=1, model=model)
    again = fit_btyd(events, fit_rows.reverse(), seed=1, model=model)  # row order irrelevant
    assert first.model == model and first.params == again.params
    p = first.p_inactive(rfm_summary(events, score_rows), H)
    assert roc_auc_score(inactive, p) > 0.75


def test_pareto_nbd_fit_reaches_the_lifetimes_optimum(simulated):
    """On light users (where lifetimes' closed form is finite) both find the same maximum."""
    events, fit_rows, _, _, _, _ = simulated
    ours = fit_btyd(events, fit_rows, seed=0, model="paretonbd")
    p = _Patterns.of(_fit_sample(rfm_summary(events, fit_rows), 0, 10_000))
    lt = _lifetimes()
    with np.errstate(all="ignore"):
        ref = lt.ParetoNBDFitter().fit(
            p.x, p.t_x, p.age, weights=p.weight, initial_params=np.ones(4), fit_method="BFGS"
        )
    params = np.array([ours.params[k] for k in ("r", "alpha", "s", "beta")])
    ll_ours = np.dot(p.weight, _pnbd_loglik(params, p.x, p.t_x, p.age)[0])
    ll_ref = np.dot(p.weight, _pnbd_loglik(ref.params_.to_numpy(), p.x, p.t_x, p.age)[0])
    assert ll_ours >= ll_ref - 1e-6 * abs(ll_ref)
    np.testing.assert_allclose(params, ref.params_.to_numpy(), rtol=0.02)


def test_round_trip_gives_identical_predictions(simulated):
    events, _, score_rows, _, risk, facts = simulated
    summary = rfm_summary(events, score_rows)
    for m in [*MODELS.values(), BTYDModel(facts["model"], facts["params"])]:
        back = BTYDModel.from_dict(json.loads(json.dumps(m.to_dict())))
        assert back == m
        np.testing.assert_array_equal(back.p_inactive(summary, H), m.p_inactive(summary, H))
    fitted = BTYDModel(facts["model"], facts["params"])
    np.testing.assert_array_equal(fitted.p_inactive(summary, H), risk)


def test_fit_cap_and_bad_arguments(simulated):
    events, fit_rows, _, _, _, _ = simulated
    capped = fit_btyd(events, fit_rows, seed=0, model="bgnbd", max_fit_accounts=300)
    assert capped.facts["fit_accounts"] == 300
    with pytest.raises(ValueError, match="model must be one of"):
        fit_btyd(events, fit_rows, seed=0, model="gamma")
    with pytest.raises(ValueError, match="none of the 1 fit rows"):
        fit_btyd(events, _rows([("nobody", date(2025, 6, 1))]), seed=0)
    with pytest.raises(ValueError, match="params must be"):
        BTYDModel("paretonbd", {"r": 1.0, "alpha": 1.0, "a": 1.0, "b": 1.0})
