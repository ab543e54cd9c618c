"""Catalogue texts read as words: configured identifiers ({event}, {metric}, {role}) lose their
underscores in descriptions and sentences, feature names and feature references keep them, and a
literal "1 days" becomes "1 day"."""

from __future__ import annotations

from core.config import load_config
from features.catalogue import expand_patterns, humanise

CFG = load_config(["snapshot.as_of=2026-03-08", "snapshot.count=3", "snapshot.every_days=7"])


def test_event_names_read_as_words_in_texts_but_not_in_names() -> None:
    fcfg = CFG.features.copy()
    fcfg.key_events = ["integration_synced", "workflow_completed"]
    cat = expand_patterns(CFG.catalogue, fcfg)
    e = cat["days_since_last_integration_synced"]
    assert e["description"] == (
        "days from the last integration synced event to the cutoff "
        f"({int(fcfg.never_days)} if never)"
    )
    assert e["sentence"] == (
        "The last integration synced was {value} days ago; for {entities} like "
        "this one it is {peer} days."
    )
    assert cat["days_since_last_workflow_completed"]["sentence"].startswith(
        "The last workflow completed was"
    )


def test_feature_references_keep_raw_names_while_roles_read_humanise() -> None:
    fcfg = CFG.features.copy()
    fcfg.roles = ["power_user"]
    cat = expand_patterns(CFG.catalogue, fcfg)
    assert cat["active_power_users_28d"]["sentence"] == (
        "Active power users went from {active_power_users_prev_28d} to {value} in the last 28 days; "
        "{entities} like this one have {peer}."
    )


def test_peer_metric_reads_humanise() -> None:
    fcfg = CFG.features.copy()
    fcfg.peer_metrics = ["usage_events_28d"]
    cat = expand_patterns(CFG.catalogue, fcfg)
    assert cat["usage_events_28d_peer_pct"]["sentence"] == (
        "On usage events (28 days) this {entity} sits at the {value} percentile of its peers."
    )


def test_a_one_day_window_is_singular_in_texts() -> None:
    fcfg = CFG.features.copy()
    fcfg.windows_days = [1, 11]
    cat = expand_patterns(CFG.catalogue, fcfg)
    assert cat["support_tickets_1d"]["description"] == (
        "support tickets opened in the 1 day before the cutoff"
    )
    assert cat["support_tickets_11d"]["description"] == (
        "support tickets opened in the 11 days before the cutoff"
    )


def test_humanise() -> None:
    assert humanise("integration_synced") == "integration synced"
    assert humanise("api_call") == "api call"
    assert humanise("active_days_28d") == "active days (28 days)"
    assert humanise("x_1d") == "x (1 day)"
    assert humanise("admin") == "admin"
