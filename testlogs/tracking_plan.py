"""The simulated B2B world as a tracking-plan export: ``tracks`` and ``groups`` (``data=tracking_plan``).

    python -m testlogs.tracking_plan --out data/tracking_plan                  # a small world
    python -m testlogs.tracking_plan --out data/tracking_plan --from data/demo # convert one

Why: the product reads Segment/RudderStack/Snowplow-style exports by config alone
(``ingest.layouts``); this writes such an export of a world whose canonical tables are known, so
a test can check the mapping returns exactly them. What a tracker would have sent:

* ``tracks.parquet``: one row per event: ``message_id``, ``user_id``, ``event``, ``timestamp``
  (UTC) and ``properties`` (JSON text: ``{"value": 12.5}`` for events with a value, else ``{}``).
* ``groups.parquet``: one row per group call: ``message_id``, ``user_id``, ``group_id``,
  ``timestamp`` and ``traits`` (JSON text). Each user's group call at their ``created_at`` sends
  the account's traits (industry, size_tier, use_case, plan, seats, renewal_date, the account's
  ``created_at``) and the user's ``role``; a deactivated user's account sends
  ``{"deactivated_at": ...}`` for them then; a churned account's first user sends
  ``{"churned_at": ...}`` at the churn. Times in traits are ISO 8601 text with ``Z``.

Rows are shuffled with ``seed`` (a warehouse has no order); same world and seed -> identical
files. A simulated world also gets its canonical tables under ``OUT/canonical/`` and the
overrides to read the export in ``OUT/README.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path

import polars as pl

ACCOUNT_TRAITS = (
    "industry",
    "size_tier",
    "use_case",
    "plan",
    "seats",
    "renewal_date",
    "created_at",
)
SEGMENTS = ("industry", "size_tier", "use_case")
END_DATE = date(2026, 11, 1)


def iso(col: str) -> pl.Expr:
    """A UTC timestamp column as ISO 8601 text, microseconds kept (what JSON traits carry)."""
    return pl.col(col).dt.convert_time_zone("UTC").dt.to_string("%Y-%m-%dT%H:%M:%S%.6fZ")


def _json(*fields: pl.Expr) -> pl.Expr:
    return pl.struct(*fields).struct.json_encode()


def _ids(frame: pl.DataFrame, prefix: str) -> pl.DataFrame:
    return frame.with_row_index("message_id").select(
        pl.format(prefix + "{}", pl.col("message_id").cast(pl.String).str.zfill(9)).alias(
            "message_id"
        ),
        pl.exclude("message_id"),
    )


def to_tracks(events: pl.DataFrame) -> pl.DataFrame:
    """Canonical events -> track calls (the account is not on a track; the group call says it)."""
    ordered = events.sort("timestamp", "user_id", "event", "value", nulls_last=True)
    props = (
        pl.when(pl.col("value").is_not_null()).then(_json(pl.col("value"))).otherwise(pl.lit("{}"))
    )
    return _ids(ordered.select("user_id", "event", "timestamp", props.alias("properties")), "trk-")


def to_groups(users: pl.DataFrame, accounts: pl.DataFrame) -> pl.DataFrame:
    """Canonical users + accounts -> group calls (join, deactivation, churn)."""
    acc = accounts.select(
        "account_id",
        *[pl.col(c) for c in ACCOUNT_TRAITS if c not in ("renewal_date", "created_at")],
        iso("renewal_date").alias("renewal_date"),
        iso("created_at").alias("created_at"),
        "churned_at",
    )
    joined = users.join(acc, on="account_id", how="left", suffix="_account")
    join_calls = joined.select(
        "user_id",
        pl.col("account_id").alias("group_id"),
        pl.col("created_at").alias("timestamp"),
        _json(
            *[pl.col(c) for c in ACCOUNT_TRAITS if c != "created_at"],
            pl.col("created_at_account").alias("created_at"),
            pl.col("role"),
        ).alias("traits"),
    )
    leave_calls = users.filter(pl.col("deactivated_at").is_not_null()).select(
        "user_id",
        pl.col("account_id").alias("group_id"),
        pl.col("deactivated_at").alias("timestamp"),
        _json(iso("deactivated_at").alias("deactivated_at")).alias("traits"),
    )
    first_user = users.sort("created_at", "user_id").group_by("account_id").first()
    churn_calls = (
        accounts.filter(pl.col("churned_at").is_not_null())
        .join(first_user.select("account_id", "user_id"), on="account_id")
        .select(
            "user_id",
            pl.col("account_id").alias("group_id"),
            pl.col("churned_at").alias("timestamp"),
            _json(iso("churned_at").alias("churned_at")).alias("traits"),
        )
    )
    calls = pl.concat([join_calls, leave_calls, churn_calls]).sort("timestamp", "user_id", "traits")
    return _ids(calls, "grp-")


def convert(
    events: pl.DataFrame, users: pl.DataFrame, accounts: pl.DataFrame, seed: int = 0
) -> dict[str, pl.DataFrame]:
    """``tracks`` and ``groups`` of one world, rows shuffled with ``seed``."""
    tracks = to_tracks(events)
    groups = to_groups(users, accounts)
    return {
        "tracks": tracks.sample(fraction=1.0, shuffle=True, seed=seed),
        "groups": groups.sample(fraction=1.0, shuffle=True, seed=seed + 1),
    }


def simulate_world(accounts: int, days: int, seed: int) -> dict[str, pl.DataFrame]:
    """A small simulated world (canonical events, users, accounts) from ``simulator``."""
    from simulator import SimulationSpec, simulate

    cutoffs = tuple(END_DATE - timedelta(days=7 * k) for k in range(4))
    sim = simulate(
        SimulationSpec(
            accounts=accounts,
            days=days,
            seed=seed,
            end_date=END_DATE,
            cutoffs=cutoffs,
            oracle_replays=5,
        )
    )
    return {"events": sim.events, "users": sim.users, "accounts": sim.accounts}


def overrides(out: Path) -> list[str]:
    """The product config that reads the export (the preset does the rest)."""
    return ["data=tracking_plan", f"data.dir={out}"]


def write(
    out_dir: str | Path,
    *,
    source: str | Path | None = None,
    accounts: int = 300,
    days: int = 330,
    seed: int = 0,
) -> dict[str, Path]:
    """Write ``tracks.parquet``, ``groups.parquet`` and ``README.json`` (plus ``canonical/``
    for a simulated world) to ``out_dir``; converts ``source``'s parquet tables when given."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    if source is not None:
        world = {
            t: pl.read_parquet(Path(source) / f"{t}.parquet")
            for t in ("events", "users", "accounts")
        }
    else:
        world = simulate_world(accounts, days, seed)
        (out / "canonical").mkdir(exist_ok=True)
        for name, frame in world.items():
            paths[f"canonical_{name}"] = out / "canonical" / f"{name}.parquet"
            frame.write_parquet(paths[f"canonical_{name}"])
    for name, frame in convert(world["events"], world["users"], world["accounts"], seed).items():
        paths[name] = out / f"{name}.parquet"
        frame.write_parquet(paths[name])
    readme = {
        "layout": "tracking_plan",
        "source": str(source) if source is not None else f"simulator seed={seed}",
        "files": {"tracks": "tracks.parquet", "groups": "groups.parquet"},
        "suggested_config": {"overrides": overrides(out)},
    }
    paths["readme"] = out / "README.json"
    paths["readme"].write_text(json.dumps(readme, indent=2) + "\n")
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m testlogs.tracking_plan",
        description="Write the simulated world as a tracking-plan export (tracks + groups).",
    )
    parser.add_argument("--out", required=True, help="output folder (created)")
    parser.add_argument(
        "--from", dest="source", default=None, help="folder of canonical parquet tables to convert"
    )
    parser.add_argument("--accounts", type=int, default=300, help="simulated accounts")
    parser.add_argument("--days", type=int, default=330, help="simulated days of history")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        paths = write(
            args.out, source=args.source, accounts=args.accounts, days=args.days, seed=args.seed
        )
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for key, path in paths.items():
        print(f"{key}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
