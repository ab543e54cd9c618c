"""A real third-party transactions log: CDNOW, as shipped by the ``lifetimes`` package.

Source: ``lifetimes/datasets/CDNOW_master.txt`` in the PyPI package ``lifetimes`` (0.11.3, a
dependency in ``uv.lock``). It is the classic CDNOW data set of Fader & Hardie: every purchase
from 1997-01-01 to 1998-06-30 of the 23,570 customers who made their first purchase at the
online CD shop in the first quarter of 1997 (69,659 rows). Whitespace-separated columns:
customer id (zero-padded), date (``YYYYMMDD``), number of CDs, dollar value.

Why it is useful next to the generators: nobody designed it for this product. It is one cohort
(no staggered joins after March 1997), dates without times (several rows per customer and day,
235 exact duplicate rows, 80 purchases of $0.00), and most customers never come back -- the
shape BTYD models were built for. A real log catches assumptions a simulator shares with the
code it tests.

Converted to the ``purchases`` layout (same column names, plus ``quantity``): ``customer``
(str, the source id as written, e.g. ``00123``), ``purchased_at`` (``Datetime('us', 'UTC')``,
00:00 UTC of the purchase date), ``amount`` (f64 dollars), ``quantity`` (i64 CDs). Split at
``as_of`` like the generated shapes (``events`` strictly before, ``future_events`` at or
after). The default as-of, 1997-10-01, is the usual 39-week calibration / 39-week holdout cut.

The file is located without importing ``lifetimes`` (its import pulls pandas and autograd).
"""

from __future__ import annotations

import importlib.util
import json
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import cast

import polars as pl

from testlogs._common import TS, Shape, Window, parse_as_of, readme, split

CDNOW_FILE = "datasets/CDNOW_master.txt"
CDNOW_AS_OF = "1997-10-01"
_LINE = r"^\s*(\d+)\s+(\d{8})\s+(\d+)\s+([0-9.]+)\s*$"


def _not_simulated(*_: object) -> dict[str, pl.DataFrame]:
    raise ValueError("cdnow is a recorded log, not a simulation: use testlogs.public.load_cdnow")


CDNOW = Shape(
    name="cdnow",
    simulate=_not_simulated,
    default_n=23_570,
    default_days=273,
    id_column="customer",
    time_column="purchased_at",
    mapping={"account_id": "customer", "timestamp": "purchased_at", "value": "amount"},
    segments=[],
    segments_table=None,
    label="inactivity",
    horizon_days=91,
    notes={"source": "lifetimes 0.11.3, lifetimes/datasets/CDNOW_master.txt (Fader & Hardie)"},
)


def cdnow_path() -> Path:
    """Where the installed ``lifetimes`` package keeps ``CDNOW_master.txt``.

    Raises ``FileNotFoundError`` (naming the package) when ``lifetimes`` is not installed.
    """
    spec = importlib.util.find_spec("lifetimes")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for folder in locations:
        path = Path(folder) / CDNOW_FILE
        if path.is_file():
            return path
    raise FileNotFoundError(
        "CDNOW_master.txt not found: the PyPI package 'lifetimes' (0.11.x) ships it in "
        "lifetimes/datasets/; install the project's locked dependencies"
    )


def read_cdnow(path: str | Path | None = None) -> pl.DataFrame:
    """The whole CDNOW log in the purchases layout, sorted by time, customer (stable)."""
    source = Path(path) if path is not None else cdnow_path()
    lines = pl.read_csv(
        source,
        has_header=False,
        new_columns=["line"],
        separator="\x1f",
        skip_rows=1,
        quote_char=None,
    )
    parts = lines.select(pl.col("line").str.extract_groups(_LINE)).unnest("line")
    bad = parts.filter(pl.any_horizontal(pl.all().is_null())).height
    if bad:
        raise ValueError(f"{source}: {bad} lines do not read as 'id YYYYMMDD cds dollars'")
    return parts.select(
        pl.col("1").alias("customer"),
        pl.col("2")
        .str.to_date("%Y%m%d")
        .cast(pl.Datetime("us"))
        .dt.replace_time_zone("UTC")
        .cast(TS)
        .alias("purchased_at"),
        pl.col("4").cast(pl.Float64).alias("amount"),
        pl.col("3").cast(pl.Int64).alias("quantity"),
    ).sort("purchased_at", "customer", maintain_order=True)


def load_cdnow(
    as_of: str | date | datetime = CDNOW_AS_OF, path: str | Path | None = None
) -> dict[str, pl.DataFrame]:
    """CDNOW split at ``as_of`` (00:00 UTC): ``events`` (before) and ``future_events`` (from it)."""
    cut = parse_as_of(as_of)
    events = read_cdnow(path)
    first = cast(datetime, events["purchased_at"].min())
    last = cast(datetime, events["purchased_at"].max())
    if not first < cut <= last:
        raise ValueError(
            f"as_of={cut.date()} is outside the CDNOW log ({first:%Y-%m-%d} .. "
            f"{last:%Y-%m-%d}); the usual cut is {CDNOW_AS_OF}"
        )
    return split(CDNOW, {"events": events}, cut)


def write_cdnow(
    out_dir: str | Path, as_of: str | date | datetime = CDNOW_AS_OF, path: str | Path | None = None
) -> dict[str, Path]:
    """Write ``out_dir/events.parquet``, ``out_dir/future/events.parquet`` and ``README.json``."""
    frames = load_cdnow(as_of, path)
    out = Path(out_dir)
    (out / "future").mkdir(parents=True, exist_ok=True)
    paths = {"events": out / "events.parquet", "future_events": out / "future" / "events.parquet"}
    for key, target in paths.items():
        frames[key].write_parquet(target, statistics=True)
    start = cast(datetime, frames["events"]["purchased_at"].min())
    end = cast(datetime, frames["future_events"]["purchased_at"].max()) + timedelta(days=1)
    window = Window(start, parse_as_of(as_of), end)
    info = readme(CDNOW, frames, window, seed=0, out_dir=str(out))
    info["seed"] = None
    paths["readme"] = out / "README.json"
    paths["readme"].write_text(json.dumps(info, indent=2, default=str) + "\n")
    return paths
