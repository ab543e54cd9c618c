"""The routed model: one object that serves every segment.

Training (``models.train``) fits a LightGBM booster per segment (plus a global one) and a
calibrator per booster; this class routes each row to its segment's booster, or to the global
fallback when the segment was too small, unknown, or lost to the global model on validation.
Scoring, the MLflow pyfunc and the explanations all go through it, so the feature matrix is built
in exactly one place (``to_matrix``) with the category levels saved at training time.

Persistence is plain files (booster text models + JSON), no pickle: a model folder can be read
by a human, diffed, and loaded by any later version of this code.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import polars as pl

GLOBAL = "__global__"


def build_matrix(
    df: pl.DataFrame, feature_names: list[str], categorical_levels: dict[str, list[str]]
) -> np.ndarray:
    """Feature matrix (float64) of ``df``: numeric columns as floats, categorical ones as the index
    of their level in ``categorical_levels`` (unseen or null -> NaN, LightGBM's "missing").

    The one place a matrix is built: ``RoutedModel.to_matrix`` and training both call it, so the
    boosters see at scoring time exactly the encoding they were fit on.
    """
    missing = [f for f in feature_names if f not in df.columns]
    if missing:
        raise ValueError(
            f"feature frame lacks model columns {missing[:5]} "
            f"(model expects {len(feature_names)} features)"
        )
    exprs = []
    for f in feature_names:
        if f in categorical_levels:
            levels = categorical_levels[f]
            mapping = pl.DataFrame(
                {"__lvl": levels, "__code": np.arange(len(levels), dtype=np.float64)},
                schema={"__lvl": pl.String, "__code": pl.Float64},
            )
            exprs.append(
                pl.col(f)
                .cast(pl.String)
                .replace_strict(
                    mapping["__lvl"], mapping["__code"], default=None, return_dtype=pl.Float64
                )
                .alias(f)
            )
        else:
            exprs.append(pl.col(f).cast(pl.Float64).alias(f))
    return df.select(exprs).to_numpy().astype(np.float64, copy=False)


@dataclass
class Calibrator:
    """Maps a booster's raw score (log-odds) to a calibrated probability.

    kind ``isotonic``: piecewise-linear interpolation through (x, y) knots (sklearn's
    ``IsotonicRegression.X_thresholds_``/``y_thresholds_``), clipped at the ends.
    kind ``sigmoid``: Platt scaling ``1 / (1 + exp(-(a * raw + b)))``.
    kind ``none``: the plain logistic of the raw score.
    """

    kind: str = "none"
    x: list[float] = field(default_factory=list)
    y: list[float] = field(default_factory=list)
    a: float = 1.0
    b: float = 0.0

    def __call__(self, raw: np.ndarray) -> np.ndarray:
        raw = np.asarray(raw, dtype=np.float64)
        if self.kind == "isotonic":
            return np.interp(raw, np.asarray(self.x), np.asarray(self.y))
        if self.kind == "sigmoid":
            return 1.0 / (1.0 + np.exp(-(self.a * raw + self.b)))
        if self.kind == "none":
            return 1.0 / (1.0 + np.exp(-raw))
        raise ValueError(f"Calibrator.kind must be isotonic|sigmoid|none, got {self.kind!r}")

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "x": self.x, "y": self.y, "a": self.a, "b": self.b}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Calibrator:
        return cls(**d)


@dataclass
class SegmentModel:
    """A booster and its calibrator. ``trained_on`` is the segment it was fit on (or GLOBAL).

    ``booster`` is a LightGBM booster, or a served baseline with the same ``predict`` interface
    (``models.linear.LinearScorer``)."""

    booster: Any
    calibrator: Calibrator
    trained_on: str = GLOBAL


class RoutedModel:
    """Per-segment LightGBM models behind one ``predict_proba``.

    Parameters
    ----------
    feature_names: model input columns, in matrix order.
    categorical_levels: for each categorical feature, its training levels; code = index in the
        list, unseen or null levels become NaN (LightGBM's "missing").
    segment_key: dataset column whose value picks the model; None = global only.
    models: model key (a segment value or GLOBAL) -> SegmentModel. GLOBAL must be present.
    routes: segment value -> model key serving it (the segment's own, or GLOBAL).
    metadata: free-form JSON-able facts (training stats for drift, version info, split...).
    """

    def __init__(
        self,
        feature_names: list[str],
        categorical_levels: dict[str, list[str]],
        segment_key: str | None,
        models: dict[str, SegmentModel],
        routes: dict[str, str],
        metadata: dict[str, Any] | None = None,
    ) -> None:
        if GLOBAL not in models:
            raise ValueError("RoutedModel needs a global fallback model under key GLOBAL")
        self.feature_names = list(feature_names)
        self.categorical_levels = {k: list(v) for k, v in categorical_levels.items()}
        self.segment_key = segment_key
        self.models = models
        self.routes = dict(routes)
        self.metadata = dict(metadata or {})

    # -- inputs -----------------------------------------------------------------------------
    @property
    def kind(self) -> str:
        """``lightgbm``, or the baseline served instead (the gate in ``models.train``)."""
        return str(self.metadata.get("served", "lightgbm"))

    @property
    def categorical_features(self) -> list[str]:
        return [f for f in self.feature_names if f in self.categorical_levels]

    def to_matrix(self, df: pl.DataFrame) -> np.ndarray:
        """Feature matrix (float64, rows of ``df``) exactly as at training time."""
        return build_matrix(df, self.feature_names, self.categorical_levels)

    def route(self, df: pl.DataFrame) -> np.ndarray:
        """Model key serving each row (unknown or null segments go to GLOBAL)."""
        if self.segment_key is None or self.segment_key not in df.columns:
            return np.full(df.height, GLOBAL, dtype=object)
        keys = (
            df.get_column(self.segment_key)
            .cast(pl.String)
            .replace_strict(
                list(self.routes),
                list(self.routes.values()),
                default=GLOBAL,
                return_dtype=pl.String,
            )
            .fill_null(GLOBAL)
        )
        return keys.to_numpy().astype(object)

    # -- outputs ----------------------------------------------------------------------------
    def _by_model(self, df: pl.DataFrame):
        keys = self.route(df)
        X = self.to_matrix(df)
        for key in np.unique(keys):
            idx = np.flatnonzero(keys == key)
            yield key, idx, X[idx]

    def predict_raw(self, df: pl.DataFrame) -> np.ndarray:
        """Raw booster score (log-odds) of the serving model for each row."""
        out = np.empty(df.height, dtype=np.float64)
        for key, idx, X in self._by_model(df):
            out[idx] = self.models[key].booster.predict(X, raw_score=True)
        return out

    def predict_proba(self, df: pl.DataFrame) -> np.ndarray:
        """Calibrated decay probability for each row."""
        out = np.empty(df.height, dtype=np.float64)
        for key, idx, X in self._by_model(df):
            m = self.models[key]
            out[idx] = np.clip(m.calibrator(m.booster.predict(X, raw_score=True)), 0.0, 1.0)
        return out

    def contributions(self, df: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Exact TreeSHAP (LightGBM ``pred_contrib``) in raw-score units, and the base value.

        Returns ``(contrib[n, n_features], base[n])`` with ``contrib.sum(1) + base == predict_raw``.
        """
        n, f = df.height, len(self.feature_names)
        contrib = np.empty((n, f), dtype=np.float64)
        base = np.empty(n, dtype=np.float64)
        for key, idx, X in self._by_model(df):
            c = self.models[key].booster.predict(X, pred_contrib=True)
            contrib[idx] = c[:, :f]
            base[idx] = c[:, f]
        return contrib, base

    # -- persistence ------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the model folder: ``router.json`` + one ``<key>.txt`` booster per model."""
        root = Path(path)
        root.mkdir(parents=True, exist_ok=True)
        files = {}
        for i, (key, m) in enumerate(sorted(self.models.items())):
            kind = (
                "lightgbm"
                if isinstance(m.booster, lgb.Booster)
                else str(m.booster.to_dict().get("format", "linear")).split("_")[0]
            )
            fname = f"booster_{i}.txt" if kind == "lightgbm" else f"{kind}_{i}.json"
            m.booster.save_model(str(root / fname))
            files[key] = {
                "file": fname,
                "kind": kind,
                "calibrator": m.calibrator.to_dict(),
                "trained_on": m.trained_on,
            }
        spec = {
            "format": 1,
            "feature_names": self.feature_names,
            "categorical_levels": self.categorical_levels,
            "segment_key": self.segment_key,
            "routes": self.routes,
            "models": files,
            "metadata": self.metadata,
        }
        (root / "router.json").write_text(json.dumps(spec, indent=2, default=str))
        return root

    @classmethod
    def load(cls, path: str | Path) -> RoutedModel:
        root = Path(path)
        spec = json.loads((root / "router.json").read_text())
        from models.btyd_scorer import BTYDScorer
        from models.linear import LinearScorer

        def read(m: dict[str, Any]) -> Any:
            kind = m.get("kind", "lightgbm")
            if kind == "linear":
                return LinearScorer.load_model(str(root / m["file"]))
            if kind == "btyd":
                return BTYDScorer.load_model(str(root / m["file"]))
            return lgb.Booster(model_file=str(root / m["file"]))

        models = {
            key: SegmentModel(
                booster=read(m),
                calibrator=Calibrator.from_dict(m["calibrator"]),
                trained_on=m["trained_on"],
            )
            for key, m in spec["models"].items()
        }
        return cls(
            spec["feature_names"],
            spec["categorical_levels"],
            spec["segment_key"],
            models,
            spec["routes"],
            spec["metadata"],
        )
