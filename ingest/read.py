"""Reading one raw table (a file, a folder or a glob of parquet/CSV files) as a polars LazyFrame.

Why lazy: a real event log can hold hundreds of millions of rows; ``scan_parquet``/``scan_csv``
let validation run as one streaming query instead of loading every file up front.

CSV columns are read as strings (no type inference): inference on the first rows silently turns
``"007"`` into ``7`` or a late non-numeric value into a parse error for the whole file, whereas
strings let validation reject exactly the rows that do not cast and keep their raw text in the
quarantine. Parquet keeps its stored types and is checked against the contract in
:mod:`ingest.validate`.
"""

from __future__ import annotations

import dataclasses
import glob as globlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from core.config import DataFormat
from core.errors import DataValidationError
from core.logs import get_logger
from ingest.postgres import PostgresSource, spool_table

log = get_logger(__name__)

FORMATS = tuple(DataFormat)
# Name of the column that carries each row's source file (kept for the quarantine).
SOURCE_FILE = "source_file"
# A hive partition folder: ``<key>=<value>`` (``month=2026-01``); the key becomes a column.
_HIVE_DIR = re.compile(r"^([^=]+)=(.*)$")
# Canonical tables and which features need them (for the one line logged when one is absent).
FEATURES_NEEDING = {
    "users": "role features (per-role active users and trends) and user tenure",
    "accounts": "segments (peers become all accounts at the cutoff), lifecycle (tenure, "
    "renewal), milestones from signup, and unknown-account checks",
}


@dataclass
class RawTable:
    """One table as read: the lazy frame with canonical column names plus where it came from.

    ``source_names`` maps each canonical column name back to the source column it was renamed
    from (only for renamed columns), so errors and the quarantine can use the user's own names.
    """

    name: str
    spec: str
    files: list[Path]
    format: str
    frame: pl.LazyFrame
    source_names: dict[str, str] = field(default_factory=dict)
    # Where the rows came from when not the files themselves (``postgres:<table>``).
    origin: str | None = None
    # Hive partition keys (``month`` of ``month=2026-01/``): columns read from the folder names.
    partitions: list[str] = field(default_factory=list)

    def source_name(self, column: str) -> str:
        """The user's name for canonical ``column`` (itself when it was not renamed)."""
        return self.source_names.get(column, column)

    def label(self, column: str) -> str:
        """``column`` for messages, with its source name when the mapping renamed it."""
        src = self.source_names.get(column)
        return f"{column} (source column '{src}')" if src else column

    @property
    def location(self) -> str:
        """The configured path plus the resolved files (or the database origin), for errors."""
        if self.origin is not None:
            return self.origin
        shown = ", ".join(str(f) for f in self.files[:3])
        more = f" and {len(self.files) - 3} more" if len(self.files) > 3 else ""
        if len(self.files) == 1 and str(self.files[0]) == self.spec:
            return self.spec
        return f"{self.spec} [{shown}{more}]"


def _format_of(path: Path) -> str | None:
    suffix = path.suffix.lower().lstrip(".")
    return suffix if suffix in FORMATS else None


def _hidden(name: str) -> bool:
    return name.startswith((".", "_"))


def _partition_dirs(folder: Path) -> list[Path]:
    """The ``<key>=<value>`` subfolders directly inside ``folder`` (sorted)."""
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_dir() and not _hidden(p.name) and _HIVE_DIR.match(p.name)
    )


def _partition_files(folder: Path) -> list[Path]:
    """Every file under the partition folders of ``folder``, at any depth, sorted by path."""
    files: list[Path] = []
    for part in _partition_dirs(folder):
        files += [
            p
            for p in part.rglob("*")
            if p.is_file() and not any(_hidden(q) for q in p.relative_to(folder).parts)
        ]
    return sorted(files)


def _glob_root(spec: str) -> Path:
    """The folder a glob starts from: its leading components without wildcards."""
    parts: list[str] = []
    for part in Path(spec).parts:
        if globlib.has_magic(part):
            break
        parts.append(part)
    return Path(*parts) if parts else Path()


def hive_keys(spec: str, files: list[Path], table: str) -> list[str]:
    """Partition keys of ``files`` (the ``<key>=`` folders below the folder or glob ``spec``).

    Empty for flat sources (then nothing about the read changes). Every file must sit under the
    same keys in the same order, else the partition columns would be ragged: an error naming
    two files that differ.
    """
    if Path(spec).is_file():
        return []
    root = Path(spec) if Path(spec).is_dir() else _glob_root(spec)
    found: dict[tuple[str, ...], Path] = {}
    for f in files:
        try:
            rel = f.relative_to(root)
        except ValueError:
            rel = f
        keys = tuple(m.group(1) for part in rel.parts[:-1] if (m := _HIVE_DIR.match(part)))
        found.setdefault(keys, f)
    if len(found) > 1:
        (k1, f1), (k2, f2) = list(found.items())[:2]
        raise DataValidationError(
            f"table {table!r} at {spec}: files sit under different partition keys: "
            f"{list(k1)} ({f1}) and {list(k2)} ({f2})",
            hint="give every file the same <key>=<value> folders, in the same order",
        )
    return list(next(iter(found))) if found else []


