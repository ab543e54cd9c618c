"""Small shared pieces of the adoption package: frame coercion, segment stacking, wording helpers.

Private to ``adoption``; the public contract lives in the modules that use these.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

#: Value of ``segment_column`` and ``segment`` for the row that covers every account.
ALL = "all"
#: Segment value used when an account has no value in a segment column.
UNKNOWN = "unknown"
#: Key columns of every per-segment result: which segment column, which value of it.
SEGMENT_KEYS = ["segment_column", "segment"]

FrameLike = pl.DataFrame | pl.LazyFrame


def lazy(frame: FrameLike) -> pl.LazyFrame:
    """A LazyFrame view of a DataFrame or LazyFrame."""
    return frame.lazy() if isinstance(frame, pl.DataFrame) else frame


def collect(frame: FrameLike) -> pl.DataFrame:
    """A DataFrame from a DataFrame or LazyFrame."""
    return frame.collect() if isinstance(frame, pl.LazyFrame) else frame


def require_columns(frame: FrameLike, columns: Sequence[str], argument: str) -> None:
    """Raise a ValueError naming ``argument`` when ``frame`` lacks any of ``columns``."""
    have = set(lazy(frame).collect_schema().names())
    missing = [c for c in columns if c not in have]
    if missing:
        raise ValueError(f"{argument}: missing column(s) {missing}; has {sorted(have)}")


@dataclass(frozen=True)
class Milestone:
    """A milestone as the package uses it (mirrors ``core.config.MilestoneConfig``)."""

    name: str
    events: tuple[str, ...]
    expected_days: int = 30
    description: str = ""


def milestone_specs(milestones: Sequence[Any]) -> list[Milestone]:
    """Normalise MilestoneConfig objects, Milestone objects or dicts to ``Milestone``.

    Each needs ``name`` and a non-empty ``events`` list; names must be unique."""
    out: list[Milestone] = []
    for m in milestones:
        if isinstance(m, Mapping):
            name, events = m.get("name"), m.get("events")
            expected, description = m.get("expected_days", 30), m.get("description", "")
        else:
            name, events = getattr(m, "name", None), getattr(m, "events", None)
            expected = getattr(m, "expected_days", 30)
            description = getattr(m, "description", "")
        if not name or not events or isinstance(events, str):
            raise ValueError(
                f"milestones: each needs a name and a non-empty list of events, got {m!r}"
            )
        out.append(
            Milestone(
                name=str(name),
                events=tuple(str(e) for e in events),
                expected_days=int(expected if expected is not None else 30),
                description=str(description or ""),
            )
        )
    names = [m.name for m in out]
    if len(set(names)) != len(names):
        raise ValueError(f"milestones: names must be unique, got {names}")
    return out


def humanise(expr: pl.Expr) -> pl.Expr:
    """Machine name -> words: ``report_created`` -> ``report created``."""
    return expr.str.replace_all("_", " ", literal=True)


def check_segments(segments: Sequence[str]) -> list[str]:
    """Segment column names as a list; rejects names that clash with the result keys."""
    segs = [str(s) for s in segments]
    clash = [s for s in segs if s in {*SEGMENT_KEYS, ALL}]
    if clash:
        raise ValueError(f"segments: {clash} clash with the result columns {SEGMENT_KEYS}")
    return segs


def stack_segments(frame: pl.LazyFrame, segments: Sequence[str]) -> pl.LazyFrame:
    """One copy of ``frame`` per segment column plus one for everyone.

    Adds ``segment_column`` (``"all"`` or the column name) and ``segment`` (``"all"`` or the
    account's value as a string, ``"unknown"`` when null); drops the segment columns. Grouping
    by the two keys then gives "all" and every segment in one pass."""
    segs = check_segments(segments)
    parts = [
        frame.drop(segs).with_columns(
            pl.lit(ALL).alias("segment_column"), pl.lit(ALL).alias("segment")
        )
    ]
    for s in segs:
        parts.append(
            frame.with_columns(
                pl.lit(s).alias("segment_column"),
                pl.col(s).cast(pl.String).fill_null(UNKNOWN).alias("segment"),
            ).drop(segs)
        )
    return pl.concat(parts, how="vertical")


def thousands(expr: pl.Expr) -> pl.Expr:
    """Non-negative integer -> string with thousands separators (``1203`` -> ``"1,203"``)."""
    n = expr.cast(pl.Int64)

    def three(e: pl.Expr) -> pl.Expr:
        return e.cast(pl.String).str.zfill(3)

    return (
        pl.when(n >= 1_000_000)
        .then(pl.format("{},{},{}", n // 1_000_000, three((n // 1000) % 1000), three(n % 1000)))
        .when(n >= 1000)
        .then(pl.format("{},{}", n // 1000, three(n % 1000)))
        .otherwise(n.cast(pl.String))
    )


def decimals(expr: pl.Expr, places: int) -> pl.Expr:
    """Non-negative float -> string with ``places`` decimals (``2.1``, ``0.35``)."""
    scale = 10**places
    scaled = (expr * scale).round(0).cast(pl.Int64)
    frac = (scaled % scale).cast(pl.String).str.zfill(places)
    return pl.format("{}.{}", scaled // scale, frac)


def ratio_text(expr: pl.Expr) -> pl.Expr:
    """A ratio for a sentence: one decimal from 1 up (``2.1``), two below 1 (``0.35``)."""
    return pl.when(expr >= 0.995).then(decimals(expr, 1)).otherwise(decimals(expr, 2))


def percent(expr: pl.Expr) -> pl.Expr:
    """Share in [0, 1] -> whole percent string (``0.345`` -> ``"35%"``)."""
    return pl.format("{}%", (expr * 100).round(0).cast(pl.Int64))
