"""`decay-score snapshot.as_of=DATE`: score and explain every eligible account at one cutoff.

Steps: champion model (``model.uri`` or ``models:/${model.name}@champion``; fails first, before
any heavy work, with exit 4) -> tables -> features at the ``as_of`` cutoff only (00:00 UTC; events
strictly before it) -> ``models.score.score_accounts`` -> drift (PSI vs the training
distribution saved in the model) -> one MLflow run (tag ``job=score``) -> outputs.

Outputs, written as ONE atomic folder swap of ``${output.dir}/scores/as_of=DATE/`` (a failure
leaves the previous folder untouched; a re-run replaces it whole):
  scores.parquet        one row per account (risk, tier, rank, change, drivers, next step, ...)
  scores.csv            the flat CRM export (``models.score.crm_table``)
  explanations.parquet  long: account_id, feature, family, value, peer_median, contribution
                        (log-odds, positive raises risk), rank, direction (risk|protective), sentence
  families.parquet      long: account_id, family, contribution (summed per indicator family)
  history.parquet       account_id, as_of (Date), decay_risk of every run up to this one
  usage.parquet         account_id, week_start (Date), active_users, usage_events, active_days
                        (distinct UTC days with use, 0..7): the 12 whole weeks before as_of
  milestones.parquet    account_id, milestone, description, expected_days, reached_on (Date|null),
                        days_to_reach, status (reached | late | missing | pending)
  drift.parquet         feature, psi, grows_with_time (drifted within training already: not a
                        warning), drifted
  meta.json             as_of, model_version, model_uri, segments, n_accounts, tier counts, the
                        words of the pages (entity, entity_plural: data.entity or from the data;
                        label: label.name; has_users: user ids other than the account ids), ...
  report/               the static CSM report (``score.report=true``)
"""

from __future__ import annotations

import json
import logging
import shutil
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import hydra
import polars as pl
from omegaconf import DictConfig, OmegaConf

from core.atomic import atomic_dir
from core.cli import console, job
from core.config import CONF_DIR  # importing core.config registers the schema
from core.errors import ConfigValueError, DataValidationError
from core.progress import step
from report import inputs as report_inputs

log = logging.getLogger("adoption_decay")

SCORES_DIR = "scores"


# -- small pure helpers --------------------------------------------------------------------
def parse_as_of(value: Any) -> date:
    """``snapshot.as_of`` as a date (ISO ``YYYY-MM-DD``); ConfigValueError otherwise."""
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError as err:
        raise ConfigValueError(f"snapshot.as_of={value!r} is not an ISO date",
                               hint="use snapshot.as_of=YYYY-MM-DD") from err


def run_dir(out_root: Path, as_of: date) -> Path:
    return out_root / SCORES_DIR / f"as_of={as_of.isoformat()}"


def past_runs(out_root: Path, before: date) -> list[tuple[date, Path]]:
    """Earlier scoring runs ``(as_of, scores.parquet)`` under ``out_root``, oldest first."""
    runs = []
    for path in (out_root / SCORES_DIR).glob("as_of=*/scores.parquet"):
        try:
            d = date.fromisoformat(path.parent.name.removeprefix("as_of="))
        except ValueError:
            continue
        if d < before:
            runs.append((d, path))
    return sorted(runs)


def previous_scores(out_root: Path, as_of: date) -> pl.DataFrame | None:
    """account_id, decay_risk of the latest earlier run (None when this is the first)."""
    runs = past_runs(out_root, as_of)
    if not runs:
        return None
    return pl.read_parquet(runs[-1][1], columns=["account_id", "decay_risk"])


def history_frame(out_root: Path, scores: pl.DataFrame) -> pl.DataFrame:
    """account_id, as_of, decay_risk of every earlier run plus this one, for the scored accounts."""
    as_of = scores["as_of"][0]
    frames = [pl.read_parquet(p, columns=["account_id", "as_of", "decay_risk"])
              for _, p in past_runs(out_root, as_of)]
    frames.append(scores.select("account_id", "as_of", "decay_risk"))
    ids = scores.select("account_id")
    return (pl.concat([f.with_columns(pl.col("as_of").cast(pl.Date)) for f in frames])
            .join(ids, on="account_id", how="semi").sort("account_id", "as_of"))








