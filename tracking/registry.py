"""Model registry: log the routed model as a pyfunc, register it, and gate its promotion.

Why a gate: scoring always loads ``models:/<model.name>@champion``, so a retrained model must not
replace a better one by accident. A new version always gets alias ``challenger``; it also gets
``champion`` only when there is no champion yet, or when it beats the champion on the *same* test
rows (the new run's test period, both models scoring the same feature rows) by
``model.promotion_metric``. The decision and both scores are logged on the run and on the model
version. Aliases, not stages (stages are deprecated in MLflow 3).
"""

from __future__ import annotations

import pickle
import tempfile
from dataclasses import asdict, dataclass
from datetime import date
from importlib import metadata
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import polars as pl
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature
from mlflow.models.model import ModelInfo
from mlflow.protos.databricks_pb2 import (
    INVALID_PARAMETER_VALUE,
    RESOURCE_DOES_NOT_EXIST,
    ErrorCode,
)
from omegaconf import DictConfig

from core.errors import ConfigValueError, NoModelError
from core.logs import get_logger
from models.metrics import METRICS
from models.router import RoutedModel
from tracking import runs as tracking
from tracking.pyfunc import ARTIFACT_KEY, DecayModel

log = get_logger(__name__)

CHAMPION = "champion"
CHALLENGER = "challenger"
#: Packages the pyfunc needs at load time (pinned to the versions that trained it).
_REQUIREMENTS = ("lightgbm", "polars", "numpy", "pandas", "pyarrow", "mlflow")


# -- metrics ---------------------------------------------------------------------------------
def promotion_score(label: np.ndarray, proba: np.ndarray, metric: str) -> float:
    """``metric`` (``models.metrics.METRICS``) of probabilities ``proba`` against 0/1 ``label``
    (NaN when undefined).

    Undefined means fewer than one positive and one negative: the gate compares only on rows
    where every metric, ranking ones included, means something.
    """
    y = np.asarray(label, dtype=np.float64)
    p = np.clip(np.asarray(proba, dtype=np.float64), 0.0, 1.0)
    if y.size == 0 or np.unique(y).size < 2:
        return float("nan")
    return METRICS[metric](y, p)


def beats(new: float, old: float, metric: str) -> bool:
    """Strictly better by ``metric`` (a tie keeps the champion: no churn without evidence)."""
    return METRICS[metric].better(new, old)


# -- logging the model -----------------------------------------------------------------------
def input_columns(model: RoutedModel, frame: pl.DataFrame) -> list[str]:
    """Columns a client must send: the model features plus the segment column used for routing."""
    cols = list(model.feature_names)
    if model.segment_key and model.segment_key not in cols and model.segment_key in frame.columns:
        cols.append(model.segment_key)
    return cols


def signature_and_example(
    model: RoutedModel, frame: pl.DataFrame, n_example: int = 5, n_signature: int = 2000
):
    """MLflow signature and a small pandas input example, both from real rows.

    The signature is inferred from up to ``n_signature`` rows (not just the example) so a column
    that happens to be null in the first rows still gets its real type and is marked optional.
    """
    rows = frame.select(input_columns(model, frame)).head(n_signature)
    signature = infer_signature(rows.to_pandas(), model.predict_proba(rows))
    return signature, rows.head(n_example).to_pandas()


def _pip_requirements() -> list[str]:
    reqs = []
    for pkg in _REQUIREMENTS:
        try:
            reqs.append(f"{pkg}=={metadata.version(pkg)}")
        except metadata.PackageNotFoundError:
            reqs.append(pkg)
    return reqs


