"""Buy-till-you-die (BTYD) baseline for the ``inactivity`` label: BG/NBD or Pareto/NBD on active days.

Why: two numbers per account (how often it was active, how long ago it was last active) in a
probabilistic model are the classic answer to "will this customer come back?". LightGBM on the
full feature set should beat it; this baseline measures by how much (issue 9).

Transactions are *active days*: one "purchase" per distinct UTC day with any event of the account
(pass only the usage events if support tickets or errors should not count, as the label does).
Time unit: days. The summary of a row at cutoff ``t`` (``pl.Date`` = 00:00 UTC) reads only events
with ``timestamp < t`` (point in time, the same rule as the features), so an event on the cutoff
day itself belongs to the horizon ``[t, t + h)``, never to the summary.

Libraries: BG/NBD is ``lifetimes`` 0.11.3 (archived in 2020 but pure numpy/scipy, small and
fast here; why not ``pymc-marketing`` or ``btyd``: docs/btyd_choice.md): its maximum-likelihood fit
and P(alive). Pareto/NBD is computed here with scipy (the brief's last resort, for this model
only): lifetimes' closed-form likelihood (Fader and Hardie note 009, eq. 18-20) overflows in
``hyp2f1`` for heavy users (hundreds of active days and a long expected lifetime: NaN likelihood,
NaN P(alive), on the demo data too), so its one integral is taken by quadrature
(``_pnbd_death``), with an analytic gradient for the fit. It matches lifetimes to 1e-12 wherever
lifetimes is finite (tested). The fitted state is four numbers per model, so moving to another
library touches this file only.

BTYD models are not monotone in frequency: at the same recency and T, a frequent user gone quiet
is more likely dead than a rare one, so P(inactive) often rises with frequency (it surely falls
only in the limit recency = T). It always rises with the silence T - recency.

Fitting (``fit_btyd``) is honest in time and bounded: the summaries of the fit rows, one row per
account (its latest fit cutoff: that summary holds everything its earlier cutoffs saw), at most
``max_fit_accounts`` accounts (seeded sample), condensed to distinct (frequency, recency, T)
patterns with counts as likelihood weights (Fader and Hardie's condensed form). ``model="auto"``
fits both on a seeded 80 % of those accounts, keeps the one with the higher mean log-likelihood
on the other 20 % (both models have four parameters and describe the same observation), then
refits it on all of them (warm start). With fewer than ``MIN_HOLDOUT_ACCOUNTS`` accounts the
comparison is in-sample (equal parameter counts: the same ranking as AIC).
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl
from scipy.optimize import minimize
from scipy.special import digamma, expit, gammaln, logsumexp

from core.logs import get_logger
from features.windows import day_of

MODELS = ("bgnbd", "paretonbd")
PARAM_NAMES = {"bgnbd": ("r", "alpha", "a", "b"), "paretonbd": ("r", "alpha", "s", "beta")}
LIBRARY = "lifetimes==0.11.3 (bgnbd); scipy (paretonbd)"
MAX_FIT_ACCOUNTS = 10_000
HOLDOUT_FRACTION = 0.2
MIN_HOLDOUT_ACCOUNTS = 500
SUMMARY = ("frequency", "recency", "T")

log = get_logger(__name__)


def _lifetimes() -> Any:
    """``lifetimes``, imported on first use (about 1 s: pandas, scipy.optimize, autograd).

    Its ``utils`` sets a pandas option deprecated in pandas 3 (a warning at import; pandas 4
    removes it, so lifetimes will need a patch or a replacement before that upgrade)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import lifetimes
    return lifetimes