def model_catalogue(model: Any, cfg: Any) -> dict[str, dict[str, str]]:
    """Catalogue entries for the model's features; categorical inputs (segments, maturity stage)
    that have no catalogue pattern get a plain "<Name>: <level>." sentence."""
    from features.catalogue import expand_patterns

    expanded = expand_patterns(cfg.catalogue, cfg.features)
    out: dict[str, dict[str, str]] = {}
    for f in model.feature_names:
        if f in expanded:
            out[f] = expanded[f]
        elif f in model.categorical_levels:
            family = "lifecycle" if f == "maturity_stage" else "peer"
            title = f.replace("_", " ").capitalize()
            out[f] = {"family": family, "unit": "category", "higher_is": "riskier",
                      "description": f"the account's {f.replace('_', ' ')}",
                      "sentence": f"{title}: {{{f}}}."}
        else:
            raise ConfigValueError(f"model feature {f!r} has no catalogue entry",
                                   hint="add a pattern for it in conf/catalogue/default.yaml")
    return out


def _check_columns(model: Any, features: pl.DataFrame) -> None:
    missing = [f for f in model.feature_names if f not in features.columns]
    if missing:
        raise DataValidationError(
            f"the features built at this cutoff lack model input columns {missing[:5]} "
            f"({len(missing)} missing)",
            hint="the data or feature config changed since training: run decay-train again")


# -- the job -------------------------------------------------------------------------------
def _log_mlflow(cfg: DictConfig, as_of: date, result: Any, drift: pl.DataFrame,
                info: dict[str, Any], summary: dict[str, float]) -> str:
    import mlflow

    from models import tracking

    tags = {"job": "score", "step": "score", "as_of": as_of.isoformat(),
            "model.version": str(info.get("version", "")), "model.uri": str(info.get("uri", ""))}
    drifted = drift.filter(pl.col("drifted"))["feature"].to_list()
    tags["drift.warn_features"] = ",".join(drifted) if drifted else "none"
    tags["drift.warn"] = str(bool(drifted)).lower()
    with tracking.run(cfg, run_name=f"score {as_of.isoformat()}", tags=tags) as active:
        mlflow.log_params({"as_of": as_of.isoformat(), "explainer": str(cfg.score.explainer),
                           "tier_mode": str(cfg.score.tier_mode), "chunk_rows": int(cfg.score.chunk_rows),
                           "psi_warn": float(cfg.score.psi_warn)})
        metrics = dict(summary)
        metrics["drift.n_warn"] = float(len(drifted))
        for f, v in drift.select("feature", "psi").iter_rows():
            metrics[tracking.metric_key(f"psi.{f}")] = float(v)
        mlflow.log_metrics(metrics)
        mlflow.log_dict({r["feature"]: r["psi"] for r in drift.iter_rows(named=True)}, "drift/psi.json")
        return active.info.run_id


def _write_outputs(tmp: Path, cfg: DictConfig, frames: dict[str, pl.DataFrame], crm: pl.DataFrame,
                   meta: dict[str, Any]) -> None:
    for name, frame in frames.items():
        frame.write_parquet(tmp / f"{name}.parquet")
    from models.score import neutralise_formulas

    (neutralise_formulas(crm) if bool(cfg.score.csv_neutralise) else crm).write_csv(
        tmp / "scores.csv")
    (tmp / "meta.json").write_text(json.dumps(meta, indent=2, default=str), encoding="utf-8")
    if bool(cfg.score.report):
        from report.render import render_report  # lazy: the report is optional

        with step("report", log):
            render_report(tmp / "report", frames["scores"], frames["explanations"],
                          frames["history"], frames["usage"], frames["milestones"], meta)
        profile = Path(str(cfg.output.dir)) / "profile.html"
        if profile.exists():  # the data profile the model was built on, beside the report
            shutil.copyfile(profile, tmp / "report" / "profile.html")


