"""Retraining policy: does this ``decay-run`` tune and train, or score with the current champion?

Why here: the decision rests on what the registry knows (the champion, the snapshot it was
trained at), so it lives next to the registry; the scheduler only calls ``decay-run``. The rule is
one pure function, ``decide``, over plain facts; ``read_facts`` gathers those facts at the edge
(MLflow, the previous scoring run's files) and ``pipelines/run.py`` only wires the two.

The rule (``train.policy``, ``core.config.TrainConfig``):

- ``always``: train on every run (the demo's ``make run``).
- No champion (none registered, or a store nothing was trained into): train, whatever the policy.
- A version already trained at this ``snapshot.as_of`` or later (the champion, or the challenger
  the gate did not promote): do not train again. This is what makes a re-run of one as_of
  idempotent under the scheduled policies: the second run scores with the same champion.
- ``every_days``: train when ``as_of - champion's as_of >= train.every_days``. Ages are in data
  time (the ``snapshot.as_of`` logged on the champion's training run), never the wall clock: a
  late, repeated or backfilled run of one as_of decides the same. A champion whose training run
  has no as_of is treated as too old.
- ``drift``: train when the latest scoring run *before* as_of, scored by the *current* champion
  version, drifted: more than ``train.drift_share`` of its compared features have
  ``drifted`` (PSI above ``score.psi_warn``), or the largest PSI is above ``train.drift_psi``.
  Compared features exclude ``grows_with_time`` (they moved as much within training, e.g.
  tenure). A run scored by another version measured drift against another model's training
  data: not evidence. No earlier run: no evidence. A threshold left null is off.
- ``every_days_or_drift``: either reason.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from omegaconf import DictConfig

from core.config import TrainPolicy
from core.logs import get_logger
from tracking import registry, runs

log = get_logger(__name__)

#: The training run's param that says which snapshot it was trained at (``runs.log_config``).
AS_OF_PARAM = "snapshot.as_of"


@dataclass(frozen=True)
class Version:
    """A registered model version and the ``snapshot.as_of`` it was trained at (None: unknown)."""

    version: str
    as_of: date | None


@dataclass(frozen=True)
class Drift:
    """What one scoring run measured: its as_of, the model version that scored it, and over the
    compared features (not ``grows_with_time``) how many there were, how many drifted, the
    largest PSI and its feature."""

    as_of: date
    model_version: str | None
    features: int
    drifted: int
    max_psi: float
    max_feature: str | None

    @property
    def share(self) -> float:
        return self.drifted / self.features if self.features else 0.0


@dataclass(frozen=True)
class Facts:
    """Everything ``decide`` looks at. ``challenger``: the latest registered version when it is
    not the champion (a retrain the gate did not promote)."""

    as_of: date
    champion: Version | None
    challenger: Version | None = None
    drift: Drift | None = None


@dataclass(frozen=True)
class Decision:
    """``train``: tune + train before scoring. ``reason``: one line for the log."""

    train: bool
    reason: str


def drift_summary(drift: pl.DataFrame, as_of: date, model_version: str | None) -> Drift:
    """``Drift`` of a scoring run's ``drift.parquet`` (feature, psi, grows_with_time, drifted)."""
    compared = drift.filter(~pl.col("grows_with_time"))
    top = compared.sort(["psi", "feature"], descending=[True, False]).head(1)
    return Drift(
        as_of=as_of,
        model_version=model_version,
        features=compared.height,
        drifted=int(compared.get_column("drifted").sum()),
        max_psi=float(top["psi"][0]) if top.height else 0.0,
        max_feature=str(top["feature"][0]) if top.height else None,
    )


def _age_reason(facts: Facts, every_days: int) -> tuple[bool, str]:
    assert facts.champion is not None
    champ = facts.champion
    if champ.as_of is None:
        return True, f"champion v{champ.version} has no recorded {AS_OF_PARAM}: treated as too old"
    age = (facts.as_of - champ.as_of).days
    if age >= every_days:
        return True, (
            f"champion v{champ.version} trained at as_of {champ.as_of} is {age} days old "
            f">= train.every_days={every_days}"
        )
    return False, (
        f"champion v{champ.version} trained at as_of {champ.as_of} is {age} days old "
        f"< train.every_days={every_days}"
    )


def _drift_reason(
    facts: Facts, drift_share: float | None, drift_psi: float | None
) -> tuple[bool, str]:
    assert facts.champion is not None
    d = facts.drift
    if d is None:
        return False, "no earlier scoring run to read drift from"
    if d.model_version != facts.champion.version:
        return False, (
            f"the last scoring run (as_of {d.as_of}) was scored by v{d.model_version}, not by "
            f"champion v{facts.champion.version}: its drift is not evidence"
        )
    measured = (
        f"as_of {d.as_of}: {d.drifted}/{d.features} features drifted ({d.share:.0%}), "
        f"max PSI {d.max_psi:.3f} ({d.max_feature})"
    )
    if drift_share is not None and d.share > drift_share:
        return True, f"drift at {measured} > train.drift_share={drift_share:g}"
    if drift_psi is not None and d.max_psi > drift_psi:
        return True, f"drift at {measured} > train.drift_psi={drift_psi:g}"
    return False, f"drift at {measured} within train.drift_share/drift_psi"


