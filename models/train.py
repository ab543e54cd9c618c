"""Training: per-segment LightGBM with a global fallback, calibrated, measured against baselines.

``train_models`` is the whole ``decay-train`` computation as a pure function of the dataset
(``docs/ARCHITECTURE.md``, "dataset.parquet") and the config; MLflow, files and the registry are
the pipeline's business (``pipelines/train.py``).

Why it is built this way:
- One time split (``models.split``): boosters early-stop on validation, calibrators and the
  segment-vs-global choice are fit on validation, and every reported number is on test rows no
  model or choice has seen.
- ``model.strategy``: ``global`` = one booster; ``per_segment`` = a booster per value of
  ``model.segment_key`` with enough data (``min_segment_rows`` training rows,
  ``min_segment_positives`` training positives, both classes in validation), the global booster
  serving the rest; ``auto`` = both, and per segment the one with the better validation
  ``model.promotion_metric`` serves it (a tie keeps the global model: simpler wins). No segment key
  (None, or not a dataset column) = global only.
- Class imbalance: ``scale_pos_weight = negatives / positives`` of the booster's training rows
  unless the params set ``scale_pos_weight`` or ``is_unbalance``; the calibrator undoes the
  distortion of the probabilities. With ``model.calibration=none`` no reweighting is applied so
  the plain logistic of the raw score stays an honest probability.
- Determinism: ``seed``, ``bagging_seed``, ``feature_fraction_seed``, ``data_random_seed`` from
  ``cfg.seed`` and ``deterministic=True`` with column-wise histograms: same data + same config +
  same thread count = identical predictions.
- The feature matrix is built only by ``models.router.build_matrix`` (what ``to_matrix`` uses),
  with categorical levels from the training rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import lightgbm as lgb
import numpy as np
import polars as pl
from omegaconf import DictConfig, OmegaConf

from core.config import Calibration, LabelName
from core.errors import ConfigValueError, DataValidationError
from core.logs import get_logger
from core.progress import progress
from models import baselines, metrics
from models.calibration import fit_calibrator
from models.router import GLOBAL, Calibrator, RoutedModel, SegmentModel, build_matrix
from models.split import TimeSplit, time_split
from models.split import labelled as split_labelled
from scoring.drift import TRAINING_STATS_KEY, training_distributions

log = get_logger(__name__)

#: Columns of the dataset that are never model inputs.
ID_COLUMNS = ("account_id", "cutoff", "label")
NUMERIC = (
    pl.Float64,
    pl.Float32,
    pl.Int8,
    pl.Int16,
    pl.Int32,
    pl.Int64,
    pl.UInt8,
    pl.UInt16,
    pl.UInt32,
    pl.UInt64,
    pl.Boolean,
)
#: SHAP importance is computed on at most this many test rows (seeded sample).
SHAP_MAX_ROWS = 3000


@dataclass
class TrainResult:
    """Everything ``decay-train`` logs, writes and registers (see ``pipelines/train.py``)."""

    model: RoutedModel
    metrics: dict[str, Any]
    split: dict[str, Any]
    figures: dict[str, Any]
    test_scores: pl.DataFrame
    choices: dict[str, str]
    warnings: list[str] = field(default_factory=list)
    validation_scores: pl.DataFrame | None = None
    #: The evaluation fit of what is served (before the refit): what the registry compares with
    #: the champion on the test rows, since the refit has seen them.
    gate_model: RoutedModel | None = None


# -- inputs ---------------------------------------------------------------------------------
def feature_columns(dataset: pl.DataFrame, cfg: DictConfig) -> tuple[list[str], list[str]]:
    """(features, categorical): every column except ids/label, in dataset order.

    String/categorical columns (segments, ``maturity_stage``) are categorical features; numeric
    columns are numeric features; any other dtype is an error naming the column.
    """
    features: list[str] = []
    categorical: list[str] = []
    for name, dtype in dataset.schema.items():
        if name in ID_COLUMNS:
            continue
        if dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Enum):
            categorical.append(name)
        elif dtype in NUMERIC:
            pass
        else:
            raise DataValidationError(
                f"dataset column {name!r} has dtype {dtype}: model inputs must be numeric "
                f"(features) or strings (segments/maturity_stage)",
                hint="drop the column or cast it in the feature builder",
            )
        features.append(name)
    if not [f for f in features if f not in categorical]:
        raise DataValidationError(
            f"dataset has no numeric feature column (columns: {dataset.columns[:10]})"
        )
    return features, categorical


def categorical_levels(frame: pl.DataFrame, categorical: list[str]) -> dict[str, list[str]]:
    """Sorted non-null levels of each categorical column in ``frame`` (the training rows)."""
    return {
        c: sorted(frame.get_column(c).cast(pl.String).drop_nulls().unique().to_list())
        for c in categorical
    }


def segment_key(dataset: pl.DataFrame, cfg: DictConfig) -> str | None:
    """The routing column: ``model.segment_key`` if set and present, else None (global only)."""
    key: str | None = cfg.model.segment_key
    if key is None:
        return None
    if key not in dataset.columns:
        log.warning("model.segment_key=%r is not a dataset column: training one global model", key)
        return None
    return key


def _plain(params: Any) -> dict[str, Any]:
    if params is None or isinstance(params, str):
        return {}
    if isinstance(params, DictConfig):
        return dict(OmegaConf.to_container(params, resolve=True))  # type: ignore[arg-type]
    return dict(params)


def lgb_params(cfg: DictConfig, params: dict[str, Any] | None = None) -> dict[str, Any]:
    """LightGBM params: defaults <- ``model.params`` <- ``params``; seeds always from ``cfg.seed``.

    ``model.params`` may be the string ``best`` (resolved by the pipeline into ``params``).
    """
    metric, _ = promotion(cfg)
    out: dict[str, Any] = {"objective": "binary", "metric": metric, "verbosity": -1}
    out.update(_plain(cfg.model.params))
    out.update(_plain(params))
    seed = cfg.seed
    out.update(
        seed=seed,
        bagging_seed=seed,
        feature_fraction_seed=seed,
        data_random_seed=seed,
        deterministic=True,
    )
    if not out.get("force_row_wise"):
        out["force_col_wise"] = True
    return out


def promotion(cfg: DictConfig) -> tuple[str, bool]:
    """(LightGBM metric, higher is better) of ``model.promotion_metric``."""
    return metrics.booster_metric(cfg.model.promotion_metric)


def _last_cutoff(rows: pl.DataFrame) -> date:
    last = rows.get_column("cutoff").max()
    assert isinstance(last, date), f"cutoff must be a Date column, got {last!r}"
    return last


def _labels(frame: pl.DataFrame) -> np.ndarray:
    return frame.get_column("label").cast(pl.Float64).to_numpy()


# -- one booster ----------------------------------------------------------------------------
def train_and_validation(train: pl.DataFrame, valid: pl.DataFrame) -> pl.DataFrame:
    """The rows a model may learn from once its settings are chosen: training plus validation
    (each (account, cutoff) once; the account hold-out makes them disjoint anyway)."""
    return pl.concat([train, valid], how="vertical_relaxed").unique(
        ["account_id", "cutoff"], keep="first", maintain_order=True
    )


def _booster_params(
    rows: pl.DataFrame, params: dict, cfg: DictConfig, what: str
) -> tuple[dict[str, Any], np.ndarray]:
    """(LightGBM params with the imbalance weight, labels) of ``rows``; both classes needed.

    ``scale_pos_weight = negatives / positives`` unless the params set it or ``is_unbalance``,
    and not with ``model.calibration=none`` (the module docstring says why)."""
    y = _labels(rows)
    pos = float(y.sum())
    if pos == 0 or pos == y.size:
        raise DataValidationError(
            f"{what} rows have only label {int(y[0])}: the booster needs both classes"
        )
    full = lgb_params(cfg, params)
    if (
        "scale_pos_weight" not in full
        and not full.get("is_unbalance")
        and cfg.model.calibration != Calibration.none
    ):
        full["scale_pos_weight"] = (y.size - pos) / pos
    return full, y


def _fit_on_cluster(
    client: Any,
    full: dict[str, Any],
    rows: pl.DataFrame,
    y: np.ndarray,
    features: list[str],
    categorical: list[str],
    levels: dict[str, list[str]],
    cfg: DictConfig,
    rounds: int,
    valid: pl.DataFrame | None = None,
) -> lgb.Booster:
    """``fit_booster`` / ``refit_booster`` on the cluster: the same matrix, params and rounds,
    trained by ``models.distributed.fit_on_cluster`` over ``engine.partitions`` chunks."""
    from core.cluster import n_partitions, workers
    from models.distributed import fit_on_cluster

    return fit_on_cluster(
        client,
        full,
        build_matrix(rows, features, levels),
        y,
        feature_name=list(features),
        categorical_feature=[f for f in features if f in categorical],
        num_boost_round=rounds,
        n_parts=n_partitions(cfg, workers(client)),
        valid=None if valid is None else (build_matrix(valid, features, levels), _labels(valid)),
        early_stopping_rounds=int(cfg.model.early_stopping_rounds),
    )


def _training_set(
    rows: pl.DataFrame,
    features: list[str],
    categorical: list[str],
    params: dict,
    cfg: DictConfig,
    levels: dict[str, list[str]],
    what: str,
) -> tuple[dict[str, Any], lgb.Dataset]:
    """(LightGBM params with the imbalance weight (``_booster_params``), Dataset) of ``rows``."""
    full, y = _booster_params(rows, params, cfg, what)
    cats = [f for f in features if f in categorical]
    data = lgb.Dataset(
        build_matrix(rows, features, levels),
        label=y,
        feature_name=list(features),
        categorical_feature=cats,
        free_raw_data=True,
    )
    return full, data


def fit_booster(
    train: pl.DataFrame,
    valid: pl.DataFrame,
    features: list[str],
    categorical: list[str],
    params: dict,
    cfg: DictConfig,
    callbacks: list | None = None,
    levels: dict[str, list[str]] | None = None,
    client: Any | None = None,
) -> lgb.Booster:
    """Train one LightGBM booster on ``train``, early-stopping on ``valid`` (named "validation").

    ``params`` are merged over the config's (``lgb_params``); ``levels`` are the categorical
    levels to encode with (default: those of ``train``). Extra ``callbacks`` (e.g. Optuna pruning)
    run after LightGBM's evaluation. Rows need a 0/1 ``label``; ``train`` needs both classes.
    ``client`` (``engine=dask``): train on that cluster (``models.distributed``; early stopping
    is applied after training there, callbacks are not supported).
    """
    if train.height == 0 or valid.height == 0:
        raise DataValidationError(
            f"cannot train on {train.height} training and {valid.height} validation rows"
        )
    levels = levels if levels is not None else categorical_levels(train, categorical)
    if client is not None:
        if callbacks:
            raise ConfigValueError(
                "fit_booster: callbacks cannot run in a cluster fit (client given)",
                hint="tuning trials run as single-worker fits: call fit_booster without client",
            )
        full, y = _booster_params(train, params, cfg, "training")
        return _fit_on_cluster(
            client,
            full,
            train,
            y,
            features,
            categorical,
            levels,
            cfg,
            rounds=cfg.model.num_boost_round,
            valid=valid,
        )
    full, dtrain = _training_set(train, features, categorical, params, cfg, levels, "training")
    dvalid = lgb.Dataset(
        build_matrix(valid, features, levels), label=_labels(valid), reference=dtrain
    )
    cbs: list = []
    rounds = cfg.model.early_stopping_rounds
    if rounds > 0:
        cbs.append(lgb.early_stopping(rounds, first_metric_only=True, verbose=False))
    cbs.extend(callbacks or [])
    return lgb.train(
        full,
        dtrain,
        num_boost_round=cfg.model.num_boost_round,
        valid_sets=[dvalid],
        valid_names=["validation"],
        callbacks=cbs,
    )


def refit_booster(
    rows: pl.DataFrame,
    features: list[str],
    categorical: list[str],
    params: dict,
    cfg: DictConfig,
    rounds: int,
    levels: dict[str, list[str]],
    client: Any | None = None,
) -> lgb.Booster:
    """One booster on ``rows`` with a fixed number of rounds (no early stopping): the served
    model's refit on every labelled cutoff, once evaluation has chosen the rounds. ``client``:
    train on that cluster (``models.distributed``)."""
    if client is not None:
        full, y = _booster_params(rows, params, cfg, "refit")
        return _fit_on_cluster(
            client, full, rows, y, features, categorical, levels, cfg, max(1, int(rounds))
        )
    full, data = _training_set(rows, features, categorical, params, cfg, levels, "refit")
    return lgb.train(full, data, num_boost_round=max(1, int(rounds)))


def refit_routed(
    model: RoutedModel,
    rows: pl.DataFrame,
    cfg: DictConfig,
    params: dict[str, Any] | None = None,
    client: Any | None = None,
) -> RoutedModel:
    """The served model refit on ``rows`` (every labelled cutoff): same routes, features,
    categorical levels and calibrators; each booster retrained on its segment's rows (the
    global one on all rows) for the rounds early stopping chose in evaluation.

    Why keep the calibrators: they were fit on out-of-time validation scores of boosters with
    the same parameters and rounds; the refit boosters' raw scores live on the same scale, and
    no held-out rows remain to fit new ones. Served baselines are refit the same way (always
    here; only boosters train on the cluster of ``client``)."""
    from models.scorer import JsonScorer

    feats, cats, levels = model.feature_names, model.categorical_features, model.categorical_levels
    out: dict[str, SegmentModel] = {}
    for key, m in model.models.items():
        part = (
            rows
            if key == GLOBAL or model.segment_key is None
            else rows.filter(pl.col(model.segment_key).cast(pl.String) == key)
        )
        if isinstance(m.booster, JsonScorer):  # a served baseline refits itself
            booster: Any = m.booster.refit(
                build_matrix(part, feats, levels), _labels(part), seed=cfg.seed
            )
        else:  # refit boosters carry no best_iteration: their rounds are their trees
            rounds = int(m.booster.best_iteration or m.booster.current_iteration())
            booster = refit_booster(part, feats, cats, params or {}, cfg, rounds, levels, client)
        out[key] = SegmentModel(booster, m.calibrator, m.trained_on)
    numeric = [f for f in feats if f not in cats]
    meta = dict(model.metadata)
    meta.update(
        refit=True,
        training_rows=rows.height,
        trained_through=_last_cutoff(rows).isoformat(),
        base_rate=float(_labels(rows).mean()),
        **{TRAINING_STATS_KEY: training_distributions(rows, numeric, bins=cfg.score.psi_bins)},
    )
    return RoutedModel(feats, levels, model.segment_key, out, model.routes, meta)


def _score(y: np.ndarray, raw: np.ndarray, calibrator: Calibrator, metric: str) -> float:
    """Validation ``model.promotion_metric``: ranking metrics on raw scores (calibration can tie
    them), probability metrics (log loss) on calibrated probabilities."""
    m = metrics.METRICS[metric]
    return m(y, raw) if m.ranking else m(y, np.clip(calibrator(raw), 0.0, 1.0))


def _wins(new: float, old: float, higher_is_better: bool) -> bool:
    if math.isnan(new):
        return False
    if math.isnan(old):
        return True
    return new > old if higher_is_better else new < old


# -- the routed model -----------------------------------------------------------------------
def fit_routed(
    split: TimeSplit,
    cfg: DictConfig,
    params: dict[str, Any] | None = None,
    client: Any | None = None,
) -> tuple[RoutedModel, dict[str, Any]]:
    """Fit the global and per-segment boosters + calibrators on a split; route per strategy.

    Returns the model and ``details`` (segment -> what serves it, why, and validation scores).
    ``client`` (``engine=dask``): every booster trains on that cluster; calibrators, scores
    and choices are computed here from the boosters it returns, as without it.
    """
    strategy = cfg.model.strategy
    kind = cfg.model.calibration
    metric_name = cfg.model.promotion_metric
    _, higher = promotion(cfg)
    train, valid = split.train, split.validation
    features, categorical = feature_columns(train, cfg)
    levels = categorical_levels(train, categorical)
    key = segment_key(train, cfg)

    floor = cfg.model.min_rounds
    with_validation = cfg.model.fit_on_validation

    def fit(tr: pl.DataFrame, va: pl.DataFrame) -> tuple[lgb.Booster, Calibrator, np.ndarray]:
        """Early-stop on ``va`` to choose the rounds R (at least ``model.min_rounds``), calibrate
        on ``va`` scores of a train-only booster with R rounds, then (``fit_on_validation``)
        refit on train + validation with R rounds: the model tested is fit the way the served
        one is, on the most recent labels it may see."""
        booster = fit_booster(
            tr, va, features, categorical, params or {}, cfg, levels=levels, client=client
        )
        best = int(booster.best_iteration or booster.current_iteration())
        rounds = (
            min(max(best, floor), cfg.model.num_boost_round)
            if cfg.model.early_stopping_rounds > 0
            else best
        )
        if rounds != best:
            booster = refit_booster(
                tr, features, categorical, params or {}, cfg, rounds, levels, client
            )
        raw = np.asarray(booster.predict(build_matrix(va, features, levels), raw_score=True))
        calibrator = fit_calibrator(raw, _labels(va), kind)
        if with_validation:
            booster = refit_booster(
                train_and_validation(tr, va),
                features,
                categorical,
                params or {},
                cfg,
                rounds,
                levels,
                client,
            )
        return booster, calibrator, raw

    g_booster, g_cal, g_raw = fit(train, valid)
    models = {GLOBAL: SegmentModel(g_booster, g_cal, GLOBAL)}
    routes: dict[str, str] = {}
    details: dict[str, dict[str, Any]] = {}
    if key is not None:
        min_rows, min_pos = cfg.model.min_segment_rows, cfg.model.min_segment_positives
        seg_valid = valid.get_column(key).cast(pl.String)
        segments = sorted(
            set(train.get_column(key).cast(pl.String).drop_nulls().to_list())
            | set(seg_valid.drop_nulls().to_list())
        )
        for seg in progress(segments, f"segment models ({key})", logger=log):
            tr = train.filter(pl.col(key).cast(pl.String) == seg)
            in_va = (seg_valid == seg).fill_null(False).to_numpy()
            va = valid.filter(pl.Series(in_va))
            y_tr, y_va = _labels(tr), _labels(va)
            d: dict[str, Any] = {
                "train_rows": tr.height,
                "train_positives": int(y_tr.sum()),
                "validation_rows": va.height,
                "validation_positives": int(y_va.sum()),
                "metric": metric_name,
            }
            both_va = 0 < y_va.sum() < y_va.size
            if both_va:
                d["validation_global"] = _score(y_va, g_raw[in_va], g_cal, metric_name)
            reason = None
            if strategy == "global":
                reason = "model.strategy=global"
            elif tr.height < min_rows:
                reason = f"{tr.height} training rows < model.min_segment_rows={min_rows}"
            elif y_tr.sum() < min_pos:
                reason = (
                    f"{int(y_tr.sum())} training positives < model.min_segment_positives={min_pos}"
                )
            elif y_tr.sum() == y_tr.size:
                reason = "training rows are all positive"
            elif not both_va:
                reason = "validation rows lack one of the classes"
            serves = GLOBAL
            if reason is None:
                booster, cal, raw = fit(tr, va)
                d["validation_segment"] = _score(y_va, raw, cal, metric_name)
                if strategy == "per_segment":
                    serves, reason = seg, "model.strategy=per_segment"
                elif _wins(d["validation_segment"], d["validation_global"], higher):
                    serves = seg
                    reason = (
                        f"segment model wins on validation {metric_name}: "
                        f"{d['validation_segment']:.4f} vs global {d['validation_global']:.4f}"
                    )
                else:
                    reason = (
                        f"global model wins (or ties) on validation {metric_name}: "
                        f"{d['validation_global']:.4f} vs segment {d['validation_segment']:.4f}"
                    )
                if serves == seg:
                    models[seg] = SegmentModel(booster, cal, seg)
            routes[seg] = serves
            d.update(serves="segment" if serves == seg else "global", reason=reason)
            details[seg] = d
            log.info("segment %s=%s -> %s (%s)", key, seg, d["serves"], reason)

    numeric = [f for f in features if f not in categorical]
    y_train = _labels(train)
    metadata = {
        "features": features,
        "categorical": categorical,
        TRAINING_STATS_KEY: training_distributions(train, numeric, bins=cfg.score.psi_bins),
        "base_rate": float(y_train.mean()),
        "training_rows": train.height,
        "split": split.describe(),
        "choices": details,
        "strategy": strategy,
        "segment_key": key,
        "calibration": kind,
        "label": cfg.label.name,
        "horizon_days": cfg.label.horizon_days,
        "seed": cfg.seed,
        "params": {
            k: (v if isinstance(v, (int, float, str, bool)) or v is None else str(v))
            for k, v in lgb_params(cfg, params).items()
        },
        "best_iteration": {
            k: int(m.booster.best_iteration or m.booster.current_iteration())
            for k, m in models.items()
        },
    }
    model = RoutedModel(features, levels, key, models, routes, metadata)
    return model, details


def score_frame(model: RoutedModel, frame: pl.DataFrame) -> pl.DataFrame:
    """``account_id, cutoff, <segment_key>, label, score`` (calibrated) for the rows of ``frame``."""
    cols = ["account_id", "cutoff"]
    if model.segment_key is not None and model.segment_key in frame.columns:
        cols.append(model.segment_key)
    return frame.select(*cols, "label").with_columns(
        pl.Series("score", model.predict_proba(frame), dtype=pl.Float64)
    )


# -- baselines ------------------------------------------------------------------------------
def run_baselines(
    split: TimeSplit, cfg: DictConfig, features: list[str], categorical: list[str]
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Logistic and heuristic baselines fit on the split's training rows, measured on its test
    rows. Returns (metrics per baseline, test scores per baseline)."""
    out: dict[str, Any] = {}
    scores: dict[str, np.ndarray] = {}
    test = split.test
    logit = baselines.fit_logistic(split.train, features, categorical, seed=cfg.seed)
    scores["logistic"] = baselines.predict_logistic(logit, test)
    out["logistic"] = metrics.evaluate(
        test.select("cutoff", "label").with_columns(pl.Series("score", scores["logistic"])), cfg
    )
    feature = baselines.heuristic_feature([f for f in features if f not in categorical], cfg)
    if feature is None:
        out["heuristic"] = {"skipped": "no heuristic feature in the dataset"}
    else:
        higher_is = cfg.model.heuristic_higher_is
        scores["heuristic"] = baselines.heuristic_scores(
            test, feature, higher_is, fill=baselines.training_median(split.train, feature)
        )
        out["heuristic"] = metrics.evaluate(
            test.select("cutoff", "label").with_columns(pl.Series("score", scores["heuristic"])),
            cfg,
            probabilistic=False,
        )
        out["heuristic"]["feature"] = feature
        out["heuristic"]["higher_is"] = higher_is
    return out, scores


