"""What happens to rejected rows: one readable error (``data.on_error=fail``) or the quarantine.

Rejected rows are shown and stored under the user's own column names (the inverse of the
``data.columns`` mapping), because the person fixing them looks at the source, not at our
canonical schema.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from core.atomic import write_parquet
from core.errors import DataValidationError
from core.logs import get_logger
from ingest.read import SOURCE_FILE
from ingest.validate import REASON, REASON_COLUMN, ValidatedTable

log = get_logger(__name__)

MAX_EXAMPLES = 5


def to_source_names(table: ValidatedTable) -> pl.DataFrame:
    """Rejected rows with source column names; ``reason_column`` also names the source column.

    A source column that happens to be called ``reason``/``reason_column`` is kept as
    ``<name>_source`` so it does not collide with ours.
    """
    raw = table.raw
    rejected = table.rejected
    data_cols = [c for c in rejected.columns if c not in (SOURCE_FILE, REASON, REASON_COLUMN)]
    names = {c: raw.source_name(c) for c in data_cols}
    names = {
        c: (f"{n}_source" if n in (REASON, REASON_COLUMN, SOURCE_FILE) else n)
        for c, n in names.items()
    }
    reason_col = pl.col(REASON_COLUMN).replace(dict(raw.source_names))
    return rejected.select(
        *[pl.col(c).alias(names[c]) for c in data_cols],
        pl.col(SOURCE_FILE),
        pl.col(REASON),
        reason_col.alias(REASON_COLUMN),
    )


def _format_row(row: dict[str, object]) -> str:
    src = row.pop(SOURCE_FILE, None)
    row.pop(REASON, None)
    row.pop(REASON_COLUMN, None)
    values = ", ".join(f"{k}={v!r}" for k, v in row.items())
    return f"{src}: {values}" if src else values


def describe_problems(tables: list[ValidatedTable]) -> list[str]:
    """One block per (table, reason, column): where, how many, and up to five example rows."""
    blocks: list[str] = []
    for table in tables:
        if table.rejected.is_empty():
            continue
        shown = to_source_names(table)
        for (reason, column), count in table.counts.items():
            same_column = (
                pl.col(REASON_COLUMN).is_null()
                if column is None
                else pl.col(REASON_COLUMN) == column
            )
            mask = table.rejected.select(((pl.col(REASON) == reason) & same_column).alias("m"))["m"]
            examples = shown.filter(mask).head(MAX_EXAMPLES)
            col_text = "all columns" if column is None else f"column {table.raw.label(column)}"
            lines = [
                f"- table {table.raw.name}, file {table.raw.location}, {col_text}: "
                f"{count} row(s) {reason}; examples:"
            ]
            lines += [f"    {_format_row(r)}" for r in examples.iter_rows(named=True)]
            blocks.append("\n".join(lines))
    return blocks


def raise_if_rejected(tables: list[ValidatedTable]) -> None:
    """``data.on_error=fail``: raise ONE error listing every problem of every table, if any."""
    blocks = describe_problems(tables)
    if not blocks:
        return
    total = sum(t.rejected.height for t in tables)
    raise DataValidationError(
        f"{total} input row(s) break the data contract ({len(blocks)} problem(s)):\n"
        + "\n".join(blocks),
        hint="fix the source rows above, or set data.on_error=quarantine to set them aside "
        "and continue",
    )


def write_quarantine(table: ValidatedTable, quarantine_dir: Path) -> Path | None:
    """``data.on_error=quarantine``: write rejected rows to ``<quarantine_dir>/<table>.parquet``.

    Atomic (a crash never leaves half a file). Nothing is written when nothing was rejected, and
    a quarantine file left by an earlier run is removed so the folder always describes this run.
    """
    path = Path(quarantine_dir) / f"{table.raw.name}.parquet"
    if table.rejected.is_empty():
        if path.exists():
            path.unlink()
            log.info("%s: no rows rejected; removed stale quarantine file %s", table.raw.name, path)
        return None
    write_parquet(to_source_names(table), path)
    log.warning("%s: %d row(s) quarantined to %s", table.raw.name, table.rejected.height, path)
    return path


def log_counts(table: ValidatedTable) -> None:
    """Log rows read, clean and rejected per reason: nothing disappears without a line."""
    parts = ", ".join(
        f"{reason}[{column or 'all columns'}]={n}" for (reason, column), n in table.counts.items()
    )
    log.info(
        "%s: %d row(s) read, %d clean, %d rejected%s",
        table.raw.name,
        table.n_input,
        table.clean_rows,
        table.rejected.height,
        f" ({parts})" if parts else "",
    )