def score_job(cfg: DictConfig) -> dict[str, Any]:
    """Run the whole scoring step; returns ``{"dir", "n_accounts", "run_id", "tiers", "drifted"}``."""
    from features.build import build_features
    from models import registry
    from models.drift import TRAINING_STATS_KEY, feature_psi
    from models.score import ScoreParams, crm_table, risk_summary, score_accounts, tier_cuts
    from models.sentences import never_features, with_never_texts
    from pipelines.common import load_tables
    from report.words import entity_noun, has_users

    as_of = parse_as_of(cfg.snapshot.as_of)
    out_root = Path(str(cfg.output.dir))
    params = ScoreParams.from_cfg(cfg)
    with step("load model", log):
        model, info = registry.load_routed_model(cfg.model.get("uri") or None, cfg)
    log.info("model %s (version %s)", info.get("uri"), info.get("version", "n/a"))
    from ingest.defaults import apply_defaults

    trained_with = model.metadata.get("data_defaults") or {}
    if trained_with:  # the same vocabulary, milestones, segments as the model was trained on
        log.info("features use the data defaults the model was trained with: %s",
                 ", ".join(sorted(trained_with)))
        apply_defaults(cfg, trained_with, announce=False)
    with step("load tables", log):
        tables = load_tables(cfg)
    users = has_users(tables.events)
    entity = entity_noun(cfg.data.get("entity"), users)
    with step(f"features at {as_of}", log):
        features = build_features(tables, [as_of], cfg)
    _check_columns(model, features)
    segments = [str(s) for s in cfg.data.segments if str(s) in features.columns]
    catalogue = with_never_texts(model_catalogue(model, cfg), cfg.catalogue, cfg.features)
    playbook = OmegaConf.to_container(cfg.playbook, resolve=True)
    milestones = OmegaConf.to_container(cfg.features.milestones, resolve=True)
    with step(f"score and explain {features.height} accounts ({params.explainer})", log):
        result = score_accounts(
            model, features, catalogue, params, playbook, as_of=as_of, segments=segments,
            milestones=milestones, peer_segment=cfg.features.peer_segment or None,
            model_version=str(info.get("version", "")), model_uri=str(info.get("uri", "")),
            previous=previous_scores(out_root, as_of), entity=entity)
    scores = result.scores
    stats = model.metadata.get(TRAINING_STATS_KEY) or {}
    if not stats:
        log.warning("model has no training distributions (%s): drift not computed", TRAINING_STATS_KEY)
    drift = feature_psi(features, stats, float(cfg.score.psi_warn))
    trending = drift.filter(pl.col("grows_with_time") & (pl.col("psi") > float(cfg.score.psi_warn)))
    if trending.height:
        log.info("drift: %d features moved as they did within training (they grow with time): %s",
                 trending.height, ", ".join(trending["feature"].to_list()[:8]))
    for f, v in drift.filter(pl.col("drifted")).select("feature", "psi").iter_rows():
        log.warning("drift: feature %s has PSI %.3f > score.psi_warn=%s against training",
                    f, v, cfg.score.psi_warn)
    ids = scores["account_id"]
    summary = risk_summary(scores)
    tiers = {t: int(summary[f"tier_{t}"]) for t in ("high", "medium", "low")}
    meta = {"as_of": as_of.isoformat(), "model_version": str(info.get("version", "")),
            "model_uri": str(info.get("uri", "")), "segments": segments,
            "n_accounts": scores.height, "tier_counts": tiers,
            "tier_mode": params.tier_mode, "tier_thresholds": tier_cuts(scores, params),
            "horizon_days": int(cfg.label.horizon_days), "explainer": params.explainer,
            "never_days": params.never_days, "never_features": never_features(catalogue),
            "entity": entity[0], "entity_plural": entity[1], "label": str(cfg.label.name),
            "has_users": users,
            "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "evaluation": model.metadata.get("evaluation") or {},
            "has_profile": (out_root / "profile.html").exists() and bool(cfg.score.report)}
    frames = {
        "scores": scores, "explanations": result.explanations, "families": result.families,
        "history": history_frame(out_root, scores),
        "usage": report_inputs.usage_frame(tables.events, ids, as_of, cfg.features),
        "milestones": report_inputs.milestone_frame(tables, ids, as_of, cfg.features),
        "drift": drift,
    }
    crm = crm_table(scores, segments, params.top_drivers, params.top_protective)
    target = run_dir(out_root, as_of)
    run_id = _log_mlflow(cfg, as_of, result, drift, info, summary)
    meta["mlflow_run_id"] = run_id
    with step(f"write {target}", log), atomic_dir(target) as tmp:
        _write_outputs(tmp, cfg, frames, crm, meta)
    return {"dir": target, "n_accounts": scores.height, "run_id": run_id, "tiers": tiers,
            "drifted": drift.filter(pl.col("drifted"))["feature"].to_list()}


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="config")
@job
def _main(cfg: DictConfig) -> None:
    out = score_job(cfg)
    print(f"scored {out['n_accounts']} accounts: {out['tiers']} -> {out['dir']}")
    report = Path(out["dir"]) / "report" / "index.html"
    if report.exists():
        print(f"CSM report: {report.resolve()}")


#: The console script (pyproject): Hydra's config errors exit 2 like the job's own.
main = console(_main)

if __name__ == "__main__":
    main()