def resolve_files(spec: str, fmt: DataFormat | str | None, table: str) -> tuple[list[Path], str]:
    """Expand a file, folder or glob into a sorted list of data files and their one format.

    A folder means every ``*.parquet``/``*.csv`` file directly inside it (hidden files skipped);
    a folder with no data file directly inside but ``<key>=<value>`` subfolders is a hive
    dataset: every data file under them, at any depth (folders and files starting with ``.`` or
    ``_`` skipped, like ``_SUCCESS`` or ``_delta_log``), read as one table by :func:`scan_table`.
    ``fmt`` (``data.format``) overrides the extension for single files and filters folders and
    globs to that format; without it all files of a table must share one format, because a
    parquet/CSV mix would have two different column type systems in one table. Any other
    ``fmt`` than parquet, csv or None is a ``ValueError`` from the enum.
    """
    fmt = None if fmt is None else DataFormat(fmt)
    path = Path(spec)
    if path.is_dir():
        candidates = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
        kind = "folder"
        partitions = _partition_dirs(path)
        if partitions and not any(_format_of(p) for p in candidates):
            candidates = _partition_files(path)
            kind = f"hive dataset, {len(partitions)} partition folder(s)"
        elif partitions:
            log.warning(
                "%s holds data files and partition folders %s: only the files directly "
                "inside are read (move them into partitions to read it as a hive dataset)",
                spec,
                [p.name for p in partitions[:3]],
            )
    elif path.is_file():
        candidates = [path]
        kind = "file"
    else:
        candidates = sorted(
            Path(p) for p in globlib.glob(spec, recursive=True) if Path(p).is_file()
        )
        kind = "glob"
    if kind == "file":
        file_fmt = fmt or _format_of(path)
        if file_fmt is None:
            raise DataValidationError(
                f"cannot tell the format of {table} file {spec} from its extension",
                hint="name it .parquet or .csv, or set data.format=parquet|csv",
            )
        return candidates, file_fmt
    files = [
        p for p in candidates if _format_of(p) is not None and (fmt is None or _format_of(p) == fmt)
    ]
    if not files:
        wanted = fmt or "parquet/csv"
        raise DataValidationError(
            f"no {wanted} files found for table {table!r} at {spec} ({kind})",
            hint=f"point data.{table} at a file, a folder or a glob of {wanted} files "
            f"(or set data.{table}=null if the source has no such table)",
        )
    formats = sorted({_format_of(p) for p in files})  # type: ignore[type-var]
    if len(formats) > 1:
        raise DataValidationError(
            f"table {table!r} at {spec} mixes formats {formats}",
            hint="set data.format=parquet or data.format=csv to read only one of them",
        )
    return files, formats[0]  # type: ignore[return-value]


def column_mapping(cfg_columns: Mapping[str, Any]) -> dict[str, str]:
    """``data.columns`` as a plain ``{canonical: source}`` dict (identity entries dropped)."""
    return {
        str(canon): str(src) for canon, src in dict(cfg_columns).items() if str(canon) != str(src)
    }


def apply_mapping(
    frame: pl.LazyFrame, mapping: Mapping[str, str], table: str, location: str
) -> tuple[pl.LazyFrame, dict[str, str]]:
    """Rename source columns to canonical names where the source column is present.

    One flat mapping serves every table, so a source column that a table lacks is simply not
    renamed there. A table holding both the source column and a column already named like the
    canonical one is ambiguous and rejected (which of the two is meant?).
    """
    names = frame.collect_schema().names()
    present = set(names)
    renames: dict[str, str] = {}
    for canon, src in mapping.items():
        if src not in present:
            continue
        if canon in present:
            raise DataValidationError(
                f"table {table!r} ({location}) has both column {src!r} (mapped by "
                f"data.columns.{canon}={src}) and a column named {canon!r}",
                hint=f"drop or rename one of them, or remove the data.columns.{canon} mapping",
            )
        renames[src] = canon
    return frame.rename(renames), {canon: src for src, canon in renames.items()}


def _scan(
    sources: list[str], fmt: str, file_column: str | None, partitions: Sequence[str] = ()
) -> pl.LazyFrame:
    if fmt == "parquet" and partitions:
        # Partition values as text, like CSV cells ("007" stays "007"; validation casts).
        return pl.scan_parquet(
            sources,
            include_file_paths=file_column,
            hive_partitioning=True,
            hive_schema={k: pl.String for k in partitions},
            try_parse_hive_dates=False,
        )
    if fmt == "parquet":
        return pl.scan_parquet(sources, include_file_paths=file_column)
    return pl.scan_csv(sources, infer_schema=False, include_file_paths=file_column)


