"""MLflow run logging: everything needed to reproduce and compare a training or tuning run.

Why one module: every run (training, tuning parent, tuning trial) goes to the same tracking store
and experiment, with the same flattening rules, so runs stay comparable in ``mlflow ui``.

Store: ``mlflow.tracking_uri`` (default embedded ``sqlite:///mlruns/mlflow.db``, relative to the
working directory, no server needed). For a local store the experiment is created with its
artifacts in ``mlflow.artifact_location`` resolved to an absolute ``file://`` URI, so
``mlflow ui --backend-store-uri sqlite:///mlruns/mlflow.db`` shows every run and its files from
any folder. An ``http(s)://`` URI uses the tracking server and its own artifact store.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import subprocess
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import mlflow
import polars as pl
from mlflow.utils.validation import (
    MAX_ENTITY_KEY_LENGTH,
    MAX_PARAM_VAL_LENGTH,
    MAX_PARAMS_TAGS_PER_BATCH,
    MAX_TAG_VAL_LENGTH,
)
from omegaconf import DictConfig, OmegaConf

from core.logs import get_logger

log = get_logger(__name__)

_BAD_KEY_CHARS = re.compile(r"[^0-9A-Za-z_\-. ]")


def is_remote(uri: str) -> bool:
    """True for a tracking server URI (http/https/databricks), False for a local store."""
    return uri.startswith(("http://", "https://", "databricks"))


def sqlite_file(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI (relative or absolute), else None."""
    if not uri.startswith("sqlite:///"):
        return None
    return Path(uri[len("sqlite:///") :])


def resolve_uri(uri: str) -> str:
    """``uri`` with a relative SQLite path made absolute (against the working directory).

    Why: MLflow caches one store per URI string, so the same relative URI used from another
    working directory in one process would silently keep writing to the first database.
    """
    db = sqlite_file(uri)
    return f"sqlite:///{db.resolve()}" if db is not None and not db.is_absolute() else uri


def configure(cfg: DictConfig) -> str:
    """Point MLflow at ``cfg.mlflow.tracking_uri`` and make sure the experiment exists.

    Returns the experiment id. Creates the SQLite folder for a local store. The experiment's
    artifact location is set only when the experiment is first created; an existing experiment
    keeps its own location (MLflow does not allow moving it).
    """
    uri = resolve_uri(cfg.mlflow.tracking_uri)
    db = sqlite_file(uri)
    if db is not None:
        db.parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    name: str = cfg.mlflow.experiment
    exp = mlflow.get_experiment_by_name(name)
    if exp is None:
        location = None
        if not is_remote(uri) and cfg.mlflow.artifact_location:
            folder = Path(cfg.mlflow.artifact_location).resolve()
            folder.mkdir(parents=True, exist_ok=True)
            location = folder.as_uri()
        try:
            exp_id = mlflow.create_experiment(name, artifact_location=location)
        except mlflow.exceptions.MlflowException:
            # Another process created it between our lookup and create: use theirs.
            exp = mlflow.get_experiment_by_name(name)
            if exp is None:
                raise
            exp_id = exp.experiment_id
    else:
        exp_id = exp.experiment_id
    mlflow.set_experiment(experiment_id=exp_id)
    return exp_id


@contextlib.contextmanager
def run(
    cfg: DictConfig, run_name: str, nested: bool = False, tags: Mapping[str, Any] | None = None
) -> Iterator[mlflow.ActiveRun]:
    """Start a run in the configured experiment (``nested`` under the active run)."""
    exp_id = configure(cfg) if not nested else None
    with mlflow.start_run(
        run_name=run_name,
        nested=nested,
        experiment_id=exp_id,
        tags={k: str(v) for k, v in (tags or {}).items()},
    ) as active:
        yield active


# -- flattening ----------------------------------------------------------------------------
def metric_key(key: str) -> str:
    """A key MLflow accepts: alphanumerics, ``_ - . space``; others (incl. ``/``, which MLflow
    path-normalises) become ``_``; cut to the maximum length."""
    return _BAD_KEY_CHARS.sub("_", key)[:MAX_ENTITY_KEY_LENGTH]


