"""The window engine's contract (``features.windows``): a value at cutoff ``t`` reads only days
``< t - offset``; backward windows ``[t - w, t)`` and forward horizons ``[t, t + h)`` come from
the same day grids; days are whole UTC calendar days."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime, timedelta, timezone

import numpy as np
import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.config import load_config
from features.labels import build_labels
from features.windows import NEVER, Engine, Sampler, T, build_engine, date_to_day, day_of, in_window
from ingest.tables import TS, Tables
from tests.features.helpers import events

CUT = date(2026, 3, 1)
t = date_to_day(CUT)
USAGE = ((), ("ticket",))  # every event but tickets is use

# Ten events around the cutoff t = 2026-03-01 00:00 UTC; the comment is the UTC day.
TEN = [
    ("a", "u1", "login", "2026-02-28 23:59:59.999999"),  # t - 1: the last instant before t
    ("a", "u1", "login", "2026-03-01 00:00:00"),  # t: never before t; first day of [t, t + h)
    ("a", "u2", "login", "2026-02-22 00:00:00"),  # t - 7: first day of [t - 7, t)
    ("a", "u2", "view", "2026-02-21 23:59:59"),  # t - 8: just outside [t - 7, t)
    ("a", "u1", "view", "2026-03-28 23:59:00"),  # t + 27: last day of [t, t + 28)
    ("a", "u2", "login", "2026-03-29 00:00:00"),  # t + 28: just outside [t, t + 28)
    ("b", "v1", "ticket", "2026-02-01 00:00:00"),  # t - 28: first day of [t - 28, t)
    ("b", "v1", "login", "2026-01-31 23:59:00"),  # t - 29: just outside [t - 28, t)
    ("b", "v2", "login", "2026-03-14 12:00:00"),  # t + 13
    ("a", "u1", "login", "2026-02-28 08:00:00"),  # t - 1 again: same user, same day
]


def _tables(rows: list[tuple[str, str, str, datetime]]) -> Tables:
    return Tables(events(rows), None, None, datetime(2027, 1, 1, tzinfo=UTC), [])


def _ten() -> Tables:
    return _tables([(a, u, e, datetime.fromisoformat(s).replace(tzinfo=UTC)) for a, u, e, s in TEN])


def _rows(ids: list[str], cut_days: list[int]) -> pl.DataFrame:
    pairs = [(a, c) for c in cut_days for a in ids]
    return pl.DataFrame(
        {"account_id": [a for a, _ in pairs], T: [c for _, c in pairs]},
        schema={"account_id": pl.String, T: pl.Int32},
    )


def _engine_and_rows(cut_days: list[int]) -> tuple[Engine, Sampler]:
    engine = build_engine(_ten(), cut_days, USAGE)
    return engine, engine.sampler(_rows(["a", "b"], cut_days))


def test_backward_windows_end_before_the_cutoff():
    engine, at = _engine_and_rows([t])
    g = at.grid([0, 7, 28])
    n, use = engine.sums(g, "n"), engine.sums(g, "use")
    assert at.window(n, g, 7).tolist() == [3, 0]  # a: t - 1 (twice), t - 7; b: none
    assert at.window(n, g, 28).tolist() == [4, 1]  # + a's t - 8; b's ticket on t - 28
    assert at.window(use, g, 28).tolist() == [4, 0]  # a ticket is not use
    assert at(n, g).tolist() == [4, 2]  # everything before t (eligibility's count)
    assert at.window(engine.active_days(g, "use"), g, 7).tolist() == [2, 0]  # days t-1, t-7
    au = engine.active_users(g, [7, 28])
    assert at(au["au_7"], g).tolist() == [2, 0]  # u1 and u2 (u1 counted once)
    assert at(au["au_28"], g).tolist() == [2, 0]  # b: v1's only use is on t - 29
    assert at(engine.last_day(g), g).tolist() == [t - 1, t - 28]
    assert engine.first_days()[at.acc].tolist() == [t - 8, t - 29]
    views = engine.enc.event_codes(["view"])
    assert at.window(engine.event_sums(g, views), g, 28).tolist() == [1, 0]
    logins = engine.last_event_days(engine.enc.event_codes(["login"]))
    assert at(logins[0], engine.cut_grid).tolist() == [t - 1, t - 29]


def test_forward_horizons_start_at_the_cutoff():
    engine, at = _engine_and_rows([t])
    g = at.grid([0, -7, -14, -21, -28])
    n = engine.sums(g, "n")
    assert at.window(n, g, 0, -28).tolist() == [2, 1]  # a: t and t + 27, not t + 28; b: t + 13
    assert at.window(n, g, 0, -7).tolist() == [1, 0]  # a's event at t
    assert at.window(n, g, -21, -28).tolist() == [1, 0]  # [t + 21, t + 28): t + 27
    # weekly active users of the horizon weeks: the users' last day before t + 7(j+1)
    au = engine.active_users(g, [7])["au_7"]
    assert [at(au, g, o).tolist() for o in (-7, -14, -21, -28)] == [
        [1, 0],  # [t, t + 7): u1 at t
        [0, 1],  # [t + 7, t + 14): v2 at t + 13
        [0, 0],
        [1, 0],  # [t + 21, t + 28): u1 at t + 27
    ]


def test_several_cutoffs_share_one_grid():
    engine, at = _engine_and_rows([t, t + 7])
    g = at.grid([0, 7])
    assert at.window(engine.sums(g, "n"), g, 7).tolist() == [3, 0, 1, 0]  # a@t, b@t, a@t+7, b
    assert at(engine.last_day(g), g).tolist() == [t - 1, t - 28, t, t - 28]
    np.testing.assert_array_equal(g.bounds, [t - 7, t, t + 7])


def test_days_are_utc_calendar_days():
    # 01:00 at UTC+2 on the cutoff's date is 23:00 UTC the day before: before the cutoff
    plus2 = timezone(timedelta(hours=2))
    ts = pl.Series([datetime(2026, 3, 1, 1, 0, tzinfo=plus2), datetime(2026, 3, 1, tzinfo=UTC)])
    assert pl.select(day_of(pl.lit(ts.cast(TS)))).to_series().to_list() == [t - 1, t]
    engine = build_engine(_tables([("a", "u", "login", ts[0]), ("a", "u", "login", ts[1])]), [t])
    at = engine.sampler(_rows(["a"], [t]))
    g = at.grid([0, 1])
    assert at.window(engine.sums(g, "n"), g, 1).tolist() == [1]  # the UTC+2 event only
    assert at(engine.last_day(g), g).tolist() == [t - 1]


def test_in_window_both_directions():
    days = pl.DataFrame({T: [t] * 6, "d": [t - 8, t - 7, t - 1, t, t + 27, t + 28]})
    got = days.select(
        in_window(pl.col("d"), 7).alias("back"), in_window(pl.col("d"), 0, -28).alias("fwd")
    )
    assert got["back"].to_list() == [False, True, True, False, False, False]
    assert got["fwd"].to_list() == [False, False, False, True, True, False]


def test_no_history_gives_zero_sums_and_null_last_days():
    engine = build_engine(_ten(), [t], USAGE, extra_accounts=[pl.Series(["z"])])
    at = engine.sampler(_rows(["z"], [t]))
    g = at.grid([0, 7])
    assert at.window(engine.sums(g, "n"), g, 7).tolist() == [0]
    assert at(engine.last_day(g), g).tolist() == [NEVER]


# -- properties: the engine equals a brute-force filter-and-count ---------------------------

ACCOUNTS = ["a", "b", "c"]
EVENTS = ["login", "view", "ticket"]
BASE = datetime(2026, 3, 1, tzinfo=UTC)
drawn_events = st.lists(
    st.tuples(
        st.sampled_from(ACCOUNTS),
        st.integers(0, 2),  # user number within the account
        st.sampled_from(EVENTS),
        st.integers(-60 * 1440, 60 * 1440),  # minutes from BASE
    ),
    min_size=1,
    max_size=40,
)
drawn_cuts = st.lists(st.integers(-10, 10), min_size=1, max_size=3, unique=True)


def _brute(
    ev: list[tuple[str, str, str, int]], acc: str, lo: int, hi: int, keep=lambda e: True
) -> tuple[int, int, int]:
    """(events, distinct users, distinct days) of ``acc`` with ``lo <= day < hi``."""
    hit = [(u, d) for a, u, e, d in ev if a == acc and lo <= d < hi and keep(e)]
    return len(hit), len({u for u, _ in hit}), len({d for _, d in hit})


def _drawn(events) -> tuple[Tables, list[tuple[str, str, str, int]]]:
    rows = [
        (a, f"{a}{u}", e, BASE + timedelta(minutes=m)) for a, u, e, m in events
    ]  # users belong to one account
    days = [(a, u, e, date_to_day(ts.date())) for a, u, e, ts in rows]
    return _tables(rows), days


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    events=drawn_events,
    cuts=drawn_cuts,
    w=st.integers(1, 40),
    h=st.integers(1, 40),
    shift=st.integers(-20, 20),
)
def test_windows_equal_filter_and_count_both_directions(events, cuts, w, h, shift):
    tables, days = _drawn(events)
    cut_days = [date_to_day(BASE.date()) + c for c in cuts]
    engine = build_engine(tables, cut_days, USAGE)
    ids = sorted({a for a, *_ in days})
    rows = _rows(ids, cut_days)
    at = engine.sampler(rows)
    use = lambda e: e != "ticket"  # noqa: E731
    view = lambda e: e == "view"  # noqa: E731
    views = engine.enc.event_codes(["view"])
    # backward [t - w, t), forward [t, t + h) and an arbitrary [t - w - shift, t - shift)
    for start, end in ((w, 0), (0, -h), (w + shift, shift)):
        g = at.grid([start, end])
        n, use_n = engine.sums(g, "n"), engine.sums(g, "use")
        au = engine.active_users(g, [start - end])[f"au_{start - end}"]
        got = {
            "n": at.window(n, g, start, end),
            "use": at.window(use_n, g, start, end),
            "view": at.window(engine.event_sums(g, views), g, start, end),
            "days": at.window(engine.active_days(g, "use"), g, start, end),
            "users": at(au, g, end),
        }
        for i, (acc, tt) in enumerate(rows.iter_rows()):
            lo, hi = tt - start, tt - end
            b_use, b_view = _brute(days, acc, lo, hi, use), _brute(days, acc, lo, hi, view)
            assert got["n"][i] == _brute(days, acc, lo, hi)[0]
            assert got["use"][i] == b_use[0] and got["users"][i] == b_use[1]
            assert got["days"][i] == b_use[2] and got["view"][i] == b_view[0]
    # the last day before t and the lifetime count (eligibility) at offset 0
    g = at.grid([0])
    last, total = at(engine.last_day(g), g), at(engine.sums(g, "n"), g)
    for i, (acc, tt) in enumerate(rows.iter_rows()):
        before = [d for a, _, _, d in days if a == acc and d < tt]
        assert last[i] == (max(before) if before else NEVER) and total[i] == len(before)


INACTIVITY = load_config(["label=inactivity", "label.excluded_events=[ticket]"]).label
CHURN = load_config(["label=churn_event", "label.churn_events=[ticket]"]).label


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=drawn_events, cuts=drawn_cuts, h=st.integers(1, 40))
def test_horizon_labels_equal_filter_and_count(events, cuts, h):
    """inactivity = no qualifying event in [t, t + h); churn_event = a churn event in it."""
    tables, days = _drawn(events)
    cut_days = [date_to_day(BASE.date()) + c for c in cuts]
    ids = sorted({a for a, *_ in days})
    rows = _rows(ids, cut_days).with_columns(pl.col(T).cast(pl.Date).alias("cutoff"))
    inactivity, churn = copy.deepcopy(INACTIVITY), copy.deepcopy(CHURN)
    inactivity.horizon_days = churn.horizon_days = h
    inactive = build_labels(tables, rows, inactivity)
    churned = build_labels(tables, rows, churn)
    for i, (acc, tt, _) in enumerate(rows.iter_rows()):
        assert inactive["label"][i] == int(
            _brute(days, acc, tt, tt + h, lambda e: e != "ticket")[0] == 0
        )
        assert churned["label"][i] == int(
            _brute(days, acc, tt, tt + h, lambda e: e == "ticket")[0] > 0
        )
