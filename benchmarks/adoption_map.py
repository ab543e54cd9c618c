"""Does the adoption map find the behaviours the simulator planted, and only those?

``python -m benchmarks.adoption_map [--seeds 5] [--accounts 3000] [--days 300]``

Evaluation only (it reads the simulator's ``map_truth`` and ``ttv_truth``; product code never
does). For each seed: simulate (in process, no usage_drop oracle), build the map with
``adoption.build.build_map`` (segments industry, size_tier, use_case; the milestones of
``conf/features/default.yaml``; ``MapParams()`` defaults) and check, against the planted truth
(``simulator.planted``):

* **found**: "configured a webhook" (planted effect in ``use_case = integration_hub`` only) is
  in that segment's top five (``AdoptionMap.top``: significant, replicated, ranked by the lower
  end of the risk difference's interval). Target >= 90 % of seeds.
* **null / confounded flagged**: share of the ``template_shared`` (no effect; immortal-time
  trap) finding rows and of the ``sso_configured`` (no effect; driven by size) rows within the
  size_tier segments that are significant. Target <= 5 %. For SSO the rows of the other
  segments (all, industry, use_case: mixtures of sizes, where the association is real but not
  causal) are reported too, without a target.
* **coverage**: the 95 % interval of the risk difference of "configured a webhook in the first
  14 days" in ``integration_hub`` covers the true causal risk difference. Target >= 90 %.
* **time to value**: median days to each milestone per segment within 10 % of the truth.

Writes ``benchmarks/results/adoption_map.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from datetime import UTC, date, datetime
from datetime import time as dtime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import yaml

from adoption.build import AdoptionMap, MapParams, build_map
from adoption.landmark import two_group_stats
from simulator import LabelSpec, Simulation, SimulationSpec, planted, simulate

ROOT = Path(__file__).resolve().parent.parent
RESULT = ROOT / "benchmarks" / "results" / "adoption_map.json"
SEGMENTS = ["industry", "size_tier", "use_case"]
END = date(2026, 11, 1)
TARGETS = {
    "found_in_top5_share": (">=", 0.90),
    "null_template_significant_share": ("<=", 0.05),
    "confounded_sso_within_size_tier_significant_share": ("<=", 0.05),
    "coverage_share": (">=", 0.90),
    "ttv_within_10pct_share": (">=", 0.90),
}
PLANTED_CANDIDATE = f"event__{planted.WEBHOOK}__ge1__{planted.WEBHOOK_LANDMARK}d"


def milestones() -> list[dict[str, Any]]:
    conf = yaml.safe_load((ROOT / "conf" / "features" / "default.yaml").read_text())
    return list(conf["milestones"])


def run_seed(seed: int, accounts: int, days: int) -> tuple[Simulation, AdoptionMap, float]:
    spec = SimulationSpec(
        accounts=accounts,
        days=days,
        seed=seed,
        end_date=END,
        cutoffs=(),
        label=LabelSpec(),
        planted=True,
    )
    t0 = time.perf_counter()
    sim = simulate(spec)
    amap = build_map(
        sim.events,
        sim.accounts,
        sim.users,
        milestones(),
        SEGMENTS,
        MapParams(),
        observed_until=datetime.combine(END, dtime(0), tzinfo=UTC),
    )
    return sim, amap, time.perf_counter() - t0


def naive_ever(sim: Simulation, event: str) -> dict[str, Any]:
    """The naive comparison the landmark guards against: accounts that did ``event`` at any
    time in their first 90 days (the outcome day) vs the others, all accounts observed 90 days."""
    end = planted.OUTCOME_END_DAY
    acc = sim.accounts.select("account_id", "created_at", "churned_at")
    obs_end = datetime.combine(END, dtime(0), tzinfo=UTC)
    ev = sim.events.join(acc, on="account_id").with_columns(
        day=(pl.col("timestamp").dt.date() - pl.col("created_at").dt.date()).dt.total_days()
    )
    did = ev.filter((pl.col("event") == event) & (pl.col("day") < end)).select(
        "account_id", pl.lit(True).alias("did")
    )
    active = ev.filter(pl.col("day").is_between(end - planted.OUTCOME_WINDOW_DAYS, end - 1))
    active = active.select("account_id").unique().with_columns(pl.lit(True).alias("act"))
    rows = (
        acc.filter(pl.col("created_at") + pl.duration(days=end) <= obs_end)
        .join(did.unique(), on="account_id", how="left")
        .join(active, on="account_id", how="left")
        .with_columns(
            pl.col("did").fill_null(False),
            (
                pl.col("act").fill_null(False)
                & (
                    pl.col("churned_at").is_null()
                    | (pl.col("churned_at") >= pl.col("created_at") + pl.duration(days=end))
                )
            ).alias("ok"),
        )
    )
    counts = rows.select(
        n_did=pl.col("did").sum(),
        x_did=(pl.col("did") & pl.col("ok")).sum(),
        n_not=(~pl.col("did")).sum(),
        x_not=(~pl.col("did") & pl.col("ok")).sum(),
    )
    st = two_group_stats(counts).row(0, named=True)
    return {k: st[k] for k in ("n_did", "n_not", "risk_difference", "rd_low", "rd_high", "p_value")}


def evaluate(sim: Simulation, amap: AdoptionMap) -> dict[str, Any]:
    f = amap.findings.filter(pl.col("status") == "ok")
    truth = sim.map_truth
    hub = (pl.col("segment_column") == "use_case") & (pl.col("segment") == planted.WEBHOOK_USE_CASE)
    top_hub = amap.top.filter(hub)
    web_top = top_hub.filter(pl.col("item") == planted.WEBHOOK)
    row = f.filter(hub & (pl.col("candidate") == PLANTED_CANDIDATE))
    t = truth.filter(
        hub
        & (pl.col("behaviour") == planted.WEBHOOK)
        & (pl.col("landmark_day") == planted.WEBHOOK_LANDMARK)
    ).row(0, named=True)
    a: dict[str, Any] = {"true_effect": t["true_effect"], "expected_rd": t["expected_rd"]}
    if row.height:
        r = row.row(0, named=True)
        a.update(
            {
                k: r[k]
                for k in (
                    "n_did",
                    "n_not",
                    "precision",
                    "rate_not",
                    "risk_difference",
                    "rd_low",
                    "rd_high",
                    "q_value",
                    "significant",
                    "replicates",
                    "late_n_total",
                    "late_rd_low",
                )
            }
        )
        a["covers_true_effect"] = r["rd_low"] <= t["true_effect"] <= r["rd_high"]
        a["covers_expected_rd"] = r["rd_low"] <= t["expected_rd"] <= r["rd_high"]
    a["in_top5"] = web_top.height > 0
    a["rank"] = int(web_top["rank"].min()) if web_top.height else None  # type: ignore[arg-type]
    a["top5_items"] = top_hub.sort("rank")["item"].to_list()
    other = f.filter(
        (pl.col("segment_column") == "use_case")
        & (pl.col("segment") != planted.WEBHOOK_USE_CASE)
        & (pl.col("item") == planted.WEBHOOK)
    )
    a["other_use_cases_rows"] = other.height
    a["other_use_cases_significant"] = int(other["significant"].sum())

    def flagged(item: str, within: pl.Expr) -> dict[str, int]:
        rows = f.filter((pl.col("kind") == "event") & (pl.col("item") == item) & within)
        return {"rows": rows.height, "significant": int(rows["significant"].sum())}

    in_tier = pl.col("segment_column") == "size_tier"
    ttv = amap.ttv.join(
        sim.ttv_truth.select("milestone", "segment_column", "segment", "true_median_day"),
        on=["milestone", "segment_column", "segment"],
        how="inner",
    ).filter(pl.col("true_median_day").is_not_null())
    ttv = ttv.with_columns(
        within=(pl.col("median_day") - pl.col("true_median_day")).abs()
        <= 0.1 * pl.col("true_median_day")
    )
    return {
        "planted_effect": a,
        "template": flagged(planted.TEMPLATE, pl.lit(True)),
        "template_naive_ever": naive_ever(sim, planted.TEMPLATE),
        "sso_within_size_tier": flagged(planted.SSO, in_tier),
        "sso_other_segments": flagged(planted.SSO, ~in_tier),
        "ttv": {
            "pairs": ttv.height,
            "within_10pct": int(ttv["within"].fill_null(False).sum()),
            "misses": ttv.filter(~pl.col("within").fill_null(False))
            .select("milestone", "segment_column", "segment", "median_day", "true_median_day")
            .to_dicts(),
        },
    }


def summarise(per_seed: list[dict[str, Any]]) -> dict[str, Any]:
    def share(xs: list[int], ns: list[int]) -> float | None:
        return round(sum(xs) / sum(ns), 4) if sum(ns) else None

    a = [s["planted_effect"] for s in per_seed]
    values = {
        "found_in_top5_share": round(float(np.mean([x["in_top5"] for x in a])), 4),
        "null_template_significant_share": share(
            [s["template"]["significant"] for s in per_seed],
            [s["template"]["rows"] for s in per_seed],
        ),
        "confounded_sso_within_size_tier_significant_share": share(
            [s["sso_within_size_tier"]["significant"] for s in per_seed],
            [s["sso_within_size_tier"]["rows"] for s in per_seed],
        ),
        "coverage_share": round(float(np.mean([bool(x.get("covers_true_effect")) for x in a])), 4),
        "ttv_within_10pct_share": share(
            [s["ttv"]["within_10pct"] for s in per_seed], [s["ttv"]["pairs"] for s in per_seed]
        ),
    }
    extra = {
        "coverage_of_expected_rd_share": round(
            float(np.mean([bool(x.get("covers_expected_rd")) for x in a])), 4
        ),
        "planted_not_significant_in_other_use_cases_share": share(
            [x["other_use_cases_rows"] - x["other_use_cases_significant"] for x in a],
            [x["other_use_cases_rows"] for x in a],
        ),
        "confounded_sso_other_segments_significant_share": share(
            [s["sso_other_segments"]["significant"] for s in per_seed],
            [s["sso_other_segments"]["rows"] for s in per_seed],
        ),
        "null_template_seeds_with_any_significant": sum(
            s["template"]["significant"] > 0 for s in per_seed
        ),
        "naive_ever_template_significant_share": round(
            float(np.mean([s["template_naive_ever"]["p_value"] < 0.05 for s in per_seed])), 4
        ),
    }
    targets = {}
    for k, (op, bar) in TARGETS.items():
        v = values[k]
        met = v is not None and (v >= bar if op == ">=" else v <= bar)
        targets[k] = {"value": v, "target": f"{op} {bar}", "met": met}
    return {"targets": targets, "other": extra}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--accounts", type=int, default=3000)
    parser.add_argument("--days", type=int, default=300)
    args = parser.parse_args()
    per_seed = []
    started = time.perf_counter()
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        sim, amap, elapsed = run_seed(seed, args.accounts, args.days)
        res = evaluate(sim, amap)
        res["seed"] = seed
        res["elapsed_s"] = round(elapsed, 1)
        per_seed.append(res)
        a = res["planted_effect"]
        print(
            f"seed {seed}: {elapsed:.0f}s  webhook in hub: rd {a.get('risk_difference', 0):.3f} "
            f"[{a.get('rd_low', 0):.3f}, {a.get('rd_high', 0):.3f}] true {a['true_effect']:.3f} "
            f"top5={a['in_top5']} rank={a['rank']}  template sig {res['template']['significant']}"
            f"/{res['template']['rows']}  sso in tier sig {res['sso_within_size_tier']['significant']}"
            f"/{res['sso_within_size_tier']['rows']} (other {res['sso_other_segments']['significant']}"
            f"/{res['sso_other_segments']['rows']})  ttv {res['ttv']['within_10pct']}/{res['ttv']['pairs']}",
            flush=True,
        )
    summary = summarise(per_seed)
    result = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_avg_1m": os.getloadavg()[0],
        },
        "params": vars(args),
        "planted": {
            "effect": f"{planted.WEBHOOK} in the first {planted.WEBHOOK_LANDMARK} days, "
            f"use_case={planted.WEBHOOK_USE_CASE} (abandon probability {planted.GAP_P} without)",
            "null": f"{planted.TEMPLATE} (constant rate {planted.TEMPLATE_RATE:.3f}/day of life)",
            "confounded": f"{planted.SSO} (P by size_tier {planted.SSO_P.tolist()})",
        },
        **summary,
        "total_s": round(time.perf_counter() - started, 1),
        "per_seed": per_seed,
    }
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
    print(f"\n{'target':<52} {'value':>8} {'bar':>8}  met")
    for k, v in summary["targets"].items():
        print(f"{k:<52} {v['value']!s:>8} {v['target']:>8}  {v['met']}")
    for k, v in summary["other"].items():
        print(f"{k:<52} {v!s:>8}")
    print(f"written to {RESULT}")


if __name__ == "__main__":
    main()
