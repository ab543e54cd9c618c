"""Vocabulary family (features/vocabulary.py): the data's own event types, exact numbers.

A foreign log (a shop: "Purchase" and "page view"), cutoff t = 2026-03-01 (00:00 UTC).
Windows are [t - w, t): 7d = [02-22, 03-01), 28d = [02-01, 03-01), 90d = [2025-12-01, 03-01);
the trend's baseline is the 56 days before the last 28: [01-04, 02-01).
"""

from __future__ import annotations

import logging

import polars as pl
import pytest

from core.config import load_config
from features.build import build_dataset, build_features
from features.catalogue import expand_patterns
from features.cutoffs import cutoff_dates
from features.vocabulary import pick_vocabulary, unique_slugs
from ingest.profile import slug as _slug
from ingest.tables import TS, Tables
from tests.features.helpers import (
    SCENARIO_ACCOUNTS,
    SCENARIO_EVENTS,
    SCENARIO_USERS,
    T0,
    accounts,
    by_account,
    events,
    scenario,
    ts,
    users,
)
from tests.features.helpers import tables as make_tables

SHOP = [
    # (account, event, timestamp, value)
    ("p", "Purchase", "2026-02-28 23:59", 10.0),  # t - 1: in every window
    ("p", "Purchase", "2026-02-25 10:00", 20.0),
    ("p", "Purchase", "2026-02-10 10:00", 30.0),  # 28d, not 7d
    ("p", "Purchase", "2026-01-20 10:00", 40.0),  # baseline
    ("p", "Purchase", "2026-01-10 10:00", 50.0),  # baseline
    ("p", "Purchase", "2025-11-20 10:00", 60.0),  # before the 90 days
    ("p", "Purchase", "2026-03-01 00:00", 100.0),  # at t: never visible
    ("p", "page view", "2026-02-27 10:00", None),
    ("p", "page view", "2026-02-26 10:00", None),
    ("p", "page view", "2026-01-05 10:00", None),  # baseline
    ("q", "page view", "2026-02-20 10:00", None),
]


def shop_events(rows=SHOP) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "account_id": [r[0] for r in rows],
            "user_id": [r[0] for r in rows],
            "event": [r[1] for r in rows],
            "timestamp": [ts(r[2]) for r in rows],
            "value": [r[3] for r in rows],
        },
        schema={
            "account_id": pl.String,
            "user_id": pl.String,
            "event": pl.String,
            "timestamp": TS,
            "value": pl.Float64,
        },
    )


def shop(rows=SHOP) -> Tables:
    acc = accounts(
        [
            {"account_id": "p", "created_at": "2025-11-01"},
            {"account_id": "q", "created_at": "2026-01-01"},
        ]
    )
    return Tables(
        shop_events(rows), None, acc, ts("2026-06-01"), ["industry", "size_tier", "use_case"]
    )


def shop_cfg(*over: str):
    return load_config(
        [
            "snapshot.as_of=2026-03-01",
            "snapshot.count=1",
            "snapshot.min_tenure_days=0",
            "features.families=[vocabulary,history]",
            *over,
        ]
    )


@pytest.fixture(scope="module")
def rows() -> dict[str, dict]:
    return by_account(build_features(shop(), cutoff_dates(T0, 7, 1), shop_cfg()))


def test_counts_per_window_have_exclusive_ends(rows):
    p, q = rows["p"], rows["q"]
    assert (p["ev_purchase_7d"], p["ev_purchase_28d"], p["ev_purchase_90d"]) == (2, 3, 5)
    assert (p["ev_page_view_7d"], p["ev_page_view_28d"], p["ev_page_view_90d"]) == (2, 2, 3)
    assert (q["ev_purchase_7d"], q["ev_purchase_28d"], q["ev_page_view_28d"]) == (0, 0, 1)


def test_days_since_last_is_null_when_never(rows):
    p, q = rows["p"], rows["q"]
    assert (p["ev_purchase_days_since_last"], p["ev_page_view_days_since_last"]) == (1, 2)
    assert q["ev_page_view_days_since_last"] == 9
    assert q["ev_purchase_days_since_last"] is None  # no 9999 sentinel


def test_trend_ratio_recent_rate_over_baseline_rate(rows):
    p, q = rows["p"], rows["q"]
    # purchases: 3 in the last 28 days, 2 in the 56 before: (3/28) / (2/56)
    assert p["ev_purchase_trend_ratio"] == pytest.approx(3.0)
    assert p["ev_page_view_trend_ratio"] == pytest.approx((2 / 28) / (1 / 56))
    assert q["ev_page_view_trend_ratio"] is None  # nothing in the baseline: undefined


def test_share_of_the_accounts_events_in_the_recent_window(rows):
    p, q = rows["p"], rows["q"]
    # p: 3 purchases + 2 page views in [02-01, 03-01)
    assert (p["ev_purchase_share_28d"], p["ev_page_view_share_28d"]) == (
        pytest.approx(0.6),
        pytest.approx(0.4),
    )
    assert (q["ev_purchase_share_28d"], q["ev_page_view_share_28d"]) == (0.0, 1.0)


