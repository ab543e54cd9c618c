"""`decay-explain account_id=ID`: one account's risk and why, in the terminal, from a scoring run.

Steps: the scoring run (``explain.as_of=DATE``, or the latest under
``${output.dir}/scores/as_of=*/``, ``scoring.history``) -> that account's rows of scores.parquet,
explanations.parquet, milestones.parquet, history.parquet, usage.parquet and meta.json -> the
view its report page draws (``report.render.account_views``) -> printed by ``report.terminal``
in the page's words (``explain.format=text``, colour only on a terminal and without
``NO_COLOR``) or as one JSON object (``explain.format=json``). No model, no raw data, no MLflow.

The id is taken verbatim: ``account_id=ID`` (or ``explain.account_id=ID``) is read from the
command line before Hydra parses it, so an id with quotes, spaces, ``=`` or ``${...}`` is looked
up as typed, never interpreted (ids are customer data). Exit codes (``core.cli``): 0 ok; 2 no
id, or an ``explain.as_of`` that is not a date; 5 (nothing eligible) when no scoring run exists
or the id is not among the run's scored accounts: the message names it and its closest ids.
"""

from __future__ import annotations

import difflib
import json
import logging
import os
import sys
from datetime import date
from pathlib import Path
from typing import Any

import hydra
import polars as pl
from omegaconf import DictConfig

from core.cli import console, job
from core.config import CONF_DIR  # importing core.config registers the schema
from core.errors import ConfigValueError, NoEligibleAccountsError
from core.logs import get_logger

log = get_logger(__name__)

#: The command-line keys that name the account (taken out of argv before Hydra parses it).
ID_KEYS = ("account_id=", "explain.account_id=")
_RAW: dict[str, str | None] = {"account_id": None}
#: How much of a hostile id an error message quotes.
SHOWN_CHARS = 60


def quoted(value: str) -> str:
    """``repr`` of an id, cut to `SHOWN_CHARS` characters: safe in one line of a log."""
    cut = value if len(value) <= SHOWN_CHARS else value[:SHOWN_CHARS] + "…"
    return repr(cut)


def close_ids(wanted: str, ids: list[str], n: int = 3) -> list[str]:
    """Up to ``n`` scored ids closest to ``wanted``: the same id in another case first, then
    `difflib.get_close_matches` (ratio at least 0.6)."""
    folded = wanted.casefold()
    same = [i for i in ids if i.casefold() == folded and i != wanted]
    near = difflib.get_close_matches(wanted, ids, n=n, cutoff=0.6)
    return list(dict.fromkeys(same + near))[:n]


def find_run(out_root: Path, as_of: Any) -> tuple[date, Path]:
    """The scoring run ``(as_of, folder)`` at ``as_of`` (ISO date), or the latest when null."""
    from scoring.history import SCORES_DIR, past_runs

    runs = past_runs(out_root, date.max)
    if as_of is not None:
        try:
            day = date.fromisoformat(str(as_of))
        except ValueError as err:
            raise ConfigValueError(
                f"explain.as_of={as_of!r} is not an ISO date",
                hint="explain.as_of=YYYY-MM-DD, or null for the latest run",
            ) from err
        runs = [r for r in runs if r[0] == day]
    if not runs:
        which = f"at {as_of}" if as_of is not None else "at all"
        have = ", ".join(d.isoformat() for d, _ in past_runs(out_root, date.max)[-5:]) or "none"
        raise NoEligibleAccountsError(
            f"explain: no scoring run {which} under {out_root / SCORES_DIR} (runs: {have})",
            hint="run decay-score first, or pick a run with explain.as_of=YYYY-MM-DD",
        )
    day, scores = runs[-1]
    return day, scores.parent


def _frame(folder: Path, name: str, account_id: str, columns: dict[str, Any]) -> pl.DataFrame:
    """That account's rows of ``folder/name.parquet`` (empty with ``columns`` when absent)."""
    path = folder / f"{name}.parquet"
    if not path.exists():
        return pl.DataFrame(schema=columns)
    return pl.scan_parquet(path).filter(pl.col("account_id") == account_id).collect()


