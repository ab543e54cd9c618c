"""Candidate early behaviours: thresholds from the data, day reached, labels (by hand)."""

from __future__ import annotations

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adoption.candidates import CANDIDATE_COLUMNS, candidate_behaviours
from adoption.timeline import account_timeline
from tests.adoption.helpers import accounts, day, events, users

# Observed until day 40: accounts created on day 0 are observed 40 days; f (day 30) 10 days.
EV = events(
    [
        ("a", "u1", "report_created", 0),
        ("a", "u2", "report_created", 1),
        ("a", "u1", "report_created", 2),
        ("a", "u3", "login", 5),
        ("a", "u1", "report_created", 8),
        ("b", "u4", "report_created", 3),
        ("b", "u5", "login", 12),
        ("c", "u6", "report_created", 10),
        ("c", "u6", "report_created", 11),
        ("e", "u9", "report_created", 0),  # e started 5 days before the log
        ("e", "u9", "report_created", 0.1),
        ("e", "u9", "report_created", 0.2),
        ("e", "u9", "report_created", 0.3),
        ("e", "u9", "report_created", 0.4),
        ("f", "u7", "report_created", 30),
        ("f", "u8", "report_created", 31),
    ]
)
ACC = accounts(
    [
        {"account_id": "a", "created": 0},
        {"account_id": "b", "created": 0},
        {"account_id": "c", "created": 0},
        {"account_id": "d", "created": 0},
        {"account_id": "e", "created": -5},
        {"account_id": "f", "created": 30},
    ]
)
USERS = users(
    [
        ("u1", "a", "admin"),
        ("u2", "a", "analyst"),
        ("u3", "a", "admin"),
        ("u4", "b", "admin"),
        ("u5", "b", "viewer"),
        ("u6", "c", "admin"),
        ("u7", "f", "admin"),
        ("u8", "f", "analyst"),
    ]
)
MILESTONES = [{"name": "first_report", "events": ["report_created"], "expected_days": 14}]


def _candidates(**kw: object) -> pl.DataFrame:
    tl = account_timeline(EV, ACC, observed_until=day(40))
    args: dict[str, object] = {
        "landmark_days": (7, 14, 60),
        "quantiles": (0.5,),
        "min_accounts": 2,
        "users_days": 10,
    }
    args.update(kw)
    return candidate_behaviours(EV, tl, MILESTONES, USERS, **args)  # type: ignore[arg-type]


def _reached(c: pl.DataFrame) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for r in c.filter(pl.col("day_reached").is_not_null()).iter_rows(named=True):
        out.setdefault(r["candidate"], {})[r["account_id"]] = r["day_reached"]
    return out


def test_candidates_thresholds_and_days_by_hand() -> None:
    c = _candidates()
    assert c.columns == CANDIDATE_COLUMNS
    # D=60 is dropped: no untruncated account was observed 60 days.
    # report_created, D=7: eligible doers a 3, b 1, f 2 -> lower median 2 -> N in {1, 2}.
    # report_created, D=14: eligible doers a 4, b 1, c 2 (f observed 10 < 14) -> N in {1, 2}.
    # login: D=7 only a did it (1 < min_accounts); D=14 a and b, counts 1, 1 -> N = 1.
    # users in 10 days: a 3, b 1, f 2 (c's first user is seen on day 10) -> N = 2.
    # roles, D=7: a 2, b 1, f 2 -> N = 2; D=14: a 2, b 2 (admin 3, viewer 12), c 1 -> N = 2.
    # milestone: D in {7, 14} (+ expected_days 14).
    assert _reached(c) == {
        "event__login__ge1__14d": {"a": 5, "b": 12},
        "event__report_created__ge1__7d": {"a": 0, "b": 3, "e": 5, "f": 0},
        "event__report_created__ge2__7d": {"a": 1, "e": 5, "f": 1},
        "event__report_created__ge1__14d": {"a": 0, "b": 3, "c": 10, "e": 5, "f": 0},
        "event__report_created__ge2__14d": {"a": 1, "c": 11, "e": 5, "f": 1},
        "milestone__first_report__7d": {"a": 0, "b": 3, "e": 5, "f": 0},
        "milestone__first_report__14d": {"a": 0, "b": 3, "c": 10, "e": 5, "f": 0},
        "roles__ge2__7d": {"a": 1, "f": 1},
        "roles__ge2__14d": {"a": 1, "b": 12, "f": 1},
        "users__ge2__10d": {"a": 1, "f": 1},
    }
    # Every account has a row for every candidate (null when not done).
    assert c.height == 10 * 6
    labels = dict(zip(c["candidate"], c["label"], strict=False))
    assert labels["event__report_created__ge2__14d"] == (
        "did report created at least 2 times in the first 14 days"
    )
    assert labels["event__login__ge1__14d"] == "did login in the first 14 days"
    assert labels["milestone__first_report__7d"] == "reached first report in the first 7 days"
    assert labels["users__ge2__10d"] == "added at least 2 users in the first 10 days"
    assert labels["roles__ge2__14d"] == "had at least 2 roles active in the first 14 days"
    meta = c.filter(pl.col("candidate") == "event__report_created__ge2__7d").row(0, named=True)
    assert (meta["kind"], meta["item"], meta["threshold"], meta["landmark_day"]) == (
        "event",
        "report_created",
        2,
        7,
    )