def test_events_at_or_after_t_change_nothing():
    later = [
        *SHOP,
        ("p", "Purchase", "2026-03-01 00:00", 5.0),
        ("q", "Purchase", "2026-03-04 09:00", 1.0),
        ("q", "page view", "2026-03-02 09:00", None),
    ]
    cut = cutoff_dates(T0, 7, 1)
    a = build_features(shop(), cut, shop_cfg())
    b = build_features(shop(later), cut, shop_cfg())
    assert a.equals(b)


def test_catalogue_names_use_slugs_and_sentences_the_events_own_words():
    ds, cat = build_dataset(shop(), shop_cfg())
    ev = [c for c in ds.columns if c.startswith("ev_")]
    assert ev == [
        f"ev_{s}_{x}"
        for s in ("page_view", "purchase")
        for x in ("7d", "28d", "90d", "days_since_last", "trend_ratio", "share_28d")
    ]
    e = cat["ev_page_view_28d"]
    assert e["family"] == "vocabulary" and e["higher_is"] == "healthier"
    assert (
        e["sentence"]
        == "{value} × “page view” in the last 28 days; {entities} like this one have {peer}."
    )
    assert cat["ev_purchase_days_since_last"]["higher_is"] == "riskier"
    assert "“Purchase”" in cat["ev_purchase_trend_ratio"]["sentence"]


def test_the_automatic_pick_is_logged_in_one_line(caplog):
    with caplog.at_level(logging.INFO, logger="adoption_decay"):
        build_features(shop(), cutoff_dates(T0, 7, 1), shop_cfg())
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("vocabulary:")]
    assert lines == [
        "vocabulary: 2 event types reached by >= 0.02 of the accounts (at most 12): "
        "['page view', 'Purchase']"
    ]


def test_configured_vocabulary_leaves_out_absent_names(caplog):
    cfg = shop_cfg("features.vocabulary_events=[Purchase,refund_issued]")
    with caplog.at_level(logging.INFO, logger="adoption_decay"):
        df = build_features(shop(), cutoff_dates(T0, 7, 1), cfg)
    ev = [c for c in df.columns if c.startswith("ev_")]
    assert ev and all(c.startswith("ev_purchase_") for c in ev)
    assert sum("refund_issued" in r.getMessage() for r in caplog.records) == 1


def test_a_single_event_type_skips_the_family(caplog):
    one = [r for r in SHOP if r[1] == "Purchase"]
    with caplog.at_level(logging.INFO, logger="adoption_decay"):
        df = build_features(shop(one), cutoff_dates(T0, 7, 1), shop_cfg())
    assert not [c for c in df.columns if c.startswith("ev_")]
    assert "lifetime_events" in df.columns  # history still there
    assert sum("'vocabulary' left out" in r.getMessage() for r in caplog.records) == 1


def test_slug_rule():
    assert _slug("Page View!") == "page_view"
    assert _slug("Kündigung bestätigt") == "kundigung_bestatigt"
    assert _slug("checkout.completed/v2") == "checkout_completed_v2"
    assert len(_slug("x" * 60)) == 40
    assert _slug("???").startswith("evt_") and len(_slug("???")) == 12
    assert _slug("???") != _slug("!!!")


def test_slug_collisions_are_suffixed_in_sorted_order():
    got = unique_slugs(["page view", "Page-View", "page_view", "y" * 45, "y" * 41])
    assert got["Page-View"] == "page_view"  # sorted first ("P" < "p")
    assert got["page view"] == "page_view_2"
    assert got["page_view"] == "page_view_3"
    assert got["y" * 41] == "y" * 40
    assert got["y" * 45] == "y" * 38 + "_2"


def test_colliding_events_get_distinct_columns():
    rows = [*SHOP, ("q", "Page-View", "2026-02-21 10:00", None)]
    cfg = shop_cfg()
    cfg.features.vocabulary_events = ["page view", "Page-View"]
    df = build_features(shop(rows), cutoff_dates(T0, 7, 1), cfg)
    r = by_account(df)["q"]
    assert (r["ev_page_view_28d"], r["ev_page_view_2_28d"]) == (1, 1)  # Page-View, page view
    assert r["ev_page_view_days_since_last"] == 8 and r["ev_page_view_2_days_since_last"] == 9


def firsts(pairs: list[tuple[str, str]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "account_id": [a for a, _ in pairs],
            "event": [e for _, e in pairs],
            "day": [0] * len(pairs),
            "n": [1] * len(pairs),
        },
        schema={"account_id": pl.String, "event": pl.String, "day": pl.Int32, "n": pl.Int64},
    )