def account_frames(folder: Path, account_id: str) -> tuple[dict[str, pl.DataFrame], dict[str, Any]]:
    """The scoring outputs of one account in the run ``folder``, and the run's meta.json.
    NoEligibleAccountsError (naming the id and its closest scored ids) when it was not scored."""
    meta = json.loads((folder / "meta.json").read_text("utf-8"))
    scores = _frame(folder, "scores", account_id, {"account_id": pl.String})
    if scores.height == 0:
        ids = pl.read_parquet(folder / "scores.parquet", columns=["account_id"])["account_id"]
        near = close_ids(account_id, ids.cast(pl.String).to_list())
        hint = (
            f"closest scored ids: {', '.join(quoted(i) for i in near)}"
            if near
            else f"no scored id is close to it; the scored ids are in {folder / 'scores.csv'}"
        )
        raise NoEligibleAccountsError(
            f"explain: account {quoted(account_id)} was not scored on {meta.get('as_of')} "
            f"({ids.len():,} accounts in {folder})",
            hint=hint,
        )
    frames = {
        "scores": scores,
        "explanations": _frame(
            folder,
            "explanations",
            account_id,
            {
                "account_id": pl.String,
                "feature": pl.String,
                "value": pl.Float64,
                "peer_median": pl.Float64,
                "contribution": pl.Float64,
                "direction": pl.String,
                "sentence": pl.String,
            },
        ),
        "history": _frame(
            folder,
            "history",
            account_id,
            {"account_id": pl.String, "as_of": pl.Date, "decay_risk": pl.Float64},
        ),
        "usage": _frame(
            folder,
            "usage",
            account_id,
            {"account_id": pl.String, "week_start": pl.Date, "active_users": pl.Int64},
        ),
        "milestones": _frame(
            folder,
            "milestones",
            account_id,
            {
                "account_id": pl.String,
                "milestone": pl.String,
                "description": pl.String,
                "expected_days": pl.Float64,
                "reached_on": pl.Date,
                "days_to_reach": pl.Float64,
                "status": pl.String,
            },
        ),
    }
    if "has_milestones" not in meta:  # as the page decides it: milestones occur in the run
        path = folder / "milestones.parquet"
        meta["has_milestones"] = path.exists() and bool(
            pl.scan_parquet(path).select(pl.col("reached_on").is_not_null().any()).collect().item()
        )
    return frames, meta


def explain_job(cfg: DictConfig, account_id: str | None = None) -> str:
    """The text (or JSON) ``decay-explain`` prints for ``account_id`` (else
    ``explain.account_id``)."""
    from report.render import account_views, page_words
    from report.terminal import account_json, account_lines

    wanted = account_id if account_id is not None else cfg.explain.account_id
    if wanted is None or str(wanted) == "":
        raise ConfigValueError(
            "explain.account_id: no account given", hint="decay-explain account_id=ID"
        )
    wanted = str(wanted)
    as_of, folder = find_run(Path(cfg.output.dir), cfg.explain.as_of)
    log.info("explain %s from %s", quoted(wanted), folder)
    frames, meta = account_frames(folder, wanted)
    w = page_words(meta, frames["usage"], frames["milestones"])
    [view] = account_views(frames, meta, w)
    n_accounts = int(meta.get("n_accounts") or 0)
    if str(cfg.explain.format) == "json":
        return json.dumps(account_json(view, w, as_of=as_of, n_accounts=n_accounts), default=str)
    color = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    return "\n".join(account_lines(view, w, as_of=as_of, n_accounts=n_accounts, color=color))


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="config")
@job
def _main(cfg: DictConfig) -> None:
    logs_to_stderr()
    print(explain_job(cfg, _RAW["account_id"]))


def logs_to_stderr() -> None:
    """Hydra's console log handler writes to stdout: move it to stderr, so stdout holds only
    the explanation (``explain.format=json`` pipes into ``jq``)."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler) and handler.stream is sys.stdout:
            handler.setStream(sys.stderr)


def take_account_id(argv: list[str]) -> tuple[list[str], str | None]:
    """``argv`` without its ``account_id=`` / ``explain.account_id=`` arguments, and the last
    one's value verbatim (None when absent)."""
    rest, found = [], None
    for arg in argv:
        key = next((k for k in ID_KEYS if arg.startswith(k)), None)
        if key is None:
            rest.append(arg)
        else:
            found = arg[len(key) :]
    return rest, found


def main() -> Any:
    """The console script (pyproject): the id out of argv first, then the Hydra app."""
    sys.argv[1:], _RAW["account_id"] = take_account_id(sys.argv[1:])
    if hasattr(sys.stdout, "reconfigure"):  # a terminal that cannot show "—" gets "?" instead
        sys.stdout.reconfigure(errors="replace")
    return _console()


#: Hydra's config errors exit 2 like the job's own.
_console = console(_main)

if __name__ == "__main__":
    main()
