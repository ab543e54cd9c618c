"""featuretools deep feature synthesis at our cutoffs: the peer of ``benchmarks.featuretools_peer``.

Runs in the peer's own environment (``make peer-venv``; featuretools needs pandas < 3), not the
main one, so it imports nothing from the project:

    benchmarks/peer/.venv/bin/python benchmarks/peer/dfs.py --data DIR \\
        --cutoff-times cutoff_times.parquet --out features.parquet

EntitySet: ``accounts`` (index ``account_id``, time index ``created_at``) <- ``users`` (time index
``created_at``) <- ``events`` (time index ``timestamp``), and ``accounts`` <- ``events`` directly.
Columns known only after the fact are left out, as any point-in-time build must:
``accounts.churned_at`` and ``users.deactivated_at`` (featuretools has no notion that a value is
not yet known at a cutoff; only rows are filtered by time index). Timestamps are naive UTC.

``ft.dfs`` on ``accounts`` with ``cutoff_time`` = the given (account_id, time) rows (time = the
cutoff's 00:00 UTC), ``include_cutoff_time=False`` (data with time ``< time`` only: the same
"events before the cutoff" as the main build), no ``training_window`` (all history), ``max_depth=2``,
the default primitives plus a few time-aware ones, and ``count`` where ``event`` is each event
type (interesting values). Prints one JSON line with stage times and the feature count.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import featuretools as ft
import pandas as pd
from woodwork.logical_types import Categorical, Datetime, Double, Integer

AGG = [
    # featuretools' default aggregation primitives ...
    "count",
    "sum",
    "mean",
    "std",
    "max",
    "min",
    "skew",
    "percent_true",
    "num_unique",
    "mode",
    # ... and the time-aware ones a churn model would reach for
    "time_since_last",
    "time_since_first",
    "avg_time_between",
    "trend",
]
#: featuretools' default transform primitives (those that apply: no lat-long or text columns)
#: plus tenure / days-to-renewal as ``time_since`` the cutoff.
TRANS = ["day", "year", "month", "weekday", "time_since"]
WHERE = ["count"]


def _naive_utc(frame: pd.DataFrame) -> pd.DataFrame:
    for col in frame.columns:
        if isinstance(frame[col].dtype, pd.DatetimeTZDtype):
            frame[col] = frame[col].dt.tz_convert("UTC").dt.tz_localize(None)
    return frame


def entityset(data: Path) -> ft.EntitySet:
    """The three tables as an EntitySet with their relationships and interesting values."""
    accounts = _naive_utc(pd.read_parquet(data / "accounts.parquet")).drop(
        columns=["churned_at"], errors="ignore"
    )
    users = _naive_utc(pd.read_parquet(data / "users.parquet")).drop(
        columns=["deactivated_at"], errors="ignore"
    )
    events = _naive_utc(pd.read_parquet(data / "events.parquet"))
    events.insert(0, "event_id", range(len(events)))
    segments = [c for c in ("industry", "size_tier", "use_case", "plan") if c in accounts.columns]
    es = ft.EntitySet("adoption")
    es.add_dataframe(
        dataframe_name="accounts",
        dataframe=accounts,
        index="account_id",
        time_index="created_at",
        logical_types={
            **dict.fromkeys(segments, Categorical),
            "renewal_date": Datetime,
            "seats": Integer,
        },
    )
    es.add_dataframe(
        dataframe_name="users",
        dataframe=users,
        index="user_id",
        time_index="created_at",
        logical_types={"role": Categorical},
    )
    es.add_dataframe(
        dataframe_name="events",
        dataframe=events,
        index="event_id",
        time_index="timestamp",
        logical_types={"event": Categorical, "value": Double},
    )
    es.add_relationship("accounts", "account_id", "users", "account_id")
    es.add_relationship("users", "user_id", "events", "user_id")
    es.add_relationship("accounts", "account_id", "events", "account_id")
    types = sorted(events["event"].dropna().unique().tolist())
    es.add_interesting_values(dataframe_name="events", values={"event": types})
    return es


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True, help="folder of the three parquet files")
    ap.add_argument("--cutoff-times", type=Path, required=True, help="account_id, time parquet")
    ap.add_argument("--out", type=Path, required=True, help="feature matrix parquet")
    ap.add_argument("--max-depth", type=int, default=2)
    args = ap.parse_args()
    warnings.simplefilter("ignore")  # pandas FutureWarnings from inside featuretools
    times: dict[str, float] = {}
    t0 = time.perf_counter()
    es = entityset(args.data)
    cutoff_time = pd.read_parquet(args.cutoff_times)
    times["load"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    matrix, defs = ft.dfs(
        entityset=es,
        target_dataframe_name="accounts",
        cutoff_time=cutoff_time,
        cutoff_time_in_index=True,
        include_cutoff_time=False,
        training_window=None,
        agg_primitives=AGG,
        trans_primitives=TRANS,
        where_primitives=WHERE,
        max_depth=args.max_depth,
        n_jobs=1,
        verbose=False,
    )
    times["dfs"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    matrix = matrix.reset_index()  # account_id, time, features
    matrix.columns = [str(c) for c in matrix.columns]
    matrix.to_parquet(args.out, index=False)
    times["write"] = time.perf_counter() - t0
    print(
        json.dumps(
            {
                "stages_s": {k: round(v, 2) for k, v in times.items()},
                "rows": len(matrix),
                "features": len(defs),
                "featuretools": ft.__version__,
                "pandas": pd.__version__,
            }
        )
    )


if __name__ == "__main__":
    main()
