"""Data-driven defaults: the settings a user left open, filled from the event-log profile.

Why: "by config alone" means the user states what the data is (column mapping, label, horizon,
as_of) and nothing about its shape. The schema leaves the shape-dependent settings open
(``null``) and this module fills them from ``ingest.profile.profile_tables``:

* ``snapshot.every_days`` / ``snapshot.count``: the cutoff cadence from the typical gap between
  active days, the count from the span of history (``profile.suggested``);
* ``features.vocabulary_events``: the event types that matter (reached by enough accounts),
  less the configured non-usage events;
* ``features.milestones``: configured milestones only where their events occur; when none
  remain, discovered ones (first occurrence of a key event type, expected day = the median among
  accounts reaching it) unless ``features.discover_milestones=false``;
* ``features.peer_segment`` / ``model.segment_key``: the configured column when the data has
  it, else the first segment column found (else none);
* ``data.entity``: the noun for one scored entity ("account" with users, else "customer").

Every value chosen is logged in one line with its reason and returned, so it can be written
next to the dataset and into the model (scoring rebuilds features with the same choices). A
value the user set explicitly is never changed, except that configured names absent from the
data are left out (one line each).
"""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from core.logs import get_logger

log = get_logger(__name__)

#: Config keys this module may fill, in the order they are resolved.
KEYS = (
    "snapshot.every_days",
    "snapshot.count",
    "features.vocabulary_events",
    "features.milestones",
    "features.peer_segment",
    "model.segment_key",
    "data.entity",
)


def _get(cfg: DictConfig, key: str) -> Any:
    return OmegaConf.select(cfg, key)


def _plain(v: Any) -> Any:
    return OmegaConf.to_container(v, resolve=True) if OmegaConf.is_config(v) else v


def resolve_defaults(cfg: DictConfig, profile: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``{key: {"value", "reason"}}`` for every open setting (pure: ``cfg`` is not changed)."""
    sug = profile.get("suggested", {})
    present = {e["event"] for e in profile.get("event_types", [])}
    out: dict[str, dict[str, Any]] = {}
    for key in ("snapshot.every_days", "snapshot.count"):
        if _get(cfg, key) is None and key in sug:
            out[key] = dict(sug[key])
    if _get(cfg, "features.vocabulary_events") is None and "features.vocabulary_events" in sug:
        skip = {*cfg.features.non_usage_events, *cfg.label.excluded_events}
        picked = list(sug["features.vocabulary_events"]["value"])
        chosen = [e for e in picked if e not in skip]
        left = sorted(set(picked) - set(chosen))
        out["features.vocabulary_events"] = {
            "value": chosen,
            "reason": sug["features.vocabulary_events"]["reason"]
            + (f"; less the non-usage events {left}" if left else ""),
        }
    configured = _plain(_get(cfg, "features.milestones")) or []
    kept = [m for m in configured if set(m.get("events") or []) & present]
    dropped = [m["name"] for m in configured if m not in kept]
    if dropped or (not kept and cfg.features.discover_milestones):
        reason = (
            f"configured milestones {dropped} left out: their events do not occur in the data"
            if dropped
            else "no milestones configured"
        )
        if not kept and cfg.features.discover_milestones:
            skip = set(_non_usage(cfg))
            found = [
                m
                for m in (sug.get("milestones", {}).get("value") or [])
                if not set(m["events"]) & skip
            ]
            kept = found
            reason += (
                f"; discovered {[m['name'] for m in found]} from the data "
                f"({sug.get('milestones', {}).get('reason', '')})"
                if found
                else "; none discovered"
            )
        out["features.milestones"] = {"value": kept, "reason": reason}
    segments = [s["column"] for s in profile.get("segments", [])]
    for key in ("features.peer_segment", "model.segment_key"):
        cur = _get(cfg, key)
        if cur is not None and cur not in segments:
            value = segments[0] if segments else None
            out[key] = {
                "value": value,
                "reason": (
                    f"{key}={cur!r} is not a column of this data; "
                    + (
                        f"using the first segment column {value!r}"
                        if value
                        else "no segment column: all accounts are one peer group"
                    )
                ),
            }
    if _get(cfg, "data.entity") is None and "entity" in sug:
        out["data.entity"] = dict(sug["entity"])
    return out


def apply_defaults(
    cfg: DictConfig, resolved: dict[str, dict[str, Any]], announce: bool = True
) -> None:
    """Write the resolved values into ``cfg`` (in place) and log one line each."""
    with open_dict(cfg):
        for key in KEYS:
            if key not in resolved:
                continue
            value = resolved[key]["value"]
            if key == "features.milestones":  # typed list: build the structured nodes
                from core.config import MilestoneConfig

                value = [OmegaConf.structured(MilestoneConfig(**m)) for m in value]
            OmegaConf.update(cfg, key, value, merge=False)
            if announce:
                shown = resolved[key]["value"]
                if key == "features.milestones":
                    shown = [f"{m['name']} (expected by day {m['expected_days']})" for m in shown]
                log.info(
                    "default from the data: %s=%s (%s; override with %s=...)",
                    key,
                    shown,
                    resolved[key].get("reason", ""),
                    key,
                )


def with_data_defaults(
    cfg: Any, tables: Any, profile: dict[str, Any] | None = None, announce: bool = True
) -> tuple[Any, dict[str, dict[str, Any]]]:
    """(a copy of ``cfg`` with the open cutoff schedule filled, what was filled). The vocabulary,
    milestones and segments are the pipelines' business (``resolve_defaults``); an open
    vocabulary is picked by the feature build itself. Profiles ``tables`` only when one is open and no ``profile`` is
    given."""
    copy = (
        OmegaConf.create(OmegaConf.to_container(cfg, resolve=False))
        if not OmegaConf.is_config(cfg)
        else cfg.copy()
    )
    assert isinstance(copy, DictConfig)
    # Only settings the features depend on and that are still open trigger a profile (the
    # pipelines resolve everything beforehand, so this is for direct callers: tests, notebooks).
    # (an open vocabulary is picked by the build itself: features.vocabulary.pick_vocabulary)
    open_keys = [k for k in ("snapshot.every_days", "snapshot.count") if _get(cfg, k) is None]
    if not open_keys:
        return copy, {}
    if profile is None:
        profile = profile_for(tables, cfg)
    resolved = {k: v for k, v in resolve_defaults(cfg, profile).items() if k in open_keys}
    apply_defaults(copy, resolved, announce=announce)
    return copy, resolved


def profile_for(tables: Any, cfg: DictConfig) -> dict[str, Any]:
    """``ingest.profile.profile_tables`` with the settings the config states: the label's
    horizon (for the cutoff count), the default event name, and the non-usage events (never
    milestone candidates)."""
    from ingest.profile import profile_tables

    return profile_tables(
        tables,
        horizon_days=cfg.label.horizon_days,
        default_event=cfg.data.default_event,
        milestone_exclude=_non_usage(cfg),
    )


def _non_usage(cfg: DictConfig) -> list[str]:
    """Events that are never a usage step (friction, cancellations): not milestone candidates."""
    f, lab = cfg.features, cfg.label
    return sorted(
        {
            *f.non_usage_events,
            *lab.excluded_events,
            *lab.churn_events,
            *f.error_events,
            *f.ticket_events,
        }
    )