def log_model(model: RoutedModel, frame: pl.DataFrame, name: str = "model") -> ModelInfo:
    """Log ``model`` as a pyfunc in the active run (artifact ``routed_model`` = RoutedModel folder).

    ``frame`` supplies the input example and signature: any rows with the model's columns (the
    test rows are a good choice). Requirements are pinned explicitly, which also skips MLflow's
    slow requirement inference.
    """
    signature, example = signature_and_example(model, frame)
    with tempfile.TemporaryDirectory(prefix="routed_model_") as tmp:
        folder = model.save(Path(tmp) / ARTIFACT_KEY)
        return mlflow.pyfunc.log_model(
            name=name,
            python_model=DecayModel(),
            artifacts={ARTIFACT_KEY: str(folder)},
            signature=signature,
            input_example=example,
            pip_requirements=_pip_requirements(),
        )


def register(model_uri: str, model_name: str, run_id: str | None = None) -> Any:
    """Register ``model_uri`` under ``model_name`` and give the new version alias ``challenger``."""
    client = MlflowClient()
    version = mlflow.register_model(
        model_uri, model_name, tags={"run_id": run_id} if run_id else None
    )
    client.set_registered_model_alias(model_name, CHALLENGER, version.version)
    log.info("registered %s version %s (alias %s)", model_name, version.version, CHALLENGER)
    return version


# -- loading ---------------------------------------------------------------------------------
def _is_missing(err: MlflowException) -> bool:
    """The model/version/alias does not exist. The SQL store says RESOURCE_DOES_NOT_EXIST; over
    REST a missing alias comes back as INVALID_PARAMETER_VALUE "... alias X not found"."""
    if err.error_code == ErrorCode.Name(RESOURCE_DOES_NOT_EXIST):
        return True
    return (
        err.error_code == ErrorCode.Name(INVALID_PARAMETER_VALUE)
        and "not found" in str(err.message).lower()
    )


def set_registry(cfg: DictConfig) -> None:
    """Point MLflow's tracking and registry at ``cfg.mlflow.tracking_uri`` (no experiment needed)."""
    uri = tracking.resolve_uri(cfg.mlflow.tracking_uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)


def model_uri(cfg: DictConfig) -> str:
    """``cfg.model.uri``, or the champion of ``cfg.model.name`` when it is null."""
    return cfg.model.uri or f"models:/{cfg.model.name}@{CHAMPION}"


def version_info(name: str, version: str) -> dict[str, Any]:
    """The facts of a registered version a scorer should record next to its scores."""
    mv = MlflowClient().get_model_version(name, version)
    return {
        "name": mv.name,
        "version": str(mv.version),
        "run_id": mv.run_id,
        "aliases": list(mv.aliases),
        "source": mv.source,
        "tags": dict(mv.tags),
        "created_at_ms": mv.creation_timestamp,
    }


def _resolve_registry_uri(uri: str) -> tuple[str, str] | None:
    """(name, version) for ``models:/name@alias`` or ``models:/name/version``; None otherwise."""
    if not uri.startswith("models:/"):
        return None
    body = uri[len("models:/") :]
    client = MlflowClient()
    if "@" in body:
        name, alias = body.split("@", 1)
        return name, str(client.get_model_version_by_alias(name, alias).version)
    if "/" in body:
        name, version = body.split("/", 1)
        return name, version
    return None