def flatten(obj: Any, prefix: str = "", sep: str = ".") -> dict[str, Any]:
    """Flatten nested dicts into ``{"a.b.c": leaf}``; lists become ``a.0``, ``a.1``..."""
    out: dict[str, Any] = {}
    if isinstance(obj, Mapping):
        for k, v in obj.items():
            out.update(flatten(v, f"{prefix}{sep}{k}" if prefix else str(k), sep))
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            out.update(flatten(v, f"{prefix}{sep}{i}" if prefix else str(i), sep))
    else:
        out[prefix] = obj
    return out


def config_params(cfg: DictConfig) -> dict[str, str]:
    """The resolved config as flat MLflow params, values cut to MLflow's length limit.

    Lists stay one param (``features.windows_days = [7, 28, 90]``) so the params table reads like
    the YAML; the long catalogue/playbook texts are left to the ``config.yaml`` artifact.
    """
    resolved = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(resolved, dict)
    resolved = {k: v for k, v in resolved.items() if k not in ("catalogue", "playbook")}

    return {metric_key(k): _param_value(v) for k, v in _walk_dicts(resolved, "")}


def _walk_dicts(obj: Any, prefix: str) -> Iterator[tuple[str, Any]]:
    """Leaves of nested dicts as (dotted key, value); lists are leaves."""
    if isinstance(obj, Mapping) and obj:
        for k, v in obj.items():
            yield from _walk_dicts(v, f"{prefix}.{k}" if prefix else str(k))
    else:
        yield prefix, obj


def _param_value(v: Any) -> str:
    """A param value: JSON for lists/dicts, str otherwise, cut to MLflow's length limit."""
    text = json.dumps(v, default=str) if isinstance(v, (list, dict)) else str(v)
    return text[:MAX_PARAM_VAL_LENGTH]


def log_params(params: Mapping[str, Any]) -> None:
    """Log params in batches of MLflow's per-request limit, values truncated."""
    items = [(metric_key(str(k)), str(v)[:MAX_PARAM_VAL_LENGTH]) for k, v in params.items()]
    for i in range(0, len(items), MAX_PARAMS_TAGS_PER_BATCH):
        mlflow.log_params(dict(items[i : i + MAX_PARAMS_TAGS_PER_BATCH]))


def log_config(cfg: DictConfig) -> None:
    """Flattened config as params and the resolved YAML as ``config/config.yaml``."""
    log_params(config_params(cfg))
    mlflow.log_text(OmegaConf.to_yaml(cfg, resolve=True), "config/config.yaml")


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(float(v))


def numeric_metrics(metrics: Mapping[str, Any], sep: str = ".") -> dict[str, float]:
    """Finite numeric leaves of a nested metrics dict, with flattened, MLflow-safe keys.

    Non-numeric leaves (strings, None, NaN) are skipped: MLflow metrics are floats only.
    """
    return {metric_key(k): float(v) for k, v in flatten(metrics, sep=sep).items() if _is_number(v)}


def log_metrics(metrics: Mapping[str, Any], backtest_key: str = "backtest") -> None:
    """Log all numeric metrics; ``metrics[backtest_key]`` (a list, one dict per origin) as steps.

    Backtest origin ``i`` is logged as step ``i`` of ``backtest.<name>`` so the MLflow UI draws the
    metric across origins (step 0 = the first entry of the list as the trainer ordered it).
    """
    flat = numeric_metrics({k: v for k, v in metrics.items() if k != backtest_key})
    items = list(flat.items())
    for i in range(0, len(items), 1000):
        mlflow.log_metrics(dict(items[i : i + 1000]))
    for step, origin in enumerate(metrics.get(backtest_key) or []):
        if isinstance(origin, Mapping):
            mlflow.log_metrics(numeric_metrics({backtest_key: origin}), step=step)


def log_figures(figures: Mapping[str, Any], folder: str = "figures") -> None:
    """Each matplotlib figure as ``<folder>/<name>.png``; figures are closed after logging."""
    import matplotlib.pyplot as plt

    for name, fig in figures.items():
        mlflow.log_figure(fig, f"{folder}/{metric_key(str(name)).replace(' ', '_')}.png")
        plt.close(fig)


def log_tags(tags: Mapping[str, Any]) -> None:
    """Tags with values cut to MLflow's limit."""
    mlflow.set_tags({metric_key(str(k)): str(v)[:MAX_TAG_VAL_LENGTH] for k, v in tags.items()})


