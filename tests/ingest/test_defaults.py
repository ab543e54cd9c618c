"""Data-driven defaults: open settings are filled from the profile, explicit ones are kept."""

from __future__ import annotations

import logging

from core.config import load_config
from ingest.defaults import apply_defaults, resolve_defaults

PROFILE = {
    "event_types": [{"event": "play"}, {"event": "search"}, {"event": "payment_failed"}],
    "segments": [{"column": "country"}, {"column": "plan"}],
    "suggested": {
        "snapshot.every_days": {"value": 14, "reason": "gap 9 days"},
        "snapshot.count": {"value": 9, "reason": "span 160 days"},
        "features.vocabulary_events": {
            "value": ["play", "search", "payment_failed"],
            "reason": "3 of 3 reached",
        },
        "milestones": {
            "value": [
                {
                    "name": "first_search",
                    "events": ["search"],
                    "expected_days": 3,
                    "description": "first search",
                },
                {
                    "name": "first_payment_failed",
                    "events": ["payment_failed"],
                    "expected_days": 20,
                    "description": "first payment failed",
                },
            ],
            "reason": "reached by 5-95%",
        },
        "entity": {"value": "customer", "reason": "single-user"},
    },
}


def test_open_settings_come_from_the_profile_and_configured_names_absent_are_left_out(caplog):
    cfg = load_config(["features.non_usage_events=[payment_failed]"])
    got = resolve_defaults(cfg, PROFILE)
    assert got["snapshot.every_days"]["value"] == 14 and got["snapshot.count"]["value"] == 9
    assert got["features.vocabulary_events"]["value"] == ["play", "search"]  # less non-usage
    # the demo's configured milestones have no events here: discovered ones, minus non-usage
    assert [m["name"] for m in got["features.milestones"]["value"]] == ["first_search"]
    assert "left out" in got["features.milestones"]["reason"]
    assert got["features.peer_segment"]["value"] == "country"  # size_tier is not a column
    assert got["model.segment_key"]["value"] == "country"
    assert got["data.entity"]["value"] == "customer"
    with caplog.at_level(logging.INFO, logger="adoption_decay"):
        apply_defaults(cfg, got)
    assert cfg.snapshot.every_days == 14 and cfg.features.milestones[0].expected_days == 3
    lines = [r.getMessage() for r in caplog.records if "default from the data" in r.getMessage()]
    assert len(lines) == len(got)  # one line per default, each naming how to override it
    assert all("override with" in line for line in lines)


def test_explicit_settings_are_kept() -> None:
    cfg = load_config(
        [
            "snapshot.every_days=7",
            "snapshot.count=4",
            "features.peer_segment=plan",
            "model.segment_key=null",
            "data.entity=member",
            "features.vocabulary_events=[play]",
        ]
    )
    got = resolve_defaults(cfg, PROFILE)
    assert not {
        "snapshot.every_days",
        "snapshot.count",
        "features.peer_segment",
        "model.segment_key",
        "data.entity",
        "features.vocabulary_events",
    } & set(got)


def test_configured_milestones_whose_events_occur_are_kept_and_none_discovered() -> None:
    cfg = load_config(["features.milestones=[{name: s, events: [search], expected_days: 5}]"])
    assert "features.milestones" not in resolve_defaults(cfg, PROFILE)
    off = load_config(["features.discover_milestones=false"])
    got = resolve_defaults(off, PROFILE)["features.milestones"]
    assert got["value"] == [] and "discovered" not in got["reason"]