def _require(frame: pl.DataFrame, columns: tuple[str, ...], name: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{name} lacks columns {missing}; got {frame.columns}")


def rfm_summary(events: pl.DataFrame, rows: pl.DataFrame) -> pl.DataFrame:
    """Per (account_id, cutoff) row of ``rows``, the BTYD summary of the events before the cutoff.

    Transactions are active days: distinct UTC days with any event of the account and
    ``timestamp < cutoff`` (cutoff = 00:00 UTC of the ``pl.Date``). With ``d_1`` the first and
    ``d_n`` the last of the ``n`` active days and ``c`` the cutoff day (all in whole days):

    * ``frequency`` = n - 1 (repeat active days), ``recency`` = d_n - d_1, ``T`` = c - d_1 (so
      ``T >= recency + 1``: the cutoff day itself is never observed);
    * ``n_days_observed`` = n, the active days observed before the cutoff;
    * ``has_history`` = n > 0. Accounts with no event before the cutoff get 0, 0, 0, 0, false.

    Returns ``account_id, cutoff, frequency, recency, T, n_days_observed, has_history`` (Int64
    counts) in the order of ``rows``.
    """
    _require(events, ("account_id", "timestamp"), "events")
    _require(rows, ("account_id", "cutoff"), "rows")
    accounts = rows.select("account_id").unique()
    active = (
        events.lazy()
        .select("account_id", day_of(pl.col("timestamp")).alias("_day"))
        .join(accounts.lazy(), on="account_id", how="semi")
        .unique()
        .sort("account_id", "_day")
        .with_columns(
            pl.int_range(1, pl.len() + 1).over("account_id").alias("_n"),
            pl.col("_day").min().over("account_id").alias("_first"),
        )
        .sort("_day")
        .collect()
    )
    left = (
        rows.select("account_id", "cutoff")
        .with_row_index("_row")
        .with_columns(pl.col("cutoff").cast(pl.Int32).alias("_c"))
        .sort("_c")
    )
    # Each row's last active day strictly before its cutoff day, with the running count there.
    out = left.join_asof(
        active,
        left_on="_c",
        right_on="_day",
        by="account_id",
        strategy="backward",
        allow_exact_matches=False,
        check_sortedness=False,
    ).sort("_row")
    return out.select(
        "account_id",
        "cutoff",
        (pl.col("_n") - 1).fill_null(0).cast(pl.Int64).alias("frequency"),
        (pl.col("_day") - pl.col("_first")).fill_null(0).cast(pl.Int64).alias("recency"),
        (pl.col("_c") - pl.col("_first")).fill_null(0).cast(pl.Int64).alias("T"),
        pl.col("_n").fill_null(0).cast(pl.Int64).alias("n_days_observed"),
        pl.col("_n").is_not_null().alias("has_history"),
    )


def _arrays(summary: pl.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x, t_x, age = (summary.get_column(c).cast(pl.Float64).to_numpy() for c in SUMMARY)
    return x, t_x, age


# --- Pareto/NBD in log space ------------------------------------------------------------------

_GL_X, _GL_W = np.polynomial.legendre.leggauss(8)
_GL_X, _GL_W = (_GL_X + 1.0) / 2.0, _GL_W / 2.0
_MAX_PANELS = 60
_CHUNK = 4096
_LOG_BOUND = 25.0  # fitted log parameters stay in [-25, 25]


def _log_integral(
    log_f: Callable[[np.ndarray, np.ndarray], np.ndarray],
    length: np.ndarray,
    rate: np.ndarray,
    moments: Callable[[np.ndarray, np.ndarray], list[np.ndarray]] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Per row i, log of the integral over u in [0, length_i] of exp(log_f(i, u)), and the means
    of ``moments(i, u)`` (a list of k functions) under that integrand normalised (shape (k, n)).

    For ``log_f`` convex and decreasing in u with slope about ``-rate`` at 0: Gauss-Legendre
    (8 nodes) on panels doubling in width from 1/(4 rate), so a steep start (heavy users decay
    within a day) and a long tail are both resolved; error < 1e-10 in the log (against mpmath
    and the closed forms). ``log_f(i, u)`` gets row indexes of shape (n, 1, 1) and points of
    shape (n, panels, 8). Rows with length 0 get -inf and zero moments.
    """
    n_mom = 0
    out, means = np.full(length.size, -np.inf), None
    for lo_row in range(0, length.size, _CHUNK):
        idx = np.arange(lo_row, min(lo_row + _CHUNK, length.size))
        idx = idx[length[idx] > 0]
        if idx.size == 0:
            continue
        ln, delta = length[idx], 0.25 / rate[idx]
        panels = int(np.clip(np.ceil(np.log2(max(1.0, np.max(ln / delta)))) + 2, 1, _MAX_PANELS))
        edges = np.minimum(delta[:, None] * 2.0 ** np.arange(panels), ln[:, None])
        start = np.concatenate([np.zeros((idx.size, 1)), edges[:, :-1]], axis=1)
        width = (edges - start)[..., None]
        u = start[..., None] + width * _GL_X
        rows = idx[:, None, None]
        with np.errstate(divide="ignore"):
            terms = (log_f(rows, u) + np.log(width * _GL_W)).reshape(idx.size, -1)
        lse = logsumexp(terms, axis=1)
        out[idx] = lse
        if moments is not None:
            g = moments(rows, u)
            if means is None:
                n_mom = len(g)
                means = np.zeros((n_mom, length.size))
            weights = np.exp(terms - lse[:, None])
            for j in range(n_mom):
                means[j, idx] = np.sum(
                    weights * np.broadcast_to(g[j], u.shape).reshape(idx.size, -1), axis=1
                )
    return out, (np.zeros((0, length.size)) if means is None else means)


def _pnbd_death(
    params: np.ndarray, x: np.ndarray, t_x: np.ndarray, age: np.ndarray, grad: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """log I, I = integral over tau in (t_x, T] of (alpha+tau)^-(r+x) (beta+tau)^-(s+1); and
    with ``grad`` the means of log(alpha+tau), 1/(alpha+tau), log(beta+tau), 1/(beta+tau) under
    the normalised integrand (the pieces of d log I / d params).

    s * I * Gamma(r+x) alpha^r beta^s / Gamma(r) is the likelihood of dying in (t_x, T]; (r+s+x)
    times I is the A_0 of Fader and Hardie note 009, eq. 19-20, which lifetimes evaluates in
    closed form with ``hyp2f1``: that overflows (NaN likelihood, NaN P(alive)) for hundreds of
    active days with a long expected lifetime, so the integral is computed by quadrature here
    (matches the closed form to 1e-12 wherever that is finite; see the tests).
    """
    r, alpha, s, beta = params

    def log_f(i: np.ndarray, u: np.ndarray) -> np.ndarray:
        return -(r + x[i]) * np.log(alpha + t_x[i] + u) - (s + 1.0) * np.log(beta + t_x[i] + u)

    def moments(i: np.ndarray, u: np.ndarray) -> list[np.ndarray]:
        a_t, b_t = alpha + t_x[i] + u, beta + t_x[i] + u
        return [np.log(a_t), 1.0 / a_t, np.log(b_t), 1.0 / b_t]

    rate = (r + x) / (alpha + t_x) + (s + 1.0) / (beta + t_x)
    return _log_integral(log_f, age - t_x, rate, moments if grad else None)


def _pnbd_loglik(
    params: np.ndarray, x: np.ndarray, t_x: np.ndarray, age: np.ndarray, grad: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Pareto/NBD log-likelihood of (x, t_x, T) per row (note 009 eq. 18; time in days), and
    with ``grad`` its derivatives with respect to (r, alpha, s, beta), shape (4, n)."""
    r, alpha, s, beta = params
    log_alive = -(r + x) * np.log(alpha + age) - s * np.log(beta + age)
    log_i, m = _pnbd_death(params, x, t_x, age, grad)
    log_dead = np.log(s) + log_i
    ll = (
        gammaln(r + x)
        - gammaln(r)
        + r * np.log(alpha)
        + s * np.log(beta)
        + np.logaddexp(log_alive, log_dead)
    )
    if not grad:
        return ll, np.zeros((0, x.size))
    p_dead = expit(log_dead - log_alive)
    p_alive = 1.0 - p_dead
    d = np.array(
        [
            digamma(r + x)
            - digamma(r)
            + np.log(alpha)
            - p_alive * np.log(alpha + age)
            - p_dead * m[0],
            r / alpha - p_alive * (r + x) / (alpha + age) - p_dead * (r + x) * m[1],
            np.log(beta) - p_alive * np.log(beta + age) + p_dead * (1.0 / s - m[2]),
            s / beta - p_alive * s / (beta + age) - p_dead * (s + 1.0) * m[3],
        ]
    )
    return ll, d


def _pnbd_p_no_purchase(
    params: np.ndarray, x: np.ndarray, t_x: np.ndarray, age: np.ndarray, h: float
) -> np.ndarray:
    """Pareto/NBD P(no purchase in (T, T+h] | x, t_x, T) = P(dead) + P(alive) * Q.

    P(dead) / P(alive) = s I (alpha+T)^(r+x) (beta+T)^s (note 009, eq. 36-37). Alive at T, the
    posterior is lambda ~ Gamma(r+x, alpha+T), mu ~ Gamma(s, beta+T), independent (note 009,
    section 5), so the remaining lifetime u has survival S(u) = ((beta+T)/(beta+T+u))^s and
    Q = E[exp(-lambda min(u, h))] = S(h) G(h) + integral_0^h s/(beta+T+u) S(u) G(u) du with
    G(v) = ((alpha+T)/(alpha+T+v))^(r+x). All terms positive (no cancellation). Equals eq. 16 of
    Fader and Hardie note 028 with n = 0 (lifetimes ``conditional_probability_of_n_purchases_up_
    to_time``; checked in the tests where that closed form is finite).
    """
    r, alpha, s, beta = params
    log_odds_dead = (
        np.log(s)
        + _pnbd_death(params, x, t_x, age)[0]
        + (r + x) * np.log(alpha + age)
        + s * np.log(beta + age)
    )

    def log_f(i: np.ndarray, u: np.ndarray) -> np.ndarray:
        a_t, b_t = alpha + age[i], beta + age[i]
        return np.log(s) - np.log(b_t + u) - s * np.log1p(u / b_t) - (r + x[i]) * np.log1p(u / a_t)

    rate = (s + 1.0) / (beta + age) + (r + x) / (alpha + age)
    log_tail = -s * np.log1p(h / (beta + age)) - (r + x) * np.log1p(h / (alpha + age))
    log_q = np.logaddexp(log_tail, _log_integral(log_f, np.full_like(age, float(h)), rate)[0])
    return expit(log_odds_dead) + expit(-log_odds_dead) * np.exp(log_q)


def _pnbd_fit(
    x: np.ndarray,
    t_x: np.ndarray,
    age: np.ndarray,
    weight: np.ndarray,
    init: np.ndarray | None = None,
) -> np.ndarray:
    """Maximum-likelihood (r, alpha, s, beta) on weighted patterns. Deterministic.

    L-BFGS-B with the analytic gradient on theta = log(r, alpha, s, s / beta): the mean dropout
    rate s / beta is well determined while s and beta often run off together along a ridge
    (nearly homogeneous dropout), which this parametrisation keeps from costing iterations.
    Starts at lifetimes' start (1, max T, 1, max T) or ``init``; Nelder-Mead if L-BFGS-B ends
    somewhere non-finite."""
    total = float(weight.sum())

    def params_of(theta: np.ndarray) -> np.ndarray:
        r, alpha, s, mu = np.exp(theta)
        return np.array([r, alpha, s, s / mu])

    def nll(theta: np.ndarray) -> tuple[float, np.ndarray]:
        p = params_of(theta)
        with np.errstate(all="ignore"):
            ll, d = _pnbd_loglik(p, x, t_x, age, grad=True)
        value = -float(np.dot(weight, ll)) / total
        g = -(d @ weight) / total * p  # d / d log(r, alpha, s, beta)
        g = np.array([g[0], g[1], g[2] + g[3], -g[3]])  # beta = s / mu
        if not (math.isfinite(value) and np.all(np.isfinite(g))):
            return math.inf, np.zeros(4)
        return value, g

    p0 = np.array([1.0, float(age.max()), 1.0, float(age.max())]) if init is None else init
    theta0 = np.clip(np.log([p0[0], p0[1], p0[2], p0[2] / p0[3]]), -_LOG_BOUND, _LOG_BOUND)
    res = minimize(
        nll,
        theta0,
        jac=True,
        method="L-BFGS-B",
        bounds=[(-_LOG_BOUND, _LOG_BOUND)] * 4,
        options={"maxiter": 500, "ftol": 1e-10, "gtol": 1e-6},
    )
    if not (np.all(np.isfinite(res.x)) and math.isfinite(res.fun)):
        res = minimize(
            lambda th: nll(th)[0],
            theta0,
            method="Nelder-Mead",
            options={"xatol": 1e-6, "fatol": 1e-9, "maxiter": 4000},
        )
    return params_of(res.x)


# --- BG/NBD via lifetimes ----------------------------------------------------------------------


def _bgnbd_fit(
    x: np.ndarray, t_x: np.ndarray, age: np.ndarray, weight: np.ndarray
) -> tuple[np.ndarray, float]:
    """lifetimes' BG/NBD fit (autograd gradient + BFGS from its fixed start: deterministic); a
    tiny penalty rescues the rare non-convergence. Returns (r, alpha, a, b) and the penalty."""
    lt = _lifetimes()
    for penalizer in (0.0, 1e-3, 1e-2):
        try:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                f = lt.BetaGeoFitter(penalizer_coef=penalizer).fit(x, t_x, age, weights=weight)
            return f.params_[list(PARAM_NAMES["bgnbd"])].to_numpy(float), penalizer
        except lt.utils.ConvergenceError:
            continue
    raise RuntimeError("BG/NBD fit did not converge, even with a penalty")


def _bgnbd_loglik(
    params: np.ndarray, x: np.ndarray, t_x: np.ndarray, age: np.ndarray, weight: np.ndarray
) -> float:
    """Weighted mean BG/NBD log-likelihood (lifetimes' likelihood, time in days)."""
    lt = _lifetimes()
    with np.errstate(all="ignore"):
        return -float(
            lt.BetaGeoFitter._negative_log_likelihood(np.log(params), x, t_x, age, weight, 0.0)
        )


def _bgnbd_p_no_purchase(
    params: np.ndarray, x: np.ndarray, t_x: np.ndarray, age: np.ndarray, h: float
) -> np.ndarray:
    """BG/NBD P(no purchase in (T, T+h]) = P(dead) + P(alive) ((alpha+T)/(alpha+T+h))^(r+x)."""
    import pandas as pd

    r, alpha = params[0], params[1]
    fitter = _lifetimes().BetaGeoFitter()
    fitter.params_ = pd.Series(params, index=list(PARAM_NAMES["bgnbd"]))
    with np.errstate(all="ignore"):
        alive = np.asarray(fitter.conditional_probability_alive(x, t_x, age), float)
    quiet = np.exp(-(r + x) * np.log1p(h / (alpha + age)))
    return 1.0 - alive * (1.0 - quiet)


# --- the model ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class BTYDModel:
    """A fitted BG/NBD (``r, alpha, a, b``) or Pareto/NBD (``r, alpha, s, beta``) model.

    Rates are per day (``alpha`` and ``beta`` in days). ``facts``: how it was fitted (JSON-able,
    informative only; predictions use ``model`` and ``params``)."""

    model: str
    params: dict[str, float]
    facts: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise ValueError(f"model must be one of {list(MODELS)}, got {self.model!r}")
        names = PARAM_NAMES[self.model]
        if sorted(self.params) != sorted(names):
            raise ValueError(
                f"{self.model} params must be {list(names)}, got {sorted(self.params)}"
            )
        bad = {k: v for k, v in self.params.items() if not (math.isfinite(v) and v > 0)}
        if bad:
            raise ValueError(f"{self.model} params must be finite and > 0, got {bad}")

    @property
    def _vector(self) -> np.ndarray:
        return np.array([float(self.params[n]) for n in PARAM_NAMES[self.model]])

    def p_inactive(self, summary: pl.DataFrame, horizon_days: int) -> np.ndarray:
        """P(no transaction (active day) in the next ``horizon_days``) for each summary row.

        That is P(X(T, T + h) = 0 | x, t_x, T), the horizon ``[t, t + h)`` after the cutoff,
        = P(dead at T) + P(alive at T) * P(no active day in h | alive):

        * BG/NBD: P(alive) from lifetimes ``conditional_probability_alive`` (Hardie, "Computing
          P(alive) using the BG/NBD model", note 021; 1 when x = 0). BG/NBD customers die only
          just after a purchase, so alive at T means alive through a quiet horizon and the second
          factor is ((alpha + T) / (alpha + T + h))^(r + x), the Gamma(r + x, alpha + T)
          posterior mixed over exp(-lambda h). This is eq. 34 of Fader and Hardie, "A
          step-by-step derivation of the BG/NBD model" (2019, note 039) with y = 0 (keeping its
          x > 0 indicator).
        * Pareto/NBD: death can fall inside the horizon; see ``_pnbd_p_no_purchase``.

        Rows without history (``has_history`` false, or T = 0) get 1.0: no active day ever
        observed, nothing to extrapolate, and the account is inactive now.
        """
        if isinstance(horizon_days, bool) or int(horizon_days) != horizon_days or horizon_days < 1:
            raise ValueError(f"horizon_days must be a whole number >= 1, got {horizon_days!r}")
        _require(summary, SUMMARY, "summary")
        x, t_x, age = _arrays(summary)
        has = age > 0
        if "has_history" in summary.columns:
            has &= summary.get_column("has_history").to_numpy()
        out = np.ones(summary.height)
        if has.any():
            fn = _bgnbd_p_no_purchase if self.model == "bgnbd" else _pnbd_p_no_purchase
            p = fn(self._vector, x[has], t_x[has], age[has], float(horizon_days))
            if not np.all(np.isfinite(p)):
                raise FloatingPointError(
                    f"{self.model}: P(no active day) not finite for {int((~np.isfinite(p)).sum())}"
                    f" of {p.size} rows (params {self.params})"
                )
            out[has] = np.clip(p, 0.0, 1.0)
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-able: model, parameters, units and how it was fitted (for saving next to a model)."""
        return {
            "model": self.model,
            "params": {k: float(v) for k, v in self.params.items()},
            "time_unit": "day",
            "transaction": "active UTC day",
            "library": LIBRARY,
            "facts": dict(self.facts),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BTYDModel:
        """Inverse of ``to_dict`` (``facts`` optional)."""
        return cls(
            model=str(d["model"]),
            params={k: float(v) for k, v in d["params"].items()},
            facts=dict(d.get("facts", {})),
        )


@dataclass(frozen=True)
class _Patterns:
    """Distinct (x, t_x, T) with their counts: the condensed likelihood's data."""

    x: np.ndarray
    t_x: np.ndarray
    age: np.ndarray
    weight: np.ndarray

    @classmethod
    def of(cls, summary: pl.DataFrame) -> _Patterns:
        g = summary.group_by(*SUMMARY).agg(pl.len().alias("_w")).sort(*SUMMARY)
        x, t_x, age = _arrays(g)
        return cls(x, t_x, age, g.get_column("_w").cast(pl.Float64).to_numpy())


def _fit_sample(summary: pl.DataFrame, seed: int, max_accounts: int) -> pl.DataFrame:
    """One summary per account (its latest cutoff), at most ``max_accounts`` (seeded draw),
    sorted by account (so the result does not depend on the order of the rows)."""
    latest = (
        summary.filter(pl.col("has_history"))
        .sort("account_id", "cutoff")
        .group_by("account_id", maintain_order=True)
        .last()
    )
    if latest.height > max_accounts:
        rng = np.random.default_rng(seed)
        keep = np.sort(rng.choice(latest.height, size=max_accounts, replace=False))
        latest = latest.select(pl.all().gather(keep))
    return latest


def _fit_params(name: str, p: _Patterns, init: dict[str, float] | None = None) -> dict[str, float]:
    """Maximum-likelihood parameters (per day) of ``name`` on the weighted patterns.

    ``init`` (a previous fit's parameters) warm-starts Pareto/NBD; BG/NBD always starts from
    lifetimes' fixed point. (``models.btyd_scorer`` calls this; prefer ``fit_summary``.)"""
    names = PARAM_NAMES[name]
    if name == "bgnbd":
        values, penalizer = _bgnbd_fit(p.x, p.t_x, p.age, p.weight)
        if penalizer:
            log.info("btyd: BG/NBD converged only with penalizer_coef=%g", penalizer)
    else:
        start = None if init is None else np.array([init[n] for n in names])
        values = _pnbd_fit(p.x, p.t_x, p.age, p.weight, start)
    return dict(zip(names, (float(v) for v in values), strict=True))


def _mean_loglik(name: str, params: dict[str, float], p: _Patterns) -> float:
    """Mean log-likelihood per account of (x, t_x, T), time in days (comparable across models)."""
    values = np.array([params[n] for n in PARAM_NAMES[name]])
    if name == "bgnbd":
        return _bgnbd_loglik(values, p.x, p.t_x, p.age, p.weight)
    with np.errstate(all="ignore"):
        ll = _pnbd_loglik(values, p.x, p.t_x, p.age)[0]
    return float(np.dot(p.weight, ll) / p.weight.sum())


def fit_summary(
    summary: pl.DataFrame, seed: int, model: str = "auto", max_fit_accounts: int = MAX_FIT_ACCOUNTS
) -> BTYDModel:
    """Fit on BTYD summary rows (``rfm_summary``'s columns; ``account_id``, ``cutoff``,
    ``frequency``, ``recency``, ``T``, ``has_history``): one row per account (its latest
    cutoff), at most ``max_fit_accounts`` accounts, condensed to weighted patterns.

    ``model``: ``bgnbd`` | ``paretonbd`` | ``auto`` (both, the better by held-out log-likelihood,
    see the module docstring). Deterministic for the same rows and ``seed`` (the seed draws the
    account sample and the held-out accounts; the optimisers start from fixed points).
    """
    if model not in (*MODELS, "auto"):
        raise ValueError(f"model must be one of {[*MODELS, 'auto']}, got {model!r}")
    if max_fit_accounts < 1:
        raise ValueError(f"max_fit_accounts must be >= 1, got {max_fit_accounts}")
    t0 = time.perf_counter()
    sample = _fit_sample(summary, seed, max_fit_accounts)
    if sample.height == 0:
        raise ValueError(
            f"btyd: none of the {summary.height} fit rows has an active day before its cutoff"
        )
    everyone = _Patterns.of(sample)
    facts: dict[str, Any] = {
        "library": LIBRARY,
        "fit_rows": summary.height,
        "fit_rows_with_history": int(summary.get_column("has_history").sum()),
        "fit_accounts": sample.height,
        "fit_patterns": int(everyone.x.size),
    }
    if model != "auto":
        chosen, params = model, _fit_params(model, everyone)
        facts["selection"] = "requested"
    else:
        holdout = sample.height >= MIN_HOLDOUT_ACCOUNTS
        if holdout:
            held = np.random.default_rng(seed).random(sample.height) < HOLDOUT_FRACTION
            train, test = _Patterns.of(sample.filter(~held)), _Patterns.of(sample.filter(held))
        else:
            train = test = everyone
        # A model whose fit does not converge (BG/NBD on very sparse logs) drops out of the
        # comparison instead of failing the baseline; only when both fail does the fit raise.
        fitted, failed = {}, {}
        for m in MODELS:
            try:
                fitted[m] = _fit_params(m, train)
            except (RuntimeError, FloatingPointError, ValueError) as err:
                failed[m] = str(err).splitlines()[0]
        if not fitted:
            raise RuntimeError(f"btyd: no model could be fit ({failed})")
        loglik = {m: _mean_loglik(m, fitted[m], test) for m in fitted}
        chosen = max(fitted, key=lambda m: loglik[m] if math.isfinite(loglik[m]) else -math.inf)
        try:
            params = (
                _fit_params(chosen, everyone, init=fitted[chosen]) if holdout else fitted[chosen]
            )
        except (RuntimeError, FloatingPointError, ValueError):
            params = fitted[chosen]  # the held-out fit's parameters, already checked
        if failed:
            facts["failed"] = failed
        facts["selection"] = (
            f"held-out log-likelihood ({HOLDOUT_FRACTION:.0%} of accounts)"
            if holdout
            else "in-sample log-likelihood (too few accounts to hold out)"
        )
        facts["mean_loglik"] = {m: round(v, 6) for m, v in loglik.items()}
    facts["fit_seconds"] = round(time.perf_counter() - t0, 3)
    return BTYDModel(model=chosen, params=params, facts=facts)


def fit_btyd(
    events: pl.DataFrame,
    fit_rows: pl.DataFrame,
    seed: int,
    model: str = "auto",
    max_fit_accounts: int = MAX_FIT_ACCOUNTS,
) -> BTYDModel:
    """Fit on the summaries of ``fit_rows`` (account_id, cutoff): training rows only (each
    summary reads events before its own cutoff). ``model`` and determinism: ``fit_summary``;
    ``facts["fit_seconds"]`` includes the summaries."""
    t0 = time.perf_counter()
    fitted = fit_summary(rfm_summary(events, fit_rows), seed, model, max_fit_accounts)
    fitted.facts["fit_seconds"] = round(time.perf_counter() - t0, 3)
    return fitted


def btyd_scores(
    events: pl.DataFrame,
    fit_rows: pl.DataFrame,
    score_rows: pl.DataFrame,
    horizon_days: int,
    seed: int,
    model: str = "auto",
    max_fit_accounts: int = MAX_FIT_ACCOUNTS,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Risk of inactivity, P(no active day in ``[t, t + horizon_days)``), for ``score_rows``
    (in their order), from a model fitted on ``fit_rows``; and the facts: which model, its
    parameters, how it was chosen, fit and score seconds, rows without history."""
    fitted = fit_btyd(events, fit_rows, seed, model, max_fit_accounts)
    t0 = time.perf_counter()
    summary = rfm_summary(events, score_rows)
    risk = fitted.p_inactive(summary, horizon_days)
    facts = {
        **fitted.facts,
        "model": fitted.model,
        "params": dict(fitted.params),
        "horizon_days": int(horizon_days),
        "score_rows": score_rows.height,
        "score_rows_without_history": int((~summary.get_column("has_history")).sum()),
        "score_seconds": round(time.perf_counter() - t0, 3),
    }
    return risk, facts
