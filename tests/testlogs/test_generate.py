"""Behaviour of the foreign-log generator (``testlogs``): determinism, the as-of split, schemas,
the planted leading signals, segments that change over time, and the CLI's files.

The signal checks use polars only and compare groups defined by what really happened after
as-of (``future_*``), the way a benchmark would: they prove the mechanism is visible in the log,
not that any model finds it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

import testlogs
from testlogs.cli import main

AS_OF = datetime(2026, 6, 1, tzinfo=UTC)
TS = pl.Datetime("us", "UTC")
DEMO_EVENTS = {
    "dashboard_viewed",
    "workflow_completed",
    "integration_synced",
    "report_created",
    "api_call",
    "automation_launched",
    "user_invited",
    "support_ticket_opened",
    "integration_error",
    "subscription_cancelled",
}


@pytest.fixture(scope="module")
def logs() -> dict[str, dict[str, pl.DataFrame]]:
    """Each shape at its default size (what the end-to-end tests will use)."""
    return {name: testlogs.generate(name, seed=11, as_of="2026-06-01") for name in testlogs.SHAPES}


def days_before_as_of(col: str) -> pl.Expr:
    return (pl.lit(AS_OF) - pl.col(col)).dt.total_seconds() / 86_400


def auc(frame: pl.DataFrame, score: str, label: str = "y") -> float:
    """Rank AUC (Mann-Whitney) of ``score`` for ``label == 1``, polars only."""
    ranks = frame.select(pl.col(score).rank("average").alias("r"), pl.col(label))
    pos = int(ranks[label].sum())
    neg = ranks.height - pos
    return float((ranks.filter(pl.col(label) == 1)["r"].sum() - pos * (pos + 1) / 2) / (pos * neg))


# --- determinism -------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", sorted(testlogs.SHAPES))
def test_same_seed_same_frames_other_seed_other_frames(shape: str) -> None:
    a = testlogs.generate(shape, seed=3, n=400)
    b = testlogs.generate(shape, seed=3, n=400)
    c = testlogs.generate(shape, seed=4, n=400)
    assert a.keys() == b.keys()
    for key in a:
        assert a[key].equals(b[key]), key
    assert not a["events"].equals(c["events"])


def test_same_seed_writes_byte_identical_files(tmp_path: Path) -> None:
    for run in ("a", "b"):
        testlogs.write("subscription", tmp_path / run, seed=5, n=300)
    for rel in (
        "events.parquet",
        "subscribers.parquet",
        "future/events.parquet",
        "future/subscribers.parquet",
    ):
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel


# --- the as-of split ---------------------------------------------------------------------------


@pytest.mark.parametrize("shape", sorted(testlogs.SHAPES))
def test_split_at_as_of(logs: dict[str, dict[str, pl.DataFrame]], shape: str) -> None:
    spec, frames = testlogs.SHAPES[shape], logs[shape]
    ts = frames["events"][spec.time_column]
    future = frames["future_events"][spec.time_column]
    assert ts.max() < AS_OF <= future.min()
    assert ts.dtype == TS and future.dtype == TS
    # History starts `default_days` before as-of; the future is observed for 120 days.
    assert ts.min() >= AS_OF - timedelta(days=spec.default_days)
    assert future.max() < AS_OF + timedelta(days=120)
    # Sorted by time (an export order), and entities unknown at as-of appear only in the future.
    assert ts.is_sorted()
    known = frames["events"][spec.id_column].unique()
    assert frames["future_events"].filter(~pl.col(spec.id_column).is_in(known.implode())).height > 0


def test_subscribers_as_exported_at_as_of(logs: dict[str, dict[str, pl.DataFrame]]) -> None:
    frames = logs["subscription"]
    subs, full = frames["subscribers"], frames["future_subscribers"]
    assert subs["joined_at"].max() < AS_OF
    assert subs["cancelled_at"].drop_nulls().max() < AS_OF
    assert subs["member_id"].is_unique().all()
    assert set(frames["events"]["member_id"].unique()) <= set(subs["member_id"])
    # The full table knows cancellations after as-of that the export does not.
    later = full.filter(pl.col("cancelled_at") >= AS_OF)
    assert later.height > 0
    exported = subs.filter(pl.col("member_id").is_in(later["member_id"].implode()))
    assert exported["cancelled_at"].null_count() == exported.height
    # No event after a member's cancellation, none before joining.
    joined = frames["future_events"].join(full, on="member_id")
    assert (
        joined.filter(
            (pl.col("ts") >= pl.col("cancelled_at")) | (pl.col("ts") < pl.col("joined_at"))
        ).height
        == 0
    )


# --- schemas -----------------------------------------------------------------------------------


def test_schemas(logs: dict[str, dict[str, pl.DataFrame]]) -> None:
    s = pl.String()
    assert dict(logs["purchases"]["events"].schema) == {
        "customer": s,
        "purchased_at": TS,
        "amount": pl.Float64(),
    }
    assert dict(logs["subscription"]["events"].schema) == {
        "member_id": s,
        "ts": TS,
        "action": s,
        "duration_s": pl.Float64(),
    }
    assert dict(logs["subscription"]["subscribers"].schema) == {
        "member_id": s,
        "joined_at": TS,
        "cancelled_at": TS,
        "country": s,
        "plan": s,
    }
    assert dict(logs["clickstream"]["events"].schema) == {
        "visitor": s,
        "time": TS,
        "page": s,
        "device": s,
        "channel": s,
        "region": s,
    }
    assert logs["purchases"]["events"]["customer"].str.contains(r"^C-\d{6}$").all()
    assert logs["clickstream"]["events"]["visitor"].str.contains(r"^v-[0-9a-f]{8}$").all()
    assert logs["purchases"]["events"]["amount"].min() > 0


def test_vocabularies_are_their_own(logs: dict[str, dict[str, pl.DataFrame]]) -> None:
    actions = set(logs["subscription"]["events"]["action"].unique())
    assert actions == set(testlogs.subscription.ACTIONS)
    pages = set(logs["clickstream"]["events"]["page"].unique())
    assert pages == set(testlogs.clickstream.PAGES)
    assert not (actions | pages) & DEMO_EVENTS
    plays = logs["subscription"]["events"].filter(pl.col("action") == "episode_played")
    assert plays["duration_s"].null_count() == 0
    others = logs["subscription"]["events"].filter(pl.col("action") != "episode_played")
    assert others["duration_s"].null_count() == others.height


def test_sizes_and_history_lengths_differ(logs: dict[str, dict[str, pl.DataFrame]]) -> None:
    days = {name: spec.default_days for name, spec in testlogs.SHAPES.items()}
    assert len(set(days.values())) == 3 and all(120 <= d <= 280 for d in days.values())
    for name, frames in logs.items():
        known = frames["events"][testlogs.SHAPES[name].id_column].n_unique()
        assert 1_000 <= known <= testlogs.SHAPES[name].default_n, name


# --- planted signals ---------------------------------------------------------------------------


def test_subscription_churners_show_per_action_signals_recency_misses() -> None:
    frames = testlogs.generate("subscription", seed=2, n=5000)
    ev, subs, full = frames["events"], frames["subscribers"], frames["future_subscribers"]
    churned = full.filter(pl.col("cancelled_at") < AS_OF + timedelta(days=28))["member_id"]
    age = days_before_as_of("ts")
    per_member = ev.group_by("member_id").agg(
        recency=age.min(),
        payment_failed=((pl.col("action") == "payment_failed") & (age < 28)).sum(),
        plan_downgraded=((pl.col("action") == "plan_downgraded") & (age < 56)).sum(),
        download=((pl.col("action") == "download") & (age < 28)).sum(),
        download_before=((pl.col("action") == "download") & (age >= 28) & (age < 56)).sum(),
    )
    rows = (
        subs.filter(
            pl.col("cancelled_at").is_null() & (pl.col("joined_at") < AS_OF - timedelta(days=56))
        )
        .join(per_member, on="member_id", how="left")
        .fill_null(0)
        .with_columns(y=pl.col("member_id").is_in(churned.implode()).cast(pl.Int8))
    )
    means = (
        rows.group_by("y")
        .agg(pl.exclude("member_id", "joined_at", "cancelled_at", "country", "plan").mean())
        .sort("y")
    )
    quiet, churn = means.row(0, named=True), means.row(1, named=True)
    assert rows["y"].sum() > 60
    assert churn["payment_failed"] > 2.5 * quiet["payment_failed"]
    assert churn["plan_downgraded"] > 2 * quiet["plan_downgraded"]
    assert churn["download"] < 0.8 * quiet["download"]
    # A naive per-action score beats plain recency.
    rows = rows.with_columns(
        score=pl.col("payment_failed")
        + pl.col("plan_downgraded")
        + (pl.col("download") < 0.5 * pl.col("download_before")).cast(pl.Int32)
    )
    assert auc(rows, "score") > auc(rows, "recency") + 0.05


def test_clickstream_sessions_shrink_before_a_lapse(
    logs: dict[str, dict[str, pl.DataFrame]],
) -> None:
    frames = logs["clickstream"]
    back = frames["future_events"].filter(pl.col("time") < AS_OF + timedelta(days=28))["visitor"]
    ev = (
        frames["events"]
        .sort("visitor", "time")
        .with_columns(
            new=(pl.col("time").diff().over("visitor").dt.total_seconds().fill_null(10**9) > 1800)
        )
        .with_columns(session=pl.col("new").cum_sum())
    )
    regulars = (
        ev.group_by("visitor")
        .agg(sessions=pl.col("session").n_unique())
        .filter(pl.col("sessions") >= 3)["visitor"]
    )
    recent = ev.filter(
        (days_before_as_of("time") < 28) & pl.col("visitor").is_in(regulars.implode())
    )
    rows = (
        recent.group_by("visitor")
        .agg(
            pages_per_session=pl.len() / pl.col("session").n_unique(),
            carts_per_session=(pl.col("page") == "add_to_cart").sum()
            / pl.col("session").n_unique(),
        )
        .with_columns(lapsed=~pl.col("visitor").is_in(back.implode()))
    )
    means = rows.group_by("lapsed").agg(pl.col("pages_per_session", "carts_per_session").mean())
    stay, lapse = (
        means.filter(pl.col("lapsed") == flag).row(0, named=True) for flag in (False, True)
    )
    assert rows["lapsed"].sum() > 100
    assert lapse["pages_per_session"] < 0.85 * stay["pages_per_session"]
    assert lapse["carts_per_session"] < 0.8 * stay["carts_per_session"]


def test_purchases_baskets_shrink_before_dropout(logs: dict[str, dict[str, pl.DataFrame]]) -> None:
    frames = logs["purchases"]
    back = frames["future_events"].filter(pl.col("purchased_at") < AS_OF + timedelta(days=56))
    rows = (
        frames["events"]
        .sort("purchased_at")
        .group_by("customer")
        .agg(
            n=pl.len(),
            recency=days_before_as_of("purchased_at").min(),
            ratio=pl.col("amount").tail(2).mean() / pl.col("amount").head(pl.len() - 2).mean(),
        )
        .filter((pl.col("n") >= 4) & (pl.col("recency") < 90))
        .with_columns(lapsed=~pl.col("customer").is_in(back["customer"].implode()))
    )
    means = rows.group_by("lapsed").agg(pl.col("ratio").mean())
    stay, lapse = (means.filter(pl.col("lapsed") == flag)["ratio"].item() for flag in (False, True))
    assert rows["lapsed"].sum() > 50
    assert lapse < stay - 0.04


def test_clickstream_segments_change_over_time(logs: dict[str, dict[str, pl.DataFrame]]) -> None:
    ev = logs["clickstream"]["events"]
    per_visitor = (
        ev.sort("time")
        .group_by("visitor")
        .agg(
            devices=pl.col("device").n_unique(),
            regions=pl.col("region").n_unique(),
            channels=pl.col("channel").n_unique(),
            switched=pl.col("device").first() != pl.col("device").last(),
            views=pl.len(),
        )
    )
    regulars = per_visitor.filter(pl.col("views") >= 20)
    assert (regulars["devices"] > 1).mean() > 0.3
    assert (regulars["channels"] > 1).mean() > 0.5
    assert (per_visitor["regions"] > 1).sum() > 10
    assert regulars["switched"].sum() > 20


# --- files and CLI -----------------------------------------------------------------------------


@pytest.mark.parametrize("shape", sorted(testlogs.SHAPES))
def test_cli_writes_the_layout(tmp_path: Path, shape: str) -> None:
    out = tmp_path / shape
    code = main(
        [
            "--shape",
            shape,
            "--out",
            str(out),
            "--seed",
            "1",
            "--as-of",
            "2026-06-01",
            "--customers",
            "300",
            "--days",
            "100",
        ]
    )
    assert code == 0
    spec = testlogs.SHAPES[shape]
    tables = ["events"] + ([spec.entity_table] if spec.entity_table else [])
    for table in tables:
        assert (out / f"{table}.parquet").is_file()
        assert (out / "future" / f"{table}.parquet").is_file()
    events = pl.read_parquet(out / "events.parquet")
    assert events[spec.time_column].max() < AS_OF
    assert events[spec.time_column].min() >= AS_OF - timedelta(days=100)
    assert pl.read_parquet(out / "future" / "events.parquet")[spec.time_column].min() >= AS_OF
    info = json.loads((out / "README.json").read_text())
    assert info["shape"] == shape and info["as_of"] == "2026-06-01"
    assert info["segments"] == {"table": spec.segments_table, "columns": spec.segments}
    suggested = info["suggested_config"]
    assert suggested["label"] == {"name": spec.label, "horizon_days": spec.horizon_days}
    assert suggested["data"]["columns"] == spec.mapping
    # Every mapped source column exists in the table it belongs to.
    columns = set().union(*(info["columns"][t] for t in tables))
    assert set(spec.mapping.values()) <= columns
    assert set(spec.segments) <= columns


def test_cli_rejects_bad_arguments(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--shape", "purchases", "--out", str(tmp_path), "--as-of", "June"]) == 2
    assert "as_of" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--shape", "tickets", "--out", str(tmp_path)])


def test_python_dash_m(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "testlogs",
            "--shape",
            "purchases",
            "--out",
            str(tmp_path),
            "--customers",
            "200",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "README.json").is_file()


# --- the real CDNOW log (lifetimes) --------------------------------------------------------------


def _cdnow_or_skip() -> Path:
    """The CDNOW file: lifetimes is a locked dependency, so its absence is a failure."""
    from testlogs.public import cdnow_path

    return cdnow_path()


def test_cdnow_converted_and_split(tmp_path: Path) -> None:
    from testlogs.public import load_cdnow

    _cdnow_or_skip()
    frames = load_cdnow()
    cut = datetime(1997, 10, 1, tzinfo=UTC)
    events, future = frames["events"], frames["future_events"]
    assert events.height + future.height == 69_659
    assert pl.concat([events, future])["customer"].n_unique() == 23_570
    assert events["purchased_at"].max() < cut <= future["purchased_at"].min()
    assert dict(events.schema) == {
        "customer": pl.String(),
        "purchased_at": TS,
        "amount": pl.Float64(),
        "quantity": pl.Int64(),
    }
    assert main(["--shape", "cdnow", "--out", str(tmp_path)]) == 0
    assert pl.read_parquet(tmp_path / "future" / "events.parquet").height == future.height
    info = json.loads((tmp_path / "README.json").read_text())
    assert info["suggested_config"]["data"]["columns"]["account_id"] == "customer"
    assert main(["--shape", "cdnow", "--out", str(tmp_path), "--as-of", "2026-06-01"]) == 2