def test_auto_pick_share_threshold_cap_and_ties():
    cfg = load_config([]).features
    # 10 accounts; "rare" reached by 1 (10%), "b"/"a" by 5 (tie -> by name), "top" by 10
    pairs = [(f"x{i}", "top") for i in range(10)] + [(f"x{i}", "b") for i in range(5)]
    pairs += [(f"x{i}", "a") for i in range(5, 10)] + [("x0", "rare")]
    fr = firsts(pairs)
    assert pick_vocabulary(fr, cfg) == ["top", "a", "b", "rare"]
    cfg.vocabulary_min_account_share = 0.2
    assert pick_vocabulary(fr, cfg) == ["top", "a", "b"]
    cfg.vocabulary_max_events = 2
    assert pick_vocabulary(fr, cfg) == ["top", "a"]
    cfg.non_usage_events = ["top"]  # friction / cancellations: not vocabulary
    assert pick_vocabulary(fr, cfg) == ["a", "b"]


def test_auto_pick_reads_only_events_before_the_cutoff():
    cfg = load_config([]).features
    fr = firsts([("x0", "a"), ("x1", "late")]).with_columns(
        pl.Series("day", [5, 20], dtype=pl.Int32)
    )
    assert pick_vocabulary(fr, cfg, before=10) == ["a"]
    assert pick_vocabulary(fr, cfg) == ["a", "late"]


def test_unresolved_vocabulary_expands_to_no_entries():
    cfg = load_config([])
    assert not [n for n in expand_patterns(cfg.catalogue, cfg.features) if n.startswith("ev_")]


def test_on_the_demo_scenario_every_event_type_is_vocabulary():
    """The SaaS scenario: the vocabulary sits beside the configured key events."""
    cfg = load_config(["snapshot.as_of=2026-03-01", "snapshot.count=1"])
    a = by_account(build_features(scenario(), cutoff_dates(T0, 7, 1), cfg))["a"]
    assert a["ev_dashboard_viewed_7d"] == 1 and a["ev_dashboard_viewed_days_since_last"] == 7
    assert a["ev_login_7d"] == 1  # the login at t is not seen


# --- configured names whose source is absent: no constant columns --------------------------------
def _logged(caplog, text: str) -> int:
    return sum(text in r.getMessage() for r in caplog.records)


def test_absent_key_events_roles_and_friction_give_no_column(caplog):
    ev = [r for r in SCENARIO_EVENTS if r[2] not in ("integration_error", "user_invited")]
    tab = make_tables(events(ev), users(SCENARIO_USERS), accounts(SCENARIO_ACCOUNTS))
    cfg = load_config(["snapshot.as_of=2026-03-01", "snapshot.count=1"])
    cfg.features.roles = ["admin", "builder", "member", "owner"]
    with caplog.at_level(logging.INFO, logger="adoption_decay"):
        df = build_features(tab, cutoff_dates(T0, 7, 1), cfg)
    cols = set(df.columns)
    # key events that never occur: no days_since_last_<event> (one line), present ones stay
    assert {
        "days_since_last_automation_launched",
        "days_since_last_api_call",
        "days_since_last_integration_synced",
    }.isdisjoint(cols)
    assert "days_since_last_dashboard_viewed" in cols
    assert _logged(caplog, "features.key_events absent") == 1
    # no error events in the data: no integration_errors_* (friction and engagement); tickets stay
    assert not [c for c in cols if c.startswith("integration_errors_")]
    assert {"support_tickets_28d", "support_tickets_last_week_ratio"} <= cols
    assert _logged(caplog, "features.error_events") == 1
    # no invite events: no invites_first_10d, the observed onboarding days stay
    assert "invites_first_10d" not in cols and "onboarding_observed_days" in cols
    assert _logged(caplog, "features.invite_events") == 1
    # a role nobody has: none of its columns
    assert not [c for c in cols if "owner" in c]
    assert {"active_admins_28d", "admins_existing"} <= cols
    assert _logged(caplog, "features.roles left out") == 1
    # milestones whose events never occur (automation_launched): left out, one line
    assert not [c for c in cols if "first_automation" in c]
    assert _logged(caplog, "milestones left out") == 1


def test_no_feature_is_constant_because_its_source_is_absent():
    """Over a multi-cutoff dataset of the SaaS scenario, no configured-name column is constant
    for lack of its events (the columns that are constant here have their events in the data)."""
    cfg = load_config(["snapshot.as_of=2026-03-08", "snapshot.count=3", "snapshot.every_days=7"])
    ds, _ = build_dataset(scenario(), cfg)
    assert not [
        c
        for c in ds.columns
        if c.startswith("days_since_last_") and ds.get_column(c).drop_nulls().eq(9999).all()
    ]


def test_the_group_by_path_for_large_grids_gives_the_same_counts(monkeypatch):
    import features.windows.tables as tables_mod

    cut = cutoff_dates("2026-03-08", 7, 3)
    cfg = shop_cfg("snapshot.as_of=2026-03-08", "snapshot.count=3")
    dense = build_features(shop(), cut, cfg)
    monkeypatch.setattr(tables_mod, "DENSE_MAX", 0)  # also the engine's per-event counts
    assert dense.equals(build_features(shop(), cut, cfg))