def fit_servable(
    split: TimeSplit, cfg: DictConfig, model: RoutedModel
) -> dict[str, tuple[RoutedModel, np.ndarray]]:
    """The built-in servable baselines (``models.baselines.SERVABLE``) fit on the split's
    training and validation rows (no early stopping to protect) and scored on its test rows.

    Each comes back as a one-model ``RoutedModel`` over the same feature matrix as LightGBM, so
    the gate can serve it, and scoring explains it, exactly like the booster."""
    from models.linear import LinearScorer

    feats, levels = model.feature_names, model.categorical_levels
    fit_rows = train_and_validation(split.train, split.validation)
    y = _labels(fit_rows)
    X = build_matrix(fit_rows, feats, levels)
    out: dict[str, tuple[RoutedModel, np.ndarray]] = {}
    for kind in progress(baselines.SERVABLE, "servable baselines", logger=log):
        cols = baselines.servable_inputs(kind, feats, cfg.features.recent_days)
        if kind == "btyd" and cfg.label.name != LabelName.inactivity:
            continue  # a BTYD model answers "will it come back?": the inactivity label's question
        if not cols:
            log.info(
                "baseline %s: not available on this dataset (needs %s)",
                kind,
                "lifetime history features" if kind == "btyd" else "recency/count features",
            )
            continue
        idx = [feats.index(c) for c in cols]
        try:
            if kind == "btyd":
                from models.btyd_scorer import BTYDScorer

                scorer: Any = BTYDScorer.fit(
                    X, y, idx, horizon_days=cfg.label.horizon_days, seed=cfg.seed
                )
            else:
                scorer = LinearScorer.fit(kind, X, y, idx, seed=cfg.seed)
        except (ValueError, ImportError, RuntimeError, FloatingPointError) as err:
            log.warning("baseline %s skipped: %s", kind, str(err).splitlines()[0])
            continue
        keep = (
            "features",
            "categorical",
            TRAINING_STATS_KEY,
            "base_rate",
            "training_rows",
            "split",
            "label",
            "horizon_days",
            "seed",
        )
        meta = {k: model.metadata[k] for k in keep if k in model.metadata}
        meta.update(
            served=kind,
            inputs=cols,
            choices={},
            strategy="baseline",
            segment_key=None,
            calibration="none",
        )
        routed = RoutedModel(
            feats, levels, None, {GLOBAL: SegmentModel(scorer, Calibrator("none"))}, {}, meta
        )
        out[kind] = (routed, routed.predict_proba(split.test) if split.test.height else np.empty(0))
    return out


