"""Labels: exact values for each label type, unobserved horizons, already-inactive accounts."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from core.config import load_config
from core.errors import ConfigValueError
from features.labels import build_labels
from features.windows import T, date_to_day
from tests.features.helpers import accounts, events, tables

T0 = date(2026, 3, 1)


def rows(ids: list[str], cutoff: date = T0) -> pl.DataFrame:
    return pl.DataFrame(
        {"account_id": ids, "cutoff": [cutoff] * len(ids), T: [date_to_day(cutoff)] * len(ids)},
        schema={"account_id": pl.String, "cutoff": pl.Date, T: pl.Int32},
    )


def weekly(acc: str, users: list[str], days: list[str]) -> list[tuple[str, str, str, str]]:
    return [(acc, u, "login", f"{d} 10:00") for d in days for u in users]


BASE_WEEKS = [
    "2026-02-22",
    "2026-02-15",
    "2026-02-08",
    "2026-02-01",
]  # one day in each baseline week
ASSESS_WEEKS = ["2026-03-15", "2026-03-22"]  # [t+14, t+21), [t+21, t+28)


def labels(ev, lname: str, ids, acc=None, observed="2026-03-29", cutoff=T0, **over):
    lcfg = load_config([f"label={lname}", *[f"label.{k}={v}" for k, v in over.items()]]).label
    out = build_labels(tables(events(ev), None, acc, observed), rows(ids, cutoff), lcfg)
    return dict(zip(out["account_id"], out["label"], strict=True))


def test_usage_drop_exact():
    ev = (
        weekly("drop", ["u1", "u2"], BASE_WEEKS)
        + weekly("drop", ["u1"], ASSESS_WEEKS[:1])
        + weekly("flat", ["v1", "v2"], BASE_WEEKS)
        + weekly("flat", ["v1"], ASSESS_WEEKS)
        + weekly("idle", ["w1"], BASE_WEEKS[:1])
        + weekly("idle", ["w1"], ASSESS_WEEKS)
        # activity in the first half of the horizon does not count for the assessment
        + weekly("early", ["x1", "x2"], [*BASE_WEEKS, "2026-03-02", "2026-03-09"])
        + weekly("asleep", ["y1"], BASE_WEEKS[:1])
        + weekly("asleep", ["y1"], ASSESS_WEEKS[:1])
    )
    ids = ["drop", "flat", "idle", "early", "asleep"]
    got = labels(ev, "usage_drop", ids)
    # drop: baseline WAU 2, assess mean 0.5 < 1 -> 1; flat: assess 1.0 is not < 1.0 -> 0;
    # early: nothing in the assess weeks -> 1. Dormant (baseline 0.25 < min_baseline_users):
    # idle comes back (assess WAU 1.0) -> 0; asleep stays below it (assess 0.5) -> 1
    assert got == {"drop": 1, "flat": 0, "idle": 0, "early": 1, "asleep": 1}
    # label.dormant=exclude: the dormant accounts get no label
    assert labels(ev, "usage_drop", ids, dormant="exclude") == {
        "drop": 1,
        "flat": 0,
        "idle": None,
        "early": 1,
        "asleep": None,
    }


def test_labels_are_null_when_the_horizon_is_not_observed():
    ev = weekly("drop", ["u1", "u2"], BASE_WEEKS)
    assert labels(ev, "usage_drop", ["drop"], observed="2026-03-28 23:59") == {"drop": None}
    assert labels(ev, "usage_drop", ["drop"], observed="2026-03-29") == {"drop": 1}
    assert labels(ev, "inactivity", ["drop"], observed="2026-03-28") == {"drop": None}


def test_inactivity_exact():
    ev = (
        weekly("busy", ["u1"], [*BASE_WEEKS, "2026-03-28"])  # last horizon day counts
        + weekly("gone", ["v1"], BASE_WEEKS)
        + [("gone", "v1", "support_ticket_opened", "2026-03-05 10:00")]
        + weekly("late", ["w1"], BASE_WEEKS)
        + [("late", "w1", "login", "2026-03-29 00:00")]
        + [("never", "z", "login", "2026-03-05 10:00")]
        + [("asleep", "y", "login", "2026-01-05 10:00")]
    )
    ids = ["busy", "gone", "late", "never", "asleep"]
    got = labels(ev, "inactivity", ids, observed="2026-04-30")
    # gone: only an excluded event in the horizon -> 1; late: first use at t + 28 is outside -> 1;
    # dormant (no baseline use): never comes back in the horizon -> 0, asleep does not -> 1
    assert got == {"busy": 0, "gone": 1, "late": 1, "never": 0, "asleep": 1}
    assert labels(ev, "inactivity", ids, observed="2026-04-30", dormant="exclude") == {
        "busy": 0,
        "gone": 1,
        "late": 1,
        "never": None,
        "asleep": None,
    }


def test_churn_event_exact():
    ev = [
        ("ev_in", "u", "subscription_cancelled", "2026-03-28 23:59"),
        ("ev_out", "u", "subscription_cancelled", "2026-03-29 00:00"),
        ("ev_before", "u", "subscription_cancelled", "2026-02-28 10:00"),
        ("crm", "u", "login", "2026-02-20 10:00"),
        ("stay", "u", "login", "2026-02-20 10:00"),
    ]
    acc = accounts(
        [
            {"account_id": a, "created_at": "2025-01-01"}
            for a in ("ev_in", "ev_out", "ev_before", "stay")
        ]
        + [{"account_id": "crm", "created_at": "2025-01-01", "churned_at": "2026-03-06"}]
    )
    got = labels(
        ev,
        "churn_event",
        ["ev_in", "ev_out", "ev_before", "crm", "stay"],
        acc=acc,
        observed="2026-06-01",
        horizon_days=28,
    )
    assert got == {"ev_in": 1, "ev_out": 0, "ev_before": 0, "crm": 1, "stay": 0}


def test_label_dtype_is_int8():
    lcfg = load_config([]).label
    out = build_labels(tables(events(weekly("a", ["u"], BASE_WEEKS))), rows(["a"]), lcfg)
    assert out.schema["label"] == pl.Int8


@pytest.mark.parametrize(
    "over",
    [
        ["label.assess_days=10"],
        ["label.baseline_days=30"],
        ["label.assess_days=35"],
    ],  # a bad label.name / label.dormant fails when composing (enums: tests/pipelines)
)
def test_bad_label_config_names_the_value(over):
    lcfg = load_config(over).label
    with pytest.raises(ConfigValueError, match="label"):
        build_labels(tables(events(weekly("a", ["u"], BASE_WEEKS))), rows(["a"]), lcfg)