def load_routed_model(uri: str | None, cfg: DictConfig) -> tuple[RoutedModel, dict[str, Any]]:
    """The RoutedModel behind a logged pyfunc (default: the champion) and its version info.

    ``uri``: ``models:/name@alias``, ``models:/name/version``, ``runs:/...`` or a local model
    folder; None means ``model_uri(cfg)``. Raises ``NoModelError`` (exit code 4) when it does not
    exist, with the hint to train first.
    """
    set_registry(cfg)
    uri = uri or model_uri(cfg)
    db = tracking.sqlite_file(mlflow.get_registry_uri())
    if uri.startswith("models:/") and db is not None and not db.exists():
        raise NoModelError(
            f"no model registry at {db} (so no {uri})",
            hint="run decay-train first, or set mlflow.tracking_uri to the store it used",
        )
    try:
        resolved = _resolve_registry_uri(uri)
        info = version_info(*resolved) if resolved else {}
        if resolved:  # load the exact version the alias pointed at, not a later move of it
            info["uri"] = uri
            uri = f"models:/{resolved[0]}/{resolved[1]}"
        pyfunc_model = mlflow.pyfunc.load_model(uri)
    except MlflowException as err:
        if _is_missing(err):
            raise NoModelError(
                f"no model at {uri}: {err.message}",
                hint="run decay-train first (it registers and promotes a "
                "champion), or set model.uri to an existing model",
            ) from err
        raise
    except OSError as err:
        raise NoModelError(f"no model at {uri}: {err}", hint="run decay-train first") from err
    except (ImportError, AttributeError, EOFError, pickle.UnpicklingError) as err:
        # Saved by another version of the product (a module it pickled has moved) or damaged:
        # it cannot serve, and the next decay-train's gate promotes its model over it.
        raise NoModelError(
            f"the model at {uri} cannot be loaded by this version of adoption-decay "
            f"({type(err).__name__}: {err})",
            hint="run decay-train: a champion that cannot be loaded is replaced by the new model",
        ) from err
    info.setdefault("uri", uri)
    wrapper = pyfunc_model.unwrap_python_model()
    if not isinstance(wrapper, DecayModel) or wrapper.model is None:
        raise NoModelError(
            f"{uri} is not an adoption-decay model (python model is {type(wrapper).__name__})",
            hint="point model.uri at a decay-train model",
        )
    return wrapper.model, info


# -- promotion gate --------------------------------------------------------------------------
@dataclass
class PromotionDecision:
    """What the gate decided and why. Scores are ``metric`` on the same test rows (NaN if none)."""

    model_name: str
    version: str
    metric: str
    decision: str  # promoted | kept_champion
    reason: str
    challenger_score: float
    champion_score: float
    champion_version: str | None
    n_rows: int

    @property
    def promoted(self) -> bool:
        return self.decision == "promoted"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _champion_version(model_name: str) -> str | None:
    try:
        return str(MlflowClient().get_model_version_by_alias(model_name, CHAMPION).version)
    except MlflowException as err:
        if _is_missing(err):
            return None
        raise


def decide(
    model_name: str,
    version: str,
    model: RoutedModel,
    test_frame: pl.DataFrame,
    metric: str,
    cfg: DictConfig,
    label: str = "label",
) -> PromotionDecision:
    """Compare the new version with the current champion on ``test_frame`` (features + label).

    Pure decision (no alias is moved). Rows with a null label are ignored. A champion that cannot
    score these rows (e.g. the feature set changed) is kept: promote by hand after review. A
    champion that cannot be loaded at all (saved by an older version whose modules moved, or
    damaged) cannot serve either: the new model is promoted, with that reason.
    """
    if label not in test_frame.columns:
        raise ConfigValueError(f"test frame has no {label!r} column for the promotion gate")
    rows = test_frame.filter(pl.col(label).is_not_null())
    y = rows.get_column(label).to_numpy()
    new_score = promotion_score(y, model.predict_proba(rows), metric)
    champ_version = _champion_version(model_name)
    facts: dict[str, Any] = dict(
        model_name=model_name,
        version=str(version),
        metric=metric,
        challenger_score=new_score,
        champion_version=champ_version,
        n_rows=rows.height,
    )
    if champ_version is None:
        return PromotionDecision(
            decision="promoted", reason="no champion yet", champion_score=float("nan"), **facts
        )
    try:
        champion, _ = load_routed_model(f"models:/{model_name}/{champ_version}", cfg)
    except NoModelError as err:
        log.warning("promotion gate: %s", err)
        reason = f"champion v{champ_version} cannot be loaded ({err}): the new model is promoted"
        return PromotionDecision(
            decision="promoted", reason=reason, champion_score=float("nan"), **facts
        )
    seen = champion.metadata.get("trained_through")
    if seen is not None and "cutoff" in rows.columns:
        # A champion refit on every labelled cutoff has seen these rows: compare only on the
        # rows it has not, else its score would be flattered.
        unseen = rows.filter(pl.col("cutoff") > date.fromisoformat(str(seen)))
        y_unseen = unseen.get_column(label).to_numpy()
        if unseen.height == 0 or np.unique(y_unseen).size < 2:
            reason = (
                f"champion v{champ_version} was trained on every test row (labels through "
                f"{seen}): no unseen rows to compare on, the newer model is promoted"
            )
            return PromotionDecision(
                decision="promoted", reason=reason, champion_score=float("nan"), **facts
            )
        rows, y = unseen, y_unseen
        facts["challenger_score"] = promotion_score(y, model.predict_proba(rows), metric)
        facts["n_rows"] = rows.height
        new_score = facts["challenger_score"]
    try:
        old_score = promotion_score(y, champion.predict_proba(rows), metric)
    except ValueError as err:
        return PromotionDecision(
            decision="kept_champion",
            champion_score=float("nan"),
            reason=f"champion v{champ_version} cannot score these rows: {err}",
            **facts,
        )
    if beats(new_score, old_score, metric):
        reason = f"{metric} {new_score:.4f} beats champion v{champ_version} {old_score:.4f}"
        return PromotionDecision(
            decision="promoted", reason=reason, champion_score=old_score, **facts
        )
    reason = f"{metric} {new_score:.4f} does not beat champion v{champ_version} {old_score:.4f}"
    return PromotionDecision(
        decision="kept_champion", reason=reason, champion_score=old_score, **facts
    )