def test_truncated_accounts_do_not_move_thresholds() -> None:
    # Two more left-truncated accounts with 9 reports in their first week: with them the D=7
    # median would be 3, without them it stays 2.
    extra = [(acc, "u0", "report_created", 0.05 * i) for acc in ("g", "h") for i in range(9)]
    ev = pl.concat([EV, events(extra)])
    acc = pl.concat(
        [ACC, accounts([{"account_id": "g", "created": -4}, {"account_id": "h", "created": -4}])]
    )
    tl = account_timeline(ev, acc, observed_until=day(40))
    c = candidate_behaviours(
        ev, tl, (), None, landmark_days=(7,), quantiles=(0.5,), min_accounts=2, users_days=90
    )
    assert sorted(c["candidate"].unique()) == [
        "event__report_created__ge1__7d",
        "event__report_created__ge2__7d",
    ]


def test_key_and_excluded_events() -> None:
    only_login = _candidates(key_events=["login"], landmark_days=(7,))
    events_kind = only_login.filter(pl.col("kind") == "event")["candidate"].unique().to_list()
    # login at D=7 has a single doer but is kept because it was asked for.
    assert events_kind == ["event__login__ge1__7d"]
    no_login = _candidates(exclude_events=["login"])
    assert not no_login["candidate"].str.contains("login").any()


def test_no_supported_day_gives_an_empty_frame() -> None:
    c = _candidates(landmark_days=(90,), users_days=90)
    # only the milestone's own expected_days (14) is left
    assert c["candidate"].unique().to_list() == ["milestone__first_report__14d"]
    tl = account_timeline(EV, ACC, observed_until=day(40))
    none = candidate_behaviours(EV, tl, (), USERS, landmark_days=(90,), users_days=90)
    assert none.height == 0 and none.columns == CANDIDATE_COLUMNS


_EVENT = st.tuples(
    st.integers(0, 5),  # account
    st.sampled_from(["x", "y"]),
    st.integers(0, 39),  # day
    st.integers(0, 2),  # user
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_EVENT, min_size=1, max_size=40))
def test_candidate_invariants(rows: list[tuple[int, str, int, int]]) -> None:
    ev = events([(f"a{a}", f"a{a}u{u}", e, d + 0.5) for a, e, d, u in rows])
    acc = accounts([{"account_id": f"a{i}", "created": 0} for i in range(6)])
    tl = account_timeline(ev, acc, observed_until=day(40), log_start=day(0))
    c = candidate_behaviours(
        ev,
        tl,
        [{"name": "m", "events": ["x"]}],
        landmark_days=(7, 14, 30),
        quantiles=(0.25, 0.5, 0.75),
        min_accounts=1,
    )
    # day reached lies inside the window
    bad = c.filter(
        pl.col("day_reached").is_not_null()
        & ((pl.col("day_reached") < 0) | (pl.col("day_reached") >= pl.col("landmark_day")))
    )
    assert bad.height == 0
    # one row per (account, candidate)
    assert c.select("account_id", "candidate").is_unique().all()
    assert c.height == 6 * c["candidate"].n_unique()
    # a higher threshold is reached no earlier than a lower one (same behaviour and window),
    # and never when the lower one is not
    counted = c.filter(pl.col("kind") != "milestone")
    for _, g in counted.group_by(["account_id", "kind", "item", "landmark_day"]):
        days = g.sort("threshold")["day_reached"].to_list()
        first_null = next((i for i, d in enumerate(days) if d is None), len(days))
        assert all(d is None for d in days[first_null:])
        assert days[:first_null] == sorted(days[:first_null])
    # a milestone reached by day D is reached on the same day in every longer window
    m = c.filter(pl.col("kind") == "milestone").pivot(
        on="landmark_day", index="account_id", values="day_reached"
    )
    for short, long in (("7", "14"), ("14", "30")):
        done = m.filter(pl.col(short).is_not_null())
        assert (done[short] == done[long]).all()