def gate_against_baselines(
    model_metrics: dict[str, Any], baseline_metrics: dict[str, Any], metric: str
) -> tuple[str, str]:
    """(what to serve, why): LightGBM only when it strictly beats every servable baseline on the
    test rows by ``metric`` (in its direction, ``models.metrics.METRICS``); otherwise the best
    baseline."""
    m = metrics.METRICS[metric]
    ours = float(model_metrics.get(metric, float("nan")))
    cands = {
        k: float(v.get(metric, float("nan")))
        for k, v in baseline_metrics.items()
        if k in baselines.SERVABLE and isinstance(v, dict) and metric in v
    }
    cands = {k: v for k, v in cands.items() if math.isfinite(v)}
    if not cands:
        return "lightgbm", "no servable baseline could be measured"
    best = m.best(cands)
    if math.isfinite(ours) and m.better(ours, cands[best]):
        return "lightgbm", (
            f"LightGBM test {metric} {ours:.4f} beats the best baseline ({best}) {cands[best]:.4f}"
        )
    return best, (
        f"LightGBM test {metric} {ours:.4f} does not beat the {best} baseline "
        f"{cands[best]:.4f}: serving {best}"
    )


def evaluation_summary(result_metrics: dict[str, Any]) -> dict[str, Any]:
    """What the pages say about the model's quality: test ROC-AUC / PR-AUC of LightGBM and of
    each baseline on the same rows, the number of test rows and positives (support), and what
    is served. Empty metrics when the model is unevaluated."""
    out: dict[str, Any] = {
        "evaluated": bool(result_metrics.get("evaluated", True)),
        "served": result_metrics.get("served", "lightgbm"),
    }
    if out["evaluated"]:
        out["lightgbm"] = {k: result_metrics.get(k) for k in ("roc_auc", "pr_auc")}
        out["n"], out["positives"] = result_metrics.get("n"), result_metrics.get("positives")
        out["baselines"] = {
            k: {m: v.get(m) for m in ("roc_auc", "pr_auc")}
            for k, v in (result_metrics.get("baselines") or {}).items()
            if isinstance(v, dict) and "roc_auc" in v
        }
    return out