def record(decision: PromotionDecision, run_id: str | None) -> None:
    """Apply the decision (alias ``champion``) and log it on the model version and the run."""
    client = MlflowClient()
    if decision.promoted:
        client.set_registered_model_alias(decision.model_name, CHAMPION, decision.version)
    tags = {
        "promotion.decision": decision.decision,
        "promotion.reason": decision.reason,
        "promotion.metric": decision.metric,
        "promotion.challenger_score": f"{decision.challenger_score:.6f}",
        "promotion.champion_score": f"{decision.champion_score:.6f}",
        "promotion.champion_version": decision.champion_version or "none",
        "promotion.rows": str(decision.n_rows),
    }
    for k, v in tags.items():
        client.set_model_version_tag(decision.model_name, decision.version, k, v)
    if run_id:
        for k, v in {**tags, "model.version": decision.version}.items():
            client.set_tag(run_id, k, v)
        for k in ("challenger_score", "champion_score"):
            value = getattr(decision, k)
            if np.isfinite(value):
                client.log_metric(run_id, f"promotion.{k}", value)
    log.info(
        "promotion gate: %s v%s %s (%s)",
        decision.model_name,
        decision.version,
        decision.decision,
        decision.reason,
    )


def register_and_promote(
    model: RoutedModel,
    test_frame: pl.DataFrame,
    cfg: DictConfig,
    run_id: str | None = None,
    gate_model: RoutedModel | None = None,
    example_frame: pl.DataFrame | None = None,
) -> tuple[ModelInfo, PromotionDecision]:
    """Log ``model`` in the active run, register it as challenger and run the promotion gate.

    ``gate_model``: what scores the test rows for the gate (the evaluation fit when ``model``
    was refit on every labelled cutoff, test rows included: its own score there would flatter
    it). ``example_frame``: rows for the signature and input example when ``test_frame`` is
    empty (an unevaluated model: it is promoted only when there is no champion yet)."""
    rows = test_frame if test_frame.height or example_frame is None else example_frame
    info = log_model(model, rows)
    version = register(info.model_uri, cfg.model.name, run_id)
    decision = decide(
        cfg.model.name,
        str(version.version),
        gate_model or model,
        test_frame,
        cfg.model.promotion_metric,
        cfg,
    )
    record(decision, run_id)
    return info, decision


def test_rows(dataset: pl.DataFrame, test_scores: pl.DataFrame) -> pl.DataFrame:
    """The dataset rows (features + label) of the run's scored test rows: the gate's common ground."""
    keys = ["account_id", "cutoff"]
    return dataset.join(test_scores.select(keys).unique(), on=keys, how="semi")
