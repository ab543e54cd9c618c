"""``ingest.profile``: exact numbers on a hand-built ten-event log, the suggestion rules, slugs.

The scenario (observed until 2026-03-01, days are UTC):

    #  account user event   timestamp         value plan   weekday
    1  a1      u1   signup  2026-01-05 09:00  10    free   Mon
    2  a1      u2   report  2026-01-05 15:00  -     free   Mon
    3  a1      u1   report  2026-01-08 10:00  -2    pro    Thu
    4  a1      u1   export  2026-01-12 10:00  -     pro    Mon
    5  a2      u3   signup  2026-01-10 08:00  5     team   Sat
    6  a2      u3   export  2026-01-11 08:00  -     team   Sun
    7  a2      u3   report  2026-01-21 08:00  -     team   Wed
    8  a3      u4   signup  2026-01-15 12:00  -     -      Thu
    9  a3      u4   signup  2026-01-15 13:00  -     -      Thu
   10  a3      u4   invite  2026-02-14 12:00  1     -      Sat

Active days: a1 {Jan 5, 8, 12} (gaps 3, 4), a2 {Jan 10, 11, 21} (gaps 1, 10), a3 {Jan 15,
Feb 14} (gap 30): per-account median gaps 3.5, 5.5, 30 -> typical gap 5.5 days.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.profile import SLUG_PATTERN, profile_tables, slug, unique_slugs
from ingest.tables import TS, Tables


def ts(s: str) -> datetime:
    fmt = "%Y-%m-%d %H:%M" if " " in s else "%Y-%m-%d"
    return datetime.strptime(s, fmt).replace(tzinfo=UTC)


ROWS = [
    ("a1", "u1", "signup", "2026-01-05 09:00", 10.0, "free"),
    ("a1", "u2", "report", "2026-01-05 15:00", None, "free"),
    ("a1", "u1", "report", "2026-01-08 10:00", -2.0, "pro"),
    ("a1", "u1", "export", "2026-01-12 10:00", None, "pro"),
    ("a2", "u3", "signup", "2026-01-10 08:00", 5.0, "team"),
    ("a2", "u3", "export", "2026-01-11 08:00", None, "team"),
    ("a2", "u3", "report", "2026-01-21 08:00", None, "team"),
    ("a3", "u4", "signup", "2026-01-15 12:00", None, None),
    ("a3", "u4", "signup", "2026-01-15 13:00", None, None),
    ("a3", "u4", "invite", "2026-02-14 12:00", 1.0, None),
]


def events(rows: list[tuple], plan: bool = True) -> pl.DataFrame:
    """(account, user, event, 'YYYY-MM-DD HH:MM', value, plan) tuples -> canonical events."""
    data = {
        "account_id": [r[0] for r in rows],
        "user_id": [r[1] for r in rows],
        "event": [r[2] for r in rows],
        "timestamp": [ts(r[3]) for r in rows],
        "value": [r[4] for r in rows],
    }
    schema = {
        "account_id": pl.String,
        "user_id": pl.String,
        "event": pl.String,
        "timestamp": TS,
        "value": pl.Float64,
    }
    if plan:
        data["plan"] = [r[5] for r in rows]
        schema["plan"] = pl.String
    return pl.DataFrame(data, schema=schema)


def users() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "user_id": ["u1", "u2", "u3", "u4"],
            "account_id": ["a1", "a1", "a2", "a3"],
            "role": ["admin", "member", "admin", "viewer"],
            "created_at": [ts("2026-01-01")] * 4,
            "deactivated_at": [None] * 4,
        },
        schema={
            "user_id": pl.String,
            "account_id": pl.String,
            "role": pl.String,
            "created_at": TS,
            "deactivated_at": TS,
        },
    )


def accounts() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "account_id": ["a1", "a2", "a3"],
            "industry": ["saas", "retail", "saas"],
            "created_at": [ts("2026-01-01")] * 3,
        },
        schema={"account_id": pl.String, "industry": pl.String, "created_at": TS},
    )


def tables(
    ev: pl.DataFrame | None = None, observed_until: str = "2026-03-01", with_tables: bool = True
) -> Tables:
    return Tables(
        events(ROWS) if ev is None else ev,
        users() if with_tables else None,
        accounts() if with_tables else None,
        ts(observed_until),
        ["industry"] if with_tables else [],
    )


def daily(
    account_days: dict[str, list[int]], start: str = "2024-01-01", event: str = "use"
) -> pl.DataFrame:
    """One event per listed day offset (from ``start``) per account, user = account."""
    t0 = ts(start)
    rows = [
        (a, a, event, (t0 + timedelta(days=d, hours=12)).strftime("%Y-%m-%d %H:%M"), None, None)
        for a, days in account_days.items()
        for d in days
    ]
    return events(rows, plan=False)


@pytest.fixture(scope="module")
def prof() -> dict:
    return profile_tables(tables())


# --------------------------------------------------------------------------- description


def test_history(prof: dict) -> None:
    h = prof["history"]
    assert h["first_event"] == "2026-01-05T09:00:00+00:00"
    assert h["last_event"] == "2026-02-14T12:00:00+00:00"
    assert h["observed_until"] == "2026-03-01T00:00:00+00:00"
    assert h["span_days"] == 55  # 2026-01-05 .. 2026-03-01 (exclusive)
    assert h["days_since_last_event"] == 14.5
    assert (h["n_events"], h["n_accounts"], h["n_users"]) == (10, 3, 4)
    assert h["events_per_account"] == {"median": 3.0, "p90": 3.8}  # [3, 3, 4], linear
    assert h["active_days_per_account"] == {"median": 3.0}  # [3, 3, 2]


def test_event_types_reach_and_time_to_first(prof: dict) -> None:
    by = {e["event"]: e for e in prof["event_types"]}
    assert [e["event"] for e in prof["event_types"]] == ["signup", "export", "report", "invite"]
    assert prof["n_event_types"] == 4 and prof["event_types_listed"] == 4
    assert prof["event_column_absent"] is False
    assert by["signup"] == {
        "event": "signup",
        "slug": "signup",
        "n_events": 4,
        "share_events": 0.4,
        "n_accounts": 3,
        "share_accounts": 1.0,
        "median_days_to_first": 0.0,
        "share_first_day": 1.0,
    }
    # report: a1 on its first day (0), a2 on Jan 21 after starting Jan 10 (11) -> 5.5
    assert by["report"]["n_events"] == 3 and by["report"]["n_accounts"] == 2
    assert by["report"]["share_accounts"] == pytest.approx(2 / 3, abs=1e-6)
    assert by["report"]["median_days_to_first"] == 5.5
    assert by["report"]["share_first_day"] == pytest.approx(1 / 3, abs=1e-6)
    # export: a1 day 7, a2 day 1 -> 4
    assert by["export"]["median_days_to_first"] == 4.0 and by["export"]["share_first_day"] == 0
    assert by["invite"]["median_days_to_first"] == 30.0 and by["invite"]["n_accounts"] == 1


def test_users_and_roles(prof: dict) -> None:
    u = prof["users"]
    assert u["user_ids_differ"] is True and u["share_events_user_differs"] == 1.0
    assert u["users_per_account"] == {"median": 1.0, "p90": 1.8}  # [2, 1, 1]
    assert u["has_users_table"] is True and u["n_users_table"] == 4
    assert u["roles"] == [
        {"role": "admin", "n": 2},
        {"role": "member", "n": 1},
        {"role": "viewer", "n": 1},
    ]
    assert prof["suggested"]["entity"]["value"] == "account"


def test_single_user_log_is_detected() -> None:
    ev = events([(a, a, e, t, v, p) for a, _, e, t, v, p in ROWS])
    prof = profile_tables(tables(ev, with_tables=False))
    assert prof["users"]["user_ids_differ"] is False
    assert prof["users"]["share_events_user_differs"] == 0.0
    assert prof["users"]["users_per_account"] == {"median": 1.0, "p90": 1.0}
    assert prof["users"]["roles"] == [] and prof["users"]["has_users_table"] is False
    assert prof["suggested"]["entity"]["value"] == "customer"
    assert "single-user" in prof["suggested"]["entity"]["reason"]


def test_value_stats(prof: dict) -> None:
    assert prof["value"] == {
        "present": True,
        "n_non_null": 4,
        "share_non_null": 0.4,
        "sum": 14.0,
        "median": 3.0,
        "p90": 8.5,  # [-2, 1, 5, 10]
        "min": -2.0,
        "max": 10.0,
        "share_negative": 0.25,
    }


def test_value_absent() -> None:
    prof = profile_tables(tables(daily({"a": [0, 1]}), "2024-03-01", with_tables=False))
    assert prof["value"]["present"] is False and prof["value"]["sum"] is None
    assert prof["value"]["share_negative"] is None


def test_cadence(prof: dict) -> None:
    c = prof["cadence"]
    assert c["typical_gap_days"] == 5.5 and c["n_accounts_with_gap"] == 3
    assert c["share_single_active_day"] == 0.0
    assert c["share_weekend_events"] == 0.3  # events 5 (Sat), 6 (Sun), 10 (Sat)
    assert c["share_events_by_weekday"] == {
        "mon": 0.3,
        "tue": 0.0,
        "wed": 0.1,
        "thu": 0.3,
        "fri": 0.0,
        "sat": 0.2,
        "sun": 0.1,
    }


def test_segments_from_accounts_and_events(prof: dict) -> None:
    seg = {s["column"]: s for s in prof["segments"]}
    assert seg["industry"] == {
        "column": "industry",
        "source": "accounts",
        "n_distinct": 2,
        "top_values": [{"value": "saas", "n": 2}, {"value": "retail", "n": 1}],
        "null_share": 0.0,
        "varies_within_account": False,
        "share_accounts_varying": None,
    }
    plan = seg["plan"]
    assert plan["source"] == "events" and plan["n_distinct"] == 3
    assert plan["top_values"] == [
        {"value": "team", "n": 3},
        {"value": "free", "n": 2},
        {"value": "pro", "n": 2},
    ]
    assert plan["null_share"] == 0.3
    # a1 moved from free to pro; a2 stays on team; a3 has no plan
    assert plan["varies_within_account"] is True
    assert plan["share_accounts_varying"] == pytest.approx(1 / 3, abs=1e-6)


def test_event_columns_argument_restricts_profiled_columns() -> None:
    ev = events(ROWS).with_columns(pl.lit("web").alias("device"), pl.lit(1).alias("n"))
    prof = profile_tables(tables(ev))
    assert [s["column"] for s in prof["segments"]] == ["industry", "plan", "device"]
    assert (
        next(s for s in prof["segments"] if s["column"] == "device")["varies_within_account"]
        is False
    )
    prof = profile_tables(tables(ev), event_columns=["device"])
    assert [s["column"] for s in prof["segments"]] == ["industry", "device"]


def test_json_able_and_deterministic(prof: dict) -> None:
    again = profile_tables(tables())
    assert json.dumps(prof, allow_nan=False, sort_keys=True) == json.dumps(again, sort_keys=True)
    assert set(prof) == {
        "profile_version",
        "params",
        "history",
        "event_types",
        "n_event_types",
        "event_types_listed",
        "event_column_absent",
        "users",
        "value",
        "cadence",
        "segments",
        "suggested",
    }


def test_empty_events_do_not_crash() -> None:
    prof = profile_tables(tables(events([]), with_tables=False))
    assert prof["history"]["n_events"] == 0 and prof["history"]["span_days"] is None
    assert prof["event_types"] == [] and prof["suggested"]["snapshot.count"]["value"] == 1
    json.dumps(prof, allow_nan=False)


# --------------------------------------------------------------------------- suggestions


def test_snapshot_suggestions(prof: dict) -> None:
    s = prof["suggested"]
    assert s["snapshot.every_days"]["value"] == 7  # typical gap 5.5 <= 7
    assert "5.5 days" in s["snapshot.every_days"]["reason"]
    # (55 - 28) // 7 + 1 = 4 cutoffs (Mar 1, Feb 22, 15, 8); a 28-day horizon labels none
    assert s["snapshot.count"]["value"] == 4
    assert "none can be labelled" in s["snapshot.count"]["reason"]
    short = profile_tables(tables(), horizon_days=14)["suggested"]["snapshot.count"]
    assert short["value"] == 4
    assert "55 days" in short["reason"] and "2 of 4" in short["reason"]  # Feb 15 and Feb 8


@pytest.mark.parametrize(("gap", "every"), [(7, 7), (10, 14), (14, 14), (15, 28), (60, 28)])
def test_every_days_follows_the_typical_gap(gap: int, every: int) -> None:
    ev = daily({"a": [0, gap, 2 * gap], "b": [0, gap]})
    prof = profile_tables(tables(ev, "2025-06-01", with_tables=False))
    assert prof["cadence"]["typical_gap_days"] == gap
    assert prof["suggested"]["snapshot.every_days"]["value"] == every


def test_count_is_capped_at_52_and_at_least_1() -> None:
    long = profile_tables(tables(daily({"a": [0, 3]}), "2026-01-01", with_tables=False))
    assert long["history"]["span_days"] == 731
    assert long["suggested"]["snapshot.count"]["value"] == 52
    assert "capped at 52" in long["suggested"]["snapshot.count"]["reason"]
    tiny = profile_tables(tables(daily({"a": [0, 3]}), "2024-01-10", with_tables=False))
    assert tiny["history"]["span_days"] == 9
    assert tiny["suggested"]["snapshot.count"]["value"] == 1
    every14 = profile_tables(tables(daily({"a": [0, 10, 20]}), "2024-04-10", with_tables=False))
    assert every14["suggested"]["snapshot.every_days"]["value"] == 14
    assert every14["suggested"]["snapshot.count"]["value"] == (100 - 28) // 14 + 1


def test_vocabulary_share_threshold_and_cap(prof: dict) -> None:
    assert prof["suggested"]["features.vocabulary_events"]["value"] == [
        "signup",
        "export",
        "report",
        "invite",
    ]
    half = profile_tables(tables(), min_account_share=0.5)["suggested"]
    assert half["features.vocabulary_events"]["value"] == ["signup", "export", "report"]
    assert "3 of 4" in half["features.vocabulary_events"]["reason"]
    top2 = profile_tables(tables(), max_event_types=2)["suggested"]
    assert top2["features.vocabulary_events"]["value"] == ["signup", "export"]


def test_milestone_candidates(prof: dict) -> None:
    # signup is reached by every account on its first day: not a step. The others are reached
    # by 1/3..2/3 of accounts after their first day; expected_days = ceil(median days to first).
    assert prof["suggested"]["milestones"]["value"] == [
        {
            "name": "first_export",
            "events": ["export"],
            "expected_days": 4,
            "description": "first export",
        },
        {
            "name": "first_report",
            "events": ["report"],
            "expected_days": 6,
            "description": "first report",
        },
        {
            "name": "first_invite",
            "events": ["invite"],
            "expected_days": 30,
            "description": "first invite",
        },
    ]


def test_milestone_exclude_frees_the_place_for_other_events(prof: dict) -> None:
    ms = profile_tables(tables(), milestone_exclude=["export"])["suggested"]["milestones"]
    assert [m["name"] for m in ms["value"]] == ["first_report", "first_invite"]


def test_milestones_need_a_later_median_and_at_most_five() -> None:
    # Every account sends "login" on day 0; "x_k" is reached by account k's later days only.
    days = {f"a{i}": [0] for i in range(10)}
    ev = daily(days, event="login")
    later = [
        (f"a{i}", f"a{i}", f"Step {k}.done", f"2024-01-{3 + k:02d} 10:00", None, None)
        for k in range(7)
        for i in range(k + 1)
    ]
    same_day = [("a0", "a0", "tour", "2024-01-01 15:00", None, None)]
    ev = pl.concat([ev, events(later + same_day, plan=False)])
    prof = profile_tables(tables(ev, "2024-06-01", with_tables=False))
    ms = prof["suggested"]["milestones"]["value"]
    assert len(ms) == 5  # 7 steps qualify; the 5 most widely reached (Step 6 .. Step 2) kept
    assert [m["name"] for m in ms] == [f"first_step_{k}_done" for k in (2, 3, 4, 5, 6)]
    assert [m["expected_days"] for m in ms] == [4, 5, 6, 7, 8]
    assert ms[0]["description"] == "first Step 2 done"
    assert all(m["events"] != ["tour"] for m in ms)  # median 0 days: on the first day


def test_absent_event_column_gives_no_vocabulary_or_milestones() -> None:
    prof = profile_tables(
        tables(daily({"a": [0, 2], "b": [1]}, event="activity"), "2024-03-01", with_tables=False)
    )
    assert prof["event_column_absent"] is True and prof["n_event_types"] == 1
    assert prof["suggested"]["features.vocabulary_events"]["value"] == []
    assert prof["suggested"]["milestones"]["value"] == []
    named = profile_tables(
        tables(daily({"a": [0, 2]}, event="activity"), "2024-03-01", with_tables=False),
        default_event="event",
    )
    assert named["event_column_absent"] is False


# --------------------------------------------------------------------------- slugs


def test_slug_examples() -> None:
    assert slug("Report Created") == "report_created"
    assert slug("  Exporté!  ") == "exporte"
    assert slug("<script>alert(1)</script>") == "script_alert_1_script"
    assert slug("a" * 50) == "a" * 40
    assert slug("x" * 39 + " y") == "x" * 39  # no trailing underscore after the cut
    assert slug("注文") == "evt_" + hashlib.sha1("注文".encode()).hexdigest()[:8]
    assert slug("") == "evt_" + hashlib.sha1(b"").hexdigest()[:8]


def test_unique_slugs_disambiguates_in_sorted_order() -> None:
    assert unique_slugs(["report_created", "Report Created", "report-created"]) == {
        "Report Created": "report_created",
        "report-created": "report_created_2",
        "report_created": "report_created_3",
    }
    # "x_2" owns its natural slug, so the second "x" skips to _3
    assert unique_slugs(["x", "X", "x_2"]) == {"X": "x", "x": "x_3", "x_2": "x_2"}
    long = unique_slugs(["a" * 50, "A" * 50])
    assert long == {"A" * 50: "a" * 40, "a" * 50: "a" * 38 + "_2"}


names = st.lists(
    st.text(alphabet=st.sampled_from("aAbB_- .1é?<>\"'注") | st.characters(), max_size=60),
    max_size=25,
)


@settings(max_examples=200, deadline=None)
@given(names)
def test_unique_slugs_properties(ns: list[str]) -> None:
    out = unique_slugs(ns)
    assert set(out) == set(ns)
    assert all(re.fullmatch(r"[a-z0-9_]{1,40}", s) and SLUG_PATTERN.match(s) for s in out.values())
    assert len(set(out.values())) == len(out)  # distinct names, distinct slugs
    assert unique_slugs(list(reversed(ns))) == out  # input order does not matter
    assert all(slug(n) == slug(n) for n in ns)


def test_unknown_event_column_is_named() -> None:
    with pytest.raises(ValueError, match=r"event_columns \['nope'\]"):
        profile_tables(tables(), event_columns=["nope"])