def baseline_warnings(model_metrics: dict[str, Any], baseline_metrics: dict[str, Any]) -> list[str]:
    """One loud line per (baseline, metric) where LightGBM does not strictly beat the baseline
    on test PR-AUC or ROC-AUC."""
    out = []
    for name, b in baseline_metrics.items():
        for m in ("pr_auc", "roc_auc"):
            if m not in b:
                continue
            ours, theirs = model_metrics.get(m, float("nan")), b[m]
            if not (ours > theirs):  # also true when either is NaN
                out.append(
                    f"LightGBM does not beat the {name} baseline on test {m}: "
                    f"{ours:.4f} vs {theirs:.4f}"
                )
    return out


# -- the whole training ---------------------------------------------------------------------
def train_models(
    dataset: pl.DataFrame,
    cfg: DictConfig,
    truth: pl.DataFrame | None = None,
    params: dict | None = None,
    client: Any | None = None,
) -> TrainResult:
    """Split, fit the routed model, calibrate, score test, baselines and the gate, backtest,
    plots, and the served model's refit on every labelled cutoff.

    ``truth`` (simulated data only) adds oracle metrics on the same test rows; ``params``
    overrides ``model.params`` (e.g. the tuning study's best trial); ``client``
    (``engine=dask``) trains every booster (evaluation, backtest, refit) on that cluster.

    What is served (``TrainResult.model``): LightGBM when it strictly beats every servable
    baseline on the test rows by ``model.gate_metric``, else the best baseline (logged, and
    ``metrics["served"]``); with ``model.refit`` it is refit on every labelled cutoff. Metrics
    are always those of the evaluation fit, on rows it never saw. ``gate_model`` is that
    evaluation fit, for the registry's champion comparison on the same test rows.
    """
    from models import plots
    from models.backtest import run_backtest, stability

    split = time_split(dataset, cfg)
    d = split.describe()
    log.info(
        "split: train %s, validation %s (%s), test %s (embargo %d days), rows %s",
        d["train"],
        d["validation"],
        split.validation_kind,
        d["test"] or "none",
        split.embargo_days,
        d["rows"],
    )
    model, details = fit_routed(split, cfg, params, client)
    key = model.segment_key
    valid_scores = score_frame(model, split.validation)
    warnings: list[str] = []
    figures: dict[str, Any] = {}
    gate_metric = cfg.model.gate_metric
    if split.evaluated:
        test_scores = score_frame(model, split.test)
        result_metrics: dict[str, Any] = metrics.evaluate(test_scores, cfg, segment_key=key)
        if truth is not None:
            result_metrics.update(metrics.oracle_metrics(test_scores, truth))
        features, categorical = model.feature_names, model.categorical_features
        base_metrics, base_scores = run_baselines(split, cfg, features, categorical)
        servable = fit_servable(split, cfg, model)
        for kind, (_, proba) in servable.items():
            base_scores[kind] = proba
            base_metrics[kind] = metrics.evaluate(
                split.test.select("cutoff", "label").with_columns(pl.Series("score", proba)), cfg
            )
            base_metrics[kind]["inputs"] = servable[kind][0].metadata["inputs"]
        result_metrics["baselines"] = base_metrics
        served, why = ("lightgbm", "model.baseline_gate=false")
        if cfg.model.baseline_gate:
            served, why = gate_against_baselines(result_metrics, base_metrics, gate_metric)
        (log.info if served == "lightgbm" else log.warning)("baseline gate: %s", why)
        warnings += baseline_warnings(result_metrics, base_metrics)
        for w in warnings:
            log.warning("%s", w)

        def refit(s: TimeSplit) -> RoutedModel:
            return fit_routed(s, cfg, params, client)[0]

        backtest = run_backtest(dataset, cfg, refit, main=(split, result_metrics))
        result_metrics["backtest"] = backtest
        result_metrics["backtest_stability"] = stability(backtest)
        figures = plots.training_figures(
            test_scores,
            base_scores,
            model,
            split.test,
            backtest,
            seed=cfg.seed,
            max_rows=SHAP_MAX_ROWS,
        )
    else:
        test_scores = score_frame(model, split.test)
        served, why = "lightgbm", "unevaluated: no test period to compare baselines on"
        servable = {}
        msg = (
            f"UNEVALUATED MODEL: {split.rule}. Its quality is unknown; collect more history "
            f"(or use a shorter label.horizon_days) before acting on its scores"
        )
        log.warning("%s", msg)
        warnings.append(msg)
        result_metrics = {"evaluated": False}
    result_metrics["evaluated"] = split.evaluated
    result_metrics["split_rule"] = split.rule
    result_metrics["validation"] = metrics.evaluate(valid_scores, cfg)
    result_metrics["choices"] = details
    result_metrics["served"] = served
    result_metrics["served_reason"] = why
    result_metrics["gate_metric"] = gate_metric
    gate_model = model if served == "lightgbm" else servable[served][0]
    serve = gate_model
    if cfg.model.refit:
        everything = split_labelled(dataset)
        serve = refit_routed(gate_model, everything, cfg, params, client)
        log.info(
            "served model (%s) refit on every labelled cutoff: %d rows, %d cutoffs",
            served,
            everything.height,
            everything.get_column("cutoff").n_unique(),
        )
    serve.metadata.update(
        served=served,
        served_reason=why,
        evaluated=split.evaluated,
        split_rule=split.rule,
        evaluation=evaluation_summary(result_metrics),
    )
    choices = {seg: d["serves"] for seg, d in details.items()}
    return TrainResult(
        model=serve,
        metrics=result_metrics,
        split=split.describe(),
        figures=figures,
        test_scores=test_scores,
        choices=choices,
        warnings=warnings,
        validation_scores=valid_scores,
        gate_model=gate_model,
    )