def log_warnings(warnings: list[str]) -> None:
    """Training warnings as tags ``warning.0``.. plus a ``warnings`` count (searchable in the UI)."""
    log_tags({"warnings": len(warnings), **{f"warning.{i}": w for i, w in enumerate(warnings)}})


def _jsonable(obj: Any) -> Any:
    """A JSON round trip with dates and other objects as strings (MLflow's log_dict has no default)."""
    return json.loads(json.dumps(obj, default=str))


def log_split(split: Mapping[str, Any]) -> None:
    """The train/validation/test split as ``split.json`` and its scalar facts as ``data_split.*``
    params (a prefix of its own: the ``split.*`` params are the config)."""
    split_json = _jsonable(dict(split))
    mlflow.log_dict(split_json, "split.json")
    log_params({f"data_split.{k}": _param_value(v) for k, v in _walk_dicts(split_json, "")})


def log_profile(folder: Path) -> None:
    """The event-log profile (``profile.json`` and its page) under ``profile/`` when present."""
    for name in ("profile.json", "profile.html"):
        if (folder / name).exists():
            mlflow.log_artifact(str(folder / name), artifact_path="profile")


def log_catalogue(catalogue: Any) -> None:
    """The feature catalogue as ``feature_catalogue.yaml`` (a dict, or the path of the YAML)."""
    if catalogue is None:
        return
    if isinstance(catalogue, (str, Path)) and Path(catalogue).exists():
        mlflow.log_artifact(str(catalogue))
        return
    mlflow.log_dict(_jsonable(catalogue), "feature_catalogue.yaml")


def dataset_input(
    dataset: pl.DataFrame, cfg: DictConfig, name: str = "dataset", targets: str | None = "label"
) -> mlflow.data.Dataset:
    """The training table as an MLflow dataset (its digest identifies the exact rows and columns)."""
    source = str((Path(cfg.output.dir) / "dataset.parquet").resolve())
    targets = targets if targets in dataset.columns else None
    with warnings.catch_warnings():
        # A local path matches two equivalent local source types; MLflow picks one and warns.
        warnings.filterwarnings("ignore", message="The specified dataset source can be interpreted")
        from_polars = mlflow.data.from_polars  # type: ignore[attr-defined]
        return from_polars(dataset, source=source, targets=targets, name=name)


def log_dataset(dataset: pl.DataFrame, cfg: DictConfig, context: str = "training") -> str:
    """Log the dataset as this run's input; returns its digest."""
    ds = dataset_input(dataset, cfg)
    mlflow.log_input(ds, context=context)
    return ds.digest


def git_commit(cwd: str | Path | None = None) -> tuple[str | None, bool]:
    """(HEAD commit, working tree dirty?) of the repository containing ``cwd``; (None, False) outside git."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        dirty = bool(
            subprocess.run(
                ["git", "status", "--porcelain", "--untracked-files=no"],
                cwd=cwd,
                capture_output=True,
                text=True,
                check=True,
                timeout=10,
            ).stdout.strip()
        )
        return sha, dirty
    except (OSError, subprocess.SubprocessError):
        return None, False


def log_git_commit() -> str | None:
    """Tag the run with the code version (``mlflow.source.git.commit`` and ``git.dirty``)."""
    sha, dirty = git_commit(Path(__file__).resolve().parent)
    if sha:
        log_tags({"mlflow.source.git.commit": sha, "git.commit": sha, "git.dirty": dirty})
    return sha


def log_training_run(result: Any, dataset: pl.DataFrame, catalogue: Any, cfg: DictConfig) -> None:
    """Log one training (``models.train.TrainResult``) into the active run.

    Config (params + YAML), dataset input with digest, git commit, every metric (backtest origins
    as steps), figures, catalogue, warnings (tags), split, and the routing choices.
    """
    log_config(cfg)
    log_git_commit()
    log_dataset(dataset, cfg)
    log_metrics(result.metrics)
    mlflow.log_dict(_jsonable(result.metrics), "metrics.json")
    log_figures(result.figures)
    log_catalogue(catalogue)
    log_warnings(list(result.warnings))
    log_tags(
        {
            "evaluated": str(result.metrics.get("evaluated", True)).lower(),
            "served": result.metrics.get("served", "lightgbm"),
            "served_reason": result.metrics.get("served_reason", ""),
        }
    )
    log_split(result.split)
    if result.choices:
        mlflow.log_dict(_jsonable(result.choices), "choices.json")
