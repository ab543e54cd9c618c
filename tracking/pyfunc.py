"""The MLflow pyfunc face of the routed model.

Why a pyfunc: any MLflow client (a notebook, a batch job, ``mlflow models serve``) can then do
``mlflow.pyfunc.load_model("models:/adoption-decay@champion").predict(frame)`` and get calibrated
decay probabilities without knowing about segments, boosters or calibrators. The model itself is
stored as the plain ``RoutedModel.save`` folder (booster text files + JSON, no pickle of the
boosters) and logged as the pyfunc artifact ``routed_model``; ``load_context`` reads it back.
"""

from __future__ import annotations

from typing import Any

import mlflow.pyfunc
import numpy as np
import pandas as pd
import polars as pl

from models.router import RoutedModel

#: Key of the RoutedModel folder in the pyfunc's ``artifacts`` mapping.
ARTIFACT_KEY = "routed_model"


def to_polars(frame: Any) -> pl.DataFrame:
    """A polars frame from a polars or pandas feature frame (the two inputs a client may send)."""
    if isinstance(frame, pl.DataFrame):
        return frame
    if isinstance(frame, pl.LazyFrame):
        return frame.collect()
    if isinstance(frame, pd.DataFrame):
        return pl.from_pandas(frame)
    raise TypeError(
        f"feature frame must be a polars or pandas DataFrame, got {type(frame).__name__}"
    )


class DecayModel(mlflow.pyfunc.PythonModel):  # type: ignore[name-defined]
    """Pyfunc over ``models.router.RoutedModel``: ``predict`` returns P(decay) per row.

    The constructor stores nothing but an optional in-memory model (used to build the signature
    before logging); the logged model always comes back through ``load_context`` from the
    artifact folder, so what a client loads is exactly what was saved.
    """

    def __init__(self, model: RoutedModel | None = None) -> None:
        self.model = model

    def load_context(self, context: Any) -> None:
        """Load the RoutedModel folder logged as the ``routed_model`` artifact."""
        self.model = RoutedModel.load(context.artifacts[ARTIFACT_KEY])

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> np.ndarray:
        """Calibrated decay probability (0..1, float64) for each row of a feature frame.

        The frame needs the model's feature columns and its segment column (unknown or missing
        segments are served by the global model); other columns are ignored.
        """
        if self.model is None:
            raise RuntimeError("DecayModel has no RoutedModel: load it through MLflow first")
        return self.model.predict_proba(to_polars(model_input))
