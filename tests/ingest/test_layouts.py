"""The tracking-plan layout: tracks + groups -> events, users, accounts (ingest.layouts, load).

Hand-made frames with exact expected rows: a user regrouped mid-history, tracks before the
first group call, an ungrouped user, traits merged over calls, hostile and missing traits;
then load_tables on real files (quarantine named by the source table, fail mode, traits as
columns, renamed columns) and the invariant that no track row is lost.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.config import load_config
from core.errors import DataValidationError
from ingest import layouts
from ingest.layouts import TrackingPlan, derive_tables, split_grouped
from ingest.load import load_tables
from tests.ingest.conftest import NOW, write_csv, write_parquet

T0 = datetime(2026, 1, 1, tzinfo=UTC)
TS = pl.Datetime("us", "UTC")


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


def tracks_frame(rows: list[tuple[str | None, str, float, str]]) -> pl.LazyFrame:
    """(user_id, event, day, properties JSON) rows."""
    return pl.LazyFrame(
        {
            "user_id": [r[0] for r in rows],
            "event": [r[1] for r in rows],
            "timestamp": [day(r[2]) for r in rows],
            "properties": [r[3] for r in rows],
        },
        schema={"user_id": pl.String, "event": pl.String, "timestamp": TS, "properties": pl.String},
    )


def groups_frame(rows: list[tuple[str, str, float, str | None]]) -> pl.LazyFrame:
    """(user_id, account_id, day, traits JSON) rows."""
    return pl.LazyFrame(
        {
            "user_id": [r[0] for r in rows],
            "account_id": [r[1] for r in rows],
            "timestamp": [day(r[2]) for r in rows],
            "traits": [r[3] for r in rows],
        },
        schema={
            "user_id": pl.String,
            "account_id": pl.String,
            "timestamp": TS,
            "traits": pl.String,
        },
    )


PLAN = TrackingPlan(
    value_property="amount",
    user_traits={"role": "role"},
    account_traits={"industry": "industry", "plan": "plan"},
)


def test_a_user_regrouped_mid_history_moves_their_later_events() -> None:
    tracks = tracks_frame(
        [
            ("u1", "signup", 0.5, "{}"),  # before any group call: the first group (a1)
            ("u1", "login", 1, '{"amount": 2.5}'),  # at the group call: a1
            ("u1", "login", 2, "{}"),
            ("u1", "login", 3, "{}"),  # regrouped to a2 at day 3 (inclusive)
            ("u1", "login", 4, '{"amount": "x"}'),
        ]
    )
    groups = groups_frame(
        [
            ("u1", "a1", 1, '{"role": "admin", "industry": "retail"}'),
            ("u1", "a2", 3, '{"industry": "saas"}'),
        ]
    )
    out = derive_tables(tracks, groups, PLAN)
    events = out.events.sort("timestamp").collect()
    assert events["account_id"].to_list() == ["a1", "a1", "a1", "a2", "a2"]
    assert events["value"].to_list() == [None, "2.5", None, None, "x"]  # cast by validation
    users = out.users.collect()
    assert users.select("user_id", "account_id", "role", "created_at").rows() == [
        ("u1", "a2", "admin", day(0.5))  # latest group; role kept; first seen = first track
    ]
    accounts = out.accounts.sort("account_id").collect()
    assert accounts.select("account_id", "created_at", "industry", "plan").rows() == [
        ("a1", day(0.5), "retail", None),  # first seen: the track assigned back to it
        ("a2", day(3), "saas", None),
    ]


def test_tracks_of_users_never_grouped_are_set_aside_and_null_ids_are_kept_for_validation() -> None:
    tracks = tracks_frame(
        [("u1", "a", 1, "{}"), ("u2", "b", 2, "{}"), (None, "c", 3, "{}"), (" ", "d", 4, "{}")]
    )
    groups = groups_frame([("u1", "a1", 0, None)])
    grouped, ungrouped = split_grouped(tracks, groups)
    assert sorted(grouped.collect()["event"].to_list()) == ["a", "c", "d"]
    assert ungrouped.collect()["event"].to_list() == ["b"]
    assert ungrouped.collect_schema().names() == tracks.collect_schema().names()


def test_traits_merge_over_calls_latest_non_null_wins_and_ties_are_deterministic() -> None:
    groups = groups_frame(
        [
            ("u1", "a1", 1, '{"industry": "retail", "plan": "monthly", "role": "member"}'),
            ("u2", "a1", 2, '{"plan": "annual"}'),  # changes plan only
            ("u1", "a1", 3, '{"industry": null, "role": "admin"}'),  # null: no change
            ("u3", "a1", 3, '{"plan": "trial"}'),  # same instant as below: "trial" sorts last
            ("u2", "a1", 3, '{"plan": "annual"}'),
            ("u4", "b1", 5, None),  # no traits at all
            ("u4", "b2", 5, "{}"),  # same instant: b2 sorts last, u4 belongs to b2
        ]
    )
    out = derive_tables(tracks_frame([("u4", "x", 6, "{}")]), groups, PLAN)
    accounts = out.accounts.sort("account_id").collect()
    assert accounts.select("account_id", "industry", "plan", "created_at").rows() == [
        ("a1", "retail", "trial", day(1)),
        ("b1", None, None, day(5)),  # missing traits: null, created_at first seen
        ("b2", None, None, day(5)),
    ]
    users = out.users.sort("user_id").collect()
    assert users.select("user_id", "account_id", "role").rows() == [
        ("u1", "a1", "admin"),
        ("u2", "a1", None),
        ("u3", "a1", None),
        ("u4", "b2", None),
    ]
    assert out.events.collect()["account_id"].to_list() == ["b2"]


def test_hostile_trait_values_arrive_as_text_for_validation() -> None:
    groups = groups_frame(
        [
            ("u1", "a1", 1, '{"industry": {"name": "retail"}, "plan": 3}'),
            ("u2", "a2", 1, '{"industry": "caf\u00e9 \\"&\\" <b>", "plan": true}'),
            ("u3", "a3", 1, "not json at all"),
            ("u4", "a4", 1, '{"industry": "", "plan": [1, 2]}'),
            ("u5", "a5", 1, '["industry", "retail"]'),
        ]
    )
    out = derive_tables(tracks_frame([]), groups, PLAN).accounts.sort("account_id").collect()
    assert out.select("account_id", "industry", "plan").rows() == [
        ("a1", '{"name":"retail"}', "3"),
        ("a2", 'caf\u00e9 "&" <b>', "true"),
        ("a3", None, None),
        ("a4", "", "[1,2]"),
        ("a5", None, None),
    ]


def test_trait_keys_with_quotes_and_spaces_are_read_and_both_quotes_rejected() -> None:
    groups = groups_frame([("u1", "a1", 1, '{"team size": "5", "it\'s": "y"}')])
    plan = TrackingPlan(account_traits={"size": "team size", "q": "it's"})
    out = derive_tables(tracks_frame([]), groups, plan).accounts.collect()
    assert out.select("size", "q").row(0) == ("5", "y")
    with pytest.raises(Exception, match="both quote"):
        layouts.json_path("a'b\"c")


def test_segments_as_of_event_take_the_accounts_traits_at_each_event() -> None:
    groups = groups_frame(
        [
            ("u1", "a1", 1, '{"plan": "monthly"}'),
            ("u2", "a1", 3, '{"role": "member"}'),  # no plan: monthly stays
            ("u1", "a1", 5, '{"plan": "annual"}'),
        ]
    )
    tracks = tracks_frame([("u1", "e", d, "{}") for d in (0, 1, 4, 5, 6)])
    plan = TrackingPlan(event_traits={"plan": "plan"})
    events = derive_tables(tracks, groups, plan).events.sort("timestamp").collect()
    assert events["plan"].to_list() == [None, "monthly", "monthly", "annual", "annual"]


def test_event_properties_are_copied_and_the_json_left_as_sent() -> None:
    tracks = tracks_frame([("u1", "e", 1, '{"device": "ios", "amount": 3}')])
    plan = TrackingPlan(value_property="amount", event_properties=("device", "missing"))
    events = derive_tables(tracks, groups_frame([("u1", "a1", 0, None)]), plan).events.collect()
    assert events.select("value", "device", "missing", "properties").row(0) == (
        "3",
        "ios",
        None,
        '{"device": "ios", "amount": 3}',
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    tracks=st.lists(st.tuples(st.sampled_from(["u1", "u2", "u3"]), st.integers(0, 6)), max_size=25),
    groups=st.lists(
        st.tuples(
            st.sampled_from(["u1", "u2"]), st.sampled_from(["a1", "a2", "a3"]), st.integers(0, 6)
        ),
        max_size=8,
    ),
)
def test_every_track_is_one_event_or_set_aside_and_gets_its_latest_group(
    tracks: list[tuple[str, int]], groups: list[tuple[str, str, int]]
) -> None:
    t = tracks_frame([(u, f"e{i}", d, "{}") for i, (u, d) in enumerate(tracks)])
    g = groups_frame([(u, a, d, None) for u, a, d in groups])
    grouped, ungrouped = split_grouped(t, g)
    events = derive_tables(grouped, g, TrackingPlan()).events.collect()
    assert events.height + ungrouped.collect().height == len(tracks)  # nothing lost
    assert sorted(events["event"].to_list() + ungrouped.collect()["event"].to_list()) == sorted(
        f"e{i}" for i in range(len(tracks))
    )
    for row in events.iter_rows(named=True):  # oracle: latest at or before, else the first
        calls = sorted((d, a) for u, a, d in groups if u == row["user_id"])
        at = row["timestamp"]
        before = [c for c in calls if day(c[0]) <= at]
        # ties within one instant: the id sorting last (max of (day, id) pairs)
        want = max(before)[1] if before else max(a for d, a in calls if d == calls[0][0])
        assert row["account_id"] == want


# ----------------------------------------------------------------------------- load_tables


def plan_cfg(tracks: Path, groups: Path, *extra: str) -> Any:
    return load_config(
        [
            "data=tracking_plan",
            f"data.tracks='{tracks}'",
            f"data.groups='{groups}'",
            "data.segments=[industry]",
            "data.tracking_plan.value_property=amount",
            *extra,
        ]
    )


@pytest.fixture
def messy_plan(tmp_path: Path) -> tuple[Path, Path]:
    """Tracks and groups CSV with one problem of each kind the layout adds or meets."""
    tracks = write_csv(
        tmp_path / "tracks.csv",
        {
            "user_id": ["u1", "u1", "u2", "u9", "u1", "u3", None],
            "event": ["login", "export", "login", "login", "login", "login", "login"],
            "timestamp": [
                "2026-03-01T10:00:00Z",
                "2026-03-02T10:00:00Z",
                "2026-03-02T11:00:00Z",
                "2026-03-02T12:00:00Z",  # u9 never grouped
                "soon",  # unparseable
                "2026-03-03T10:00:00Z",  # u3's account has a bad seats trait
                "2026-03-03T10:00:00Z",  # null user
            ],
            "properties": ['{"amount": 1}', '{"amount": "lots"}', "{}", "{}", "{}", "{}", "{}"],
        },
    )
    groups = write_csv(
        tmp_path / "groups.csv",
        {
            "user_id": ["u1", "u2", "u3", "u4"],
            "group_id": ["a1", "a1", "a3", None],
            "timestamp": ["2026-02-01", "2026-02-02", "2026-02-03", "2026-02-04"],
            "traits": [
                '{"industry": "retail", "role": "admin", "seats": 5}',
                '{"role": "member"}',
                '{"industry": "saas", "seats": "many"}',
                '{"industry": "saas"}',
            ],
        },
    )
    return tracks, groups


def test_load_quarantines_each_row_under_the_table_and_column_it_came_from(
    messy_plan: tuple[Path, Path], tmp_path: Path
) -> None:
    q = tmp_path / "quarantine"
    tables = load_tables(plan_cfg(*messy_plan), q, now=NOW)
    # Row order of the derived events is the joins' (not part of the contract): sorted.
    events_ = tables.events.select("account_id", "user_id", "event", "value").sort("user_id")
    assert events_.rows() == [
        ("a1", "u1", "login", 1.0),
        ("a1", "u2", "login", None),
    ]
    assert tables.users is not None and tables.accounts is not None
    assert tables.users.select("user_id", "account_id", "role").sort("user_id").rows() == [
        ("u1", "a1", "admin"),
        ("u2", "a1", "member"),
    ]
    assert tables.accounts.select("account_id", "industry", "seats").rows() == [("a1", "retail", 5)]
    tracks = pl.read_parquet(q / "tracks.parquet").sort("reason")
    assert tracks.select("user_id", "reason", "reason_column").rows() == [
        (None, "null_id", "user_id"),
        ("u1", "unparseable_timestamp", "timestamp"),
        ("u9", "user_has_no_group", "user_id"),
    ]
    assert tracks["source_file"].to_list() == [str(messy_plan[0])] * 3  # raw rows, traced
    groups = pl.read_parquet(q / "groups.parquet")
    assert groups.select("user_id", "reason", "reason_column").rows() == [
        ("u4", "null_id", "group_id")
    ]
    accounts = pl.read_parquet(q / "accounts.parquet")
    assert accounts.select("group_id", "traits.seats", "reason", "reason_column").rows() == [
        ("a3", "many", "uncastable_value", "traits.seats")
    ]
    users = pl.read_parquet(q / "users.parquet")
    assert users.select("user_id", "reason").rows() == [("u3", "unknown_account")]
    events = pl.read_parquet(q / "events.parquet").sort("reason")
    assert events.select("user_id", "properties.amount", "reason", "reason_column").rows() == [
        ("u1", "lots", "uncastable_value", "properties.amount"),
        ("u3", None, "unknown_account", "group_id"),
    ]
    # nothing lost: 7 track rows = 2 events + 3 tracks rejected + 2 events rejected
    assert tables.events.height + 3 + events.height == 7


def test_fail_mode_names_the_source_tables_and_columns(
    messy_plan: tuple[Path, Path], tmp_path: Path
) -> None:
    with pytest.raises(DataValidationError) as err:
        load_tables(plan_cfg(*messy_plan, "data.on_error=fail"), tmp_path / "q", now=NOW)
    text = str(err.value)
    assert "table tracks" in text and "user_has_no_group" in text and "u9" in text
    assert "table groups" in text and "column group_id" in text
    assert "column seats (source column 'traits.seats')" in text
    assert "derived from tracks" in text


def test_traits_as_columns_renamed_columns_and_struct_properties(tmp_path: Path) -> None:
    """Snowplow-like names mapped by data.columns, traits as groups columns, properties a struct."""
    tracks = write_parquet(
        tmp_path / "tracks.parquet",
        pl.DataFrame(
            {
                "uid": ["u1", "u2"],
                "event_name": ["view", "view"],
                "derived_tstamp": [day(10), day(11)],
                "props": [{"amount": 2.0, "device": "ios"}, {"amount": None, "device": "web"}],
            }
        ),
    )
    groups = write_parquet(
        tmp_path / "groups.parquet",
        pl.DataFrame(
            {
                "uid": ["u1", "u2", "u2"],
                "org": [7, 7, 8],  # integer group ids
                "derived_tstamp": [day(1), day(2), day(12)],
                "industry": ["retail", None, "saas"],
                "seats": [10, 12, None],
                "signed_up": [day(0), None, day(12)],
            }
        ),
    )
    cfg = plan_cfg(
        tracks,
        groups,
        "data.columns.user_id=uid",
        "data.columns.event=event_name",
        "data.columns.timestamp=derived_tstamp",
        "data.tracking_plan.group_id=org",
        "data.tracking_plan.traits=null",
        "data.tracking_plan.properties=props",
        "data.tracking_plan.event_properties=[device]",
        "+data.tracking_plan.account_traits.created_at=signed_up",
    )
    tables = load_tables(cfg, tmp_path / "q", now=NOW)
    assert tables.events.sort("timestamp").select("account_id", "event", "value").rows() == [
        ("7", "view", 2.0),
        ("7", "view", None),  # u2 moves to 8 only at day 12
    ]
    assert tables.accounts is not None and tables.users is not None
    assert tables.accounts.sort("account_id").select(
        "account_id", "industry", "seats", "created_at"
    ).rows() == [("7", "retail", 12, day(0)), ("8", "saas", None, day(12))]
    assert tables.users.sort("user_id").select("user_id", "account_id", "role").rows() == [
        ("u1", "7", None),  # no role trait anywhere: null
        ("u2", "8", None),
    ]
    assert not (tmp_path / "q").exists() or not any((tmp_path / "q").iterdir())


def test_a_device_property_becomes_a_point_in_time_event_segment(tmp_path: Path) -> None:
    tracks = write_csv(
        tmp_path / "tracks.csv",
        {
            "user_id": ["u1", "u1"],
            "timestamp": ["2026-03-01", "2026-03-02"],
            "properties": ['{"device": "ios"}', '{"device": "web"}'],
        },
    )
    groups = write_csv(
        tmp_path / "groups.csv",
        {"user_id": ["u1"], "group_id": ["a1"], "timestamp": ["2026-02-01"], "traits": ["{}"]},
    )
    common = ["data=tracking_plan", f"data.tracks='{tracks}'", f"data.groups='{groups}'"]
    cfg = load_config([*common, "data.segments=[device]"])
    with pytest.raises(DataValidationError, match=r"segment trait\(s\) \['device'\]"):
        load_tables(cfg, tmp_path / "q", now=NOW)  # not a trait, not a copied property
    cfg = load_config(
        [*common, "data.segments=[device]", "data.tracking_plan.event_properties=[device]"]
    )
    tables = load_tables(cfg, tmp_path / "q", now=NOW)
    assert tables.event_segments == ["device"] and tables.segments == []
    assert tables.events.select("event", "device").rows() == [
        ("activity", "ios"),  # no event column: data.default_event
        ("activity", "web"),
    ]


def test_a_tracking_plan_without_its_tables_is_a_data_error(tmp_path: Path) -> None:
    cfg = load_config(["data=tracking_plan", "data.tracks=null"])
    with pytest.raises(DataValidationError, match=r"needs data\.tracks and data\.groups"):
        load_tables(cfg, tmp_path / "q", now=NOW)


def test_segments_as_of_event_reach_the_tables_as_event_segments(tmp_path: Path) -> None:
    tracks = write_csv(
        tmp_path / "tracks.csv",
        {
            "user_id": ["u1", "u1"],
            "timestamp": ["2026-03-01", "2026-03-05"],
            "properties": ["{}"] * 2,
        },
    )
    groups = write_csv(
        tmp_path / "groups.csv",
        {
            "user_id": ["u1", "u1"],
            "group_id": ["a1", "a1"],
            "timestamp": ["2026-02-01", "2026-03-03"],
            "traits": ['{"plan": "monthly"}', '{"plan": "annual"}'],
        },
    )
    cfg = load_config(
        [
            "data=tracking_plan",
            f"data.tracks='{tracks}'",
            f"data.groups='{groups}'",
            "data.segments=[plan]",
            "data.tracking_plan.segments_as_of_event=true",
        ]
    )
    tables = load_tables(cfg, tmp_path / "q", now=NOW)
    assert tables.event_segments == ["plan"] and tables.segments == []
    assert tables.events.sort("timestamp")["plan"].to_list() == ["monthly", "annual"]
    assert tables.accounts is not None and "plan" not in tables.accounts.columns
