"""`decay-score snapshot.as_of=DATE`: score and explain every eligible account at one cutoff.

Steps: champion model (``model.uri`` or ``models:/${model.name}@champion``; fails first, before
any heavy work, with exit 4) -> tables -> features at the ``as_of`` cutoff only (00:00 UTC; events
strictly before it) -> ``scoring.score.score_accounts`` -> drift (PSI vs the training
distribution saved in the model) -> one MLflow run (tag ``job=score``) -> outputs.

Outputs, written as ONE atomic folder swap of ``${output.dir}/scores/as_of=DATE/`` (a failure
leaves the previous folder untouched; a re-run replaces it whole):
  scores.parquet        one row per account (risk, tier, rank, change, drivers, next step, ...,
                        and the adoption map's nudge columns: milestones_reached,
                        milestones_total, next_milestone, next_milestone_late_pct,
                        peer_gap_events, nudge, next_step_evidence; null without
                        ``${output.dir}/map``, see ``scoring.nudges`` and ``map_nudges``)
  scores.csv            the flat CRM export (``scoring.score.crm_table``, nudge columns last)
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

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, cast

import hydra
import polars as pl
from omegaconf import DictConfig, OmegaConf

from core.atomic import atomic_dir
from core.cli import console, job
from core.config import CONF_DIR  # importing core.config registers the schema
from core.logs import get_logger
from core.progress import step

log = get_logger(__name__)


def _map_as_of(map_dir: Path) -> date | None:
    """The date up to which the map at ``map_dir`` read the log (``meta.json`` ``as_of``,
    exclusive), None when it does not say."""
    import json

    try:
        value = json.loads((map_dir / "meta.json").read_text(encoding="utf-8")).get("as_of")
        return date.fromisoformat(str(value)) if value else None
    except (OSError, ValueError, AttributeError):
        return None


def map_nudges(
    cfg: DictConfig,
    tables: Any,
    out_root: Path,
    *,
    scores: pl.DataFrame,
    milestones: list[Any],
    as_of: date,
    segments: list[str],
    playbook: dict[str, Any],
    entity: tuple[str, str],
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(nudge columns, next_step_evidence) per scored account, from the adoption map of the same
    output folder (``map/ttv_curve.parquet``, ``map/top_indicators.parquet``; ``scoring.nudges``).

    Without a map (or ``nudge.enabled=false``) every column is null; a map that cannot be read
    or used logs one warning and gives nulls too: nudges never fail a scoring run. A map as of a
    later date than ``as_of`` (built on events after it) is not used: it would tell the
    accounts' future; ``decay-map`` at the same ``snapshot.as_of`` reads only the past. Milestone
    progress, peer gaps and the counts behind the evidence use only events before ``as_of``."""
    from adoption.build import top_indicators
    from adoption.progress import behaviour_counts
    from scoring.nudges import (
        account_nudges,
        empty_nudges,
        journey_at,
        playbook_evidence,
        step_subjects,
    )

    ids = scores["account_id"]
    nothing = (
        empty_nudges(ids),
        playbook_evidence(ids, None, None, milestones, segment_column=None),
    )
    map_dir = out_root / "map"
    curve_path = map_dir / "ttv_curve.parquet"
    if not cfg.nudge.enabled or not curve_path.exists():
        log.info(
            "nudges: no adoption map at %s (decay-map builds it): nudge columns are null", map_dir
        )
        return nothing
    map_as_of = _map_as_of(map_dir)
    if map_as_of is not None and map_as_of > as_of:
        log.warning(
            "nudges: the adoption map at %s is as of %s, after this as_of %s (it would tell "
            "the accounts' future): nudge columns are null; rebuild it with decay-map "
            "snapshot.as_of=%s",
            map_dir,
            map_as_of,
            as_of,
            as_of,
        )
        return nothing
    accounts = tables.accounts
    wanted = cfg.features.peer_segment or (segments[0] if segments else None)
    segment = wanted if accounts is not None and wanted in accounts.columns else None
    top_path = map_dir / "top_indicators.parquet"
    findings_path = map_dir / "findings.parquet"
    cutoff = datetime(as_of.year, as_of.month, as_of.day, tzinfo=UTC)
    try:
        curve = pl.read_parquet(curve_path)
        # Evidence may quote any finding the map stands behind (significant, replicated,
        # positive: the top list's rule without its cut at map.top_k), so a step about an event
        # outside a segment's top five still gets its number.
        top: pl.DataFrame | None = None
        if findings_path.exists():
            top = top_indicators(pl.read_parquet(findings_path), None)
        else:
            top = pl.read_parquet(top_path) if top_path.exists() else None
        progress, gaps = journey_at(
            tables.events,
            accounts,
            milestones,
            curve,
            ids,
            cutoff=cutoff,
            segment=segment,
            key_events=list(cfg.features.key_events) or None,
            lookback_days=cfg.nudge.lookback_days,
            min_share=cfg.nudge.min_share,
            min_peers=cfg.nudge.min_peers,
            churn=str(cfg.map.churn),
            inactive_days=cfg.map.inactive_days,
        )
        nudges = account_nudges(
            ids,
            progress,
            gaps,
            entity=entity,
            max_events=cfg.nudge.max_events,
            lookback_days=cfg.nudge.lookback_days,
            order=[str(m["name"] if isinstance(m, dict) else m.name) for m in milestones],
        )
        members, counts = behaviour_counts(
            tables.events,
            accounts,
            tables.users,
            cutoff=cutoff,
            segment=segment,
            milestones=milestones,
            churn=str(cfg.map.churn),  # type: ignore[arg-type]
            inactive_days=cfg.map.inactive_days,
        )
        evidence = playbook_evidence(
            ids,
            progress,
            top,
            milestones,
            segment_column=segment,
            template=playbook.get("evidence") or None,
            entity=entity,
            conf_level=cfg.map.conf_level,
            subjects=step_subjects(scores),
            members=members,
            counts=counts,
        )
    except Exception as err:  # a nudge is an extra: the scores must still ship
        log.warning(
            "nudges: the adoption map at %s could not be used (%s): columns are null", map_dir, err
        )
        return nothing
    log.info(
        "nudges from the adoption map: %d of %d accounts have one, %d a next-step number",
        nudges["nudge"].is_not_null().sum(),
        scores.height,
        evidence["next_step_evidence"].is_not_null().sum(),
    )
    return nudges, evidence