def decide(
    policy: TrainPolicy | str,
    facts: Facts,
    every_days: int = 28,
    drift_share: float | None = 0.2,
    drift_psi: float | None = None,
) -> Decision:
    """Train or not, and why (the rule in the module docstring). Pure: facts in, decision out."""
    policy = TrainPolicy(policy)
    if policy == TrainPolicy.always:
        return Decision(True, "train.policy=always")
    if facts.champion is None:
        return Decision(True, "no champion yet")
    latest = max(
        (v for v in (facts.champion, facts.challenger) if v is not None and v.as_of is not None),
        key=lambda v: v.as_of or date.min,
        default=None,
    )
    if latest is not None and latest.as_of is not None and latest.as_of >= facts.as_of:
        role = "champion" if latest is facts.champion else "challenger (not promoted)"
        return Decision(
            False,
            f"v{latest.version} ({role}) was already trained at as_of {latest.as_of} "
            f">= {facts.as_of}: not retraining for this as_of",
        )
    reasons: list[tuple[bool, str]] = []
    if policy in (TrainPolicy.every_days, TrainPolicy.every_days_or_drift):
        reasons.append(_age_reason(facts, every_days))
    if policy in (TrainPolicy.drift, TrainPolicy.every_days_or_drift):
        reasons.append(_drift_reason(facts, drift_share, drift_psi))
    hit = [why for train, why in reasons if train]
    if hit:
        return Decision(True, "; ".join(hit))
    return Decision(False, "; ".join(why for _, why in reasons))


# -- reading the facts (the edge) ------------------------------------------------------------
def _version(client: MlflowClient, name: str, alias: str) -> Version | None:
    try:
        mv = client.get_model_version_by_alias(name, alias)
    except MlflowException as err:
        if registry._is_missing(err):
            return None
        raise
    as_of = None
    if mv.run_id:
        try:
            value = client.get_run(mv.run_id).data.params.get(AS_OF_PARAM)
            as_of = date.fromisoformat(value) if value else None
        except (MlflowException, ValueError):
            as_of = None
    return Version(str(mv.version), as_of)


def read_versions(cfg: DictConfig) -> tuple[Version | None, Version | None]:
    """(champion, challenger) of ``cfg.model.name``; the challenger only when it is another
    version. (None, None) when the registry does not exist yet (a SQLite file never created)."""
    registry.set_registry(cfg)
    db = runs.sqlite_file(runs.resolve_uri(cfg.mlflow.tracking_uri))
    if db is not None and not db.exists():
        return None, None
    client = MlflowClient()
    champion = _version(client, cfg.model.name, registry.CHAMPION)
    challenger = _version(client, cfg.model.name, registry.CHALLENGER)
    if champion is not None and challenger is not None and challenger.version == champion.version:
        challenger = None
    return champion, challenger


def read_drift(folder: Path | None) -> Drift | None:
    """``Drift`` of the scoring run in ``folder`` (its ``drift.parquet`` and ``meta.json``);
    None without a folder or a drift table."""
    if folder is None or not (folder / "drift.parquet").exists():
        return None
    meta: dict[str, Any] = {}
    if (folder / "meta.json").exists():
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    as_of = date.fromisoformat(str(meta.get("as_of") or folder.name.removeprefix("as_of=")))
    version = meta.get("model_version")
    return drift_summary(
        pl.read_parquet(folder / "drift.parquet"), as_of, str(version) if version else None
    )


def train_decision(cfg: DictConfig, as_of: date, previous_run: Path | None) -> Decision:
    """Read the facts (registry; ``previous_run``: the latest scoring run folder before
    ``as_of``, or None) and decide with ``cfg.train``. Logs one line saying why."""
    policy = TrainPolicy(cfg.train.policy)
    if policy == TrainPolicy.always:  # nothing to read
        facts = Facts(as_of=as_of, champion=None)
    else:
        champion, challenger = read_versions(cfg)
        drift = read_drift(previous_run) if champion is not None else None
        facts = Facts(as_of, champion, challenger, drift)
    decision = decide(
        policy,
        facts,
        every_days=cfg.train.every_days,
        drift_share=cfg.train.drift_share,
        drift_psi=cfg.train.drift_psi,
    )
    if decision.train:
        log.info("retraining (tune + train): %s", decision.reason)
    else:
        log.info("not retraining, scoring with the current champion: %s", decision.reason)
    return decision
