"""``python -m testlogs``: write one foreign event log to a folder.

    python -m testlogs --shape subscription --out data/foreign/sub --seed 7 --as-of 2026-06-01

Writes ``OUT/events.parquet`` (everything strictly before as-of), the entity table for shapes
that have one (``OUT/subscribers.parquet``, as exported at as-of), ``OUT/future/`` (everything
at or after as-of, entity table with the full end dates) and ``OUT/README.json`` (columns,
segments and the product config a user would state). ``--shape cdnow`` converts the real
CDNOW log shipped by the ``lifetimes`` package instead (:mod:`testlogs.public`; default as-of
1997-10-01; seed and sizes do not apply). Exit code 2 on a bad argument.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

from testlogs import DEFAULT_AS_OF, SHAPES, write
from testlogs.public import CDNOW_AS_OF, write_cdnow


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m testlogs",
        description="Write a foreign event log (not the product's simulator) split at as-of.",
    )
    parser.add_argument("--shape", required=True, choices=[*sorted(SHAPES), "cdnow"])
    parser.add_argument("--out", required=True, help="output folder (created)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--as-of",
        default=None,
        help=f"ISO date, 00:00 UTC (default {DEFAULT_AS_OF}; cdnow {CDNOW_AS_OF})",
    )
    parser.add_argument(
        "--customers",
        "--entities",
        "-n",
        dest="n",
        type=int,
        default=None,
        help="customers / members / visitors (default per shape)",
    )
    parser.add_argument(
        "--days", type=int, default=None, help="days of history before as-of (default per shape)"
    )
    parser.add_argument(
        "--future-days",
        type=int,
        default=None,
        help="days simulated at and after as-of (default 120)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    started = time.perf_counter()
    try:
        if args.shape == "cdnow":
            if args.n is not None or args.days is not None or args.future_days is not None:
                raise ValueError(
                    "--shape cdnow is a recorded log: --customers/--days/--future-days do not apply"
                )
            paths = write_cdnow(args.out, as_of=args.as_of or CDNOW_AS_OF)
        else:
            paths = write(
                args.shape,
                args.out,
                seed=args.seed,
                as_of=args.as_of or DEFAULT_AS_OF,
                n=args.n,
                days=args.days,
                future_days=args.future_days,
            )
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    seconds = time.perf_counter() - started
    for key, path in paths.items():
        print(f"{key}: {path}")
    print(f"{args.shape}: written in {seconds:.1f} s")
    return 0