def score_job(cfg: DictConfig) -> dict[str, Any]:
    """Run the whole scoring step; returns ``{"dir", "n_accounts", "run_id", "tiers", "drifted"}``."""
    from core.cluster import n_partitions, workers
    from features.build import build_features
    from features.catalogue import model_catalogue
    from ingest.defaults import apply_defaults
    from pipelines.common import job_data
    from report import inputs as report_inputs
    from report.words import entity_noun, has_users
    from report.write import write_report
    from scoring.drift import TRAINING_STATS_KEY, feature_psi, log_drift
    from scoring.history import history_frame, parse_as_of, previous_scores, run_dir
    from scoring.nudges import with_nudges
    from scoring.outputs import write_score_outputs
    from scoring.params import ScoreParams
    from scoring.score import (
        check_model_columns,
        crm_table,
        risk_summary,
        score_accounts,
        tier_cuts,
    )
    from scoring.sentences import never_features, with_never_texts
    from tracking import registry
    from tracking.jobs import log_score_run

    as_of = parse_as_of(cfg.snapshot.as_of)
    out_root = Path(cfg.output.dir)
    params = ScoreParams.from_cfg(cfg)
    from scoring.sink import PostgresSink  # sink=postgres: checked now, written last

    sink = PostgresSink.from_cfg(cfg.sink)
    with step("load model", log):
        model, info = registry.load_routed_model(cfg.model.uri or None, cfg)
    log.info("model %s (version %s)", info.get("uri"), info.get("version", "n/a"))
    trained_with = model.metadata.get("data_defaults") or {}
    if trained_with:  # the same vocabulary, milestones, segments as the model was trained on
        log.info(
            "features use the data defaults the model was trained with: %s",
            ", ".join(sorted(trained_with)),
        )
        apply_defaults(cfg, trained_with, announce=False)
    with job_data(cfg) as data:  # one cluster for the job; events on disk when streaming
        tables = data.tables
        users = has_users(tables.events)
        entity = entity_noun(cfg.data.entity, users)
        with step(f"features at {as_of}", log):
            features = build_features(tables, [as_of], cfg, map_chunks=data.map_chunks)
        check_model_columns(model.feature_names, features)
        segments = [s for s in cfg.data.segments if s in features.columns]
        catalogue = with_never_texts(
            model_catalogue(
                model.feature_names, model.categorical_levels, cfg.catalogue, cfg.features
            ),
            cfg.catalogue,
            cfg.features,
        )
        playbook = cast(dict[str, Any], OmegaConf.to_container(cfg.playbook, resolve=True))
        milestones = cast(list[Any], OmegaConf.to_container(cfg.features.milestones, resolve=True))
        client = data.client
        with step(f"score and explain {features.height} accounts ({params.explainer})", log):
            result = score_accounts(
                model,
                features,
                catalogue,
                params,
                playbook,
                as_of=as_of,
                segments=segments,
                milestones=milestones,
                peer_segment=cfg.features.peer_segment or None,
                model_version=str(info.get("version", "")),
                model_uri=str(info.get("uri", "")),
                previous=previous_scores(out_root, as_of),
                entity=entity,
                client=client,
                partitions=1 if client is None else n_partitions(cfg, workers(client)),
            )
        scores = with_nudges(
            result.scores,
            *map_nudges(
                cfg,
                tables,
                out_root,
                scores=result.scores,
                milestones=milestones,
                as_of=as_of,
                segments=segments,
                playbook=playbook,
                entity=entity,
            ),
        )
        stats = model.metadata.get(TRAINING_STATS_KEY) or {}
        if not stats:
            log.warning(
                "model has no training distributions (%s): drift not computed", TRAINING_STATS_KEY
            )
        drift = feature_psi(features, stats, cfg.score.psi_warn)
        log_drift(drift, cfg.score.psi_warn)
        ids = scores["account_id"]
        summary = risk_summary(scores)
        tiers = {t: int(summary[f"tier_{t}"]) for t in ("high", "medium", "low")}
        meta = {
            "as_of": as_of.isoformat(),
            "model_version": str(info.get("version", "")),
            "model_uri": str(info.get("uri", "")),
            "segments": segments,
            "n_accounts": scores.height,
            "tier_counts": tiers,
            "tier_mode": params.tier_mode,
            "tier_thresholds": tier_cuts(scores, params),
            "horizon_days": cfg.label.horizon_days,
            "explainer": params.explainer,
            "never_days": params.never_days,
            "never_features": never_features(catalogue),
            "entity": entity[0],
            "entity_plural": entity[1],
            "label": cfg.label.name,
            "has_users": users,
            "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "evaluation": model.metadata.get("evaluation") or {},
            "has_profile": (out_root / "profile.html").exists() and cfg.score.report,
            # The adoption map of the same output folder (decay-run builds it before scoring).
            "has_map": (out_root / "map" / "index.html").exists(),
        }
        frames = {
            "scores": scores,
            "explanations": result.explanations,
            "families": result.families,
            "history": history_frame(out_root, scores),
            "usage": report_inputs.usage_frame(tables.events, ids, as_of, cfg.features),
            "milestones": report_inputs.milestone_frame(tables, ids, as_of, cfg.features),
            "drift": drift,
        }
        crm = crm_table(scores, segments, params.top_drivers, params.top_protective)
        target = run_dir(out_root, as_of)
        run_id = log_score_run(cfg, as_of, drift, info, summary)
        meta["mlflow_run_id"] = run_id
        with step(f"write {target}", log), atomic_dir(target) as tmp:
            write_score_outputs(tmp, frames, crm, meta, csv_neutralise=cfg.score.csv_neutralise)
            if cfg.score.report:
                write_report(tmp / "report", frames, meta, out_root / "profile.html")
        if (
            sink is not None
        ):  # after the folder: a failed sink (exit 7) leaves the tables as they were
            with step(f"sink: upsert into {cfg.sink.table}", log):
                sink.write(target, as_of)
        return {
            "dir": target,
            "n_accounts": scores.height,
            "run_id": run_id,
            "tiers": tiers,
            "drifted": drift.filter(pl.col("drifted"))["feature"].to_list(),
        }


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
