"""What a training run reports outside MLflow: ``metrics.json`` for scripts and a few lines for
the person at the terminal.

Why a module: the pipeline entry point only calls these; the same summary is what a scheduled
job's log keeps, so its wording is tested here rather than in the CLI.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from core.atomic import write_text


def _json_safe(obj: Any) -> Any:
    """NaN/inf become null so metrics.json is strict JSON."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    return obj


def write_metrics(metrics: dict[str, Any], cfg: DictConfig) -> Path:
    """``${output.dir}/train/metrics.json``: the test metrics (overall at the top level)."""
    text = json.dumps(
        _json_safe(json.loads(json.dumps(metrics, default=str))), indent=2, sort_keys=True
    )
    return write_text(text + "\n", Path(cfg.output.dir) / "train" / "metrics.json")


def _fmt(v: Any) -> str:
    return f"{v:.3f}" if isinstance(v, (int, float)) and math.isfinite(v) else "n/a"


def summary(metrics: dict[str, Any], decision: Any) -> str:
    """A few lines for the terminal: model vs baselines and oracle, and the promotion decision."""
    if metrics.get("evaluated") is False:
        lines = [f"UNEVALUATED: {metrics.get('split_rule')}"]
    else:
        lines = [
            f"test  roc_auc {_fmt(metrics.get('roc_auc'))}  pr_auc {_fmt(metrics.get('pr_auc'))}"
        ]
    if metrics.get("served") and metrics.get("served") != "lightgbm":
        lines.append(f"served: {metrics['served']} baseline ({metrics.get('served_reason')})")
    if metrics.get("oracle_roc_auc") is not None:
        ratio = metrics.get("auc_ratio_to_oracle")
        if ratio is None and metrics.get("roc_auc") and metrics.get("oracle_roc_auc"):
            ratio = metrics["roc_auc"] / metrics["oracle_roc_auc"]
        lines.append(
            f"oracle roc_auc {_fmt(metrics['oracle_roc_auc'])}  model/oracle {_fmt(ratio)}"
        )
    for name, vals in (metrics.get("baselines") or {}).items():
        if isinstance(vals, dict):
            lines.append(
                f"baseline {name}: roc_auc {_fmt(vals.get('roc_auc'))}  "
                f"pr_auc {_fmt(vals.get('pr_auc'))}"
            )
    if decision is not None:
        lines.append(
            f"model {decision.model_name} v{decision.version}: {decision.decision} "
            f"({decision.reason})"
        )
    return "\n".join(lines)