def scan_table(
    name: str,
    spec: str | None,
    fmt: DataFormat | str | None,
    mapping: Mapping[str, str],
    source: PostgresSource | None = None,
) -> RawTable | None:
    """Lazily read table ``name`` from ``spec`` with canonical column names, or None if absent.

    ``spec`` None (``data.users=null``/``data.accounts=null``) means the source has no such
    table; one line says which features will be left out. Each row carries its file path in
    :data:`SOURCE_FILE` so rejected rows can be traced back. With ``source`` (``data=postgres``)
    ``spec`` is a table name or a query, spooled to parquet first (``ingest.postgres``) and
    scanned like a file; ``source_file`` then reads ``postgres:<table>``.
    Files under ``<key>=<value>`` folders (a hive dataset, or a glob into one) carry each key
    as a String column (``month``), so filters on it skip whole files; validation treats it
    like any other extra column (kept in the quarantine, not in the clean table), except that
    it is no part of a row's identity for exact duplicates: it says where the file sits, so a
    row exported twice into two ``load_date=`` partitions is still one duplicate.
    """
    if spec is None:
        needs = FEATURES_NEEDING.get(name, "features that need it")
        log.info("data.%s=null: no %s table; left out: %s", name, name, needs)
        return None
    if source is not None:
        return _scan_postgres(name, str(spec), mapping, source)
    files, file_fmt = resolve_files(str(spec), fmt, name)
    sources = [str(f) for f in files]
    partitions = hive_keys(str(spec), files, name)
    if partitions and file_fmt != "parquet":
        raise DataValidationError(
            f"table {name!r} at {spec} is partitioned ({'/'.join(partitions)}) {file_fmt} "
            "files: hive partitions are read for parquet only",
            hint="convert the partitions to parquet, or point at a flat folder or glob of files",
        )
    try:
        if partitions:  # polars would silently replace such a column by the folder's value
            clash = [k for k in partitions if k in pl.scan_parquet(sources[0]).collect_schema()]
            if clash:
                raise DataValidationError(
                    f"table {name!r} at {spec}: partition key(s) {clash} are also columns of "
                    f"the files (e.g. {files[0]})",
                    hint="rename the <key>= folders or drop the column from the files",
                )
        # Touch the schema now so unreadable files fail here, named, not deep in a query.
        if SOURCE_FILE in _scan(sources, file_fmt, None, partitions).collect_schema():
            raise DataValidationError(
                f"table {name!r} ({spec}) has a column named {SOURCE_FILE!r}, which ingest "
                "reserves for the source file of each row",
                hint="rename that column in the source",
            )
        frame = _scan(sources, file_fmt, SOURCE_FILE, partitions)
    except (pl.exceptions.PolarsError, OSError) as err:
        raise DataValidationError(
            f"cannot read {name} from {spec} ({file_fmt}): {err}",
            hint="check that the files are valid and share one set of columns",
        ) from err
    frame, source_names = apply_mapping(frame, mapping, name, spec)
    if partitions:
        log.info("reading %s: partition columns %s (text)", name, partitions)
    log.info("reading %s: %d %s file(s) from %s", name, len(files), file_fmt, spec)
    return RawTable(
        name=name,
        spec=str(spec),
        files=files,
        format=file_fmt,
        frame=frame,
        source_names=source_names,
        partitions=partitions,
    )


def restrict(raw: RawTable, files: Sequence[Path]) -> RawTable:
    """``raw`` read from some of its files only (a share of a partitioned read: one Dask task
    of ``ingest.spool``), with the same columns, names and partition keys. Only for tables
    read straight from files (not derived, not from a database)."""
    if raw.origin is not None:
        raise ValueError(f"{raw.name} ({raw.origin}) is not read from files")
    frame = _scan([str(f) for f in files], raw.format, SOURCE_FILE, raw.partitions)
    frame = frame.rename({src: canon for canon, src in raw.source_names.items()})
    return dataclasses.replace(raw, files=list(files), frame=frame)


def _scan_postgres(
    name: str, spec: str, mapping: Mapping[str, str], source: PostgresSource
) -> RawTable:
    """Table ``name`` from PostgreSQL: spooled to parquet, scanned with its origin per row."""
    path, origin, rows = spool_table(name, spec, source)
    frame = pl.scan_parquet(path)
    if SOURCE_FILE in frame.collect_schema():
        raise DataValidationError(
            f"table {name!r} ({origin}) has a column named {SOURCE_FILE!r}, which ingest "
            "reserves for the source of each row",
            hint="rename that column in the query (AS ...)",
        )
    frame = frame.with_columns(pl.lit(origin, dtype=pl.String).alias(SOURCE_FILE))
    frame, source_names = apply_mapping(frame, mapping, name, origin)
    log.info("reading %s: %d rows from %s", name, rows, origin)
    return RawTable(
        name=name,
        spec=spec,
        files=[path],
        format="postgres",
        frame=frame,
        source_names=source_names,
        origin=origin,
    )
