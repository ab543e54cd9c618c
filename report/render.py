"""Render the static, self-contained CSM report: ``index.html`` plus one page per account.

Why static HTML: a CSM opens it from a shared drive, an e-mail attachment or an artifact store,
offline, with no server and no login. So every page carries its own CSS (and the portfolio its
own JS), charts are inline SVG (``report.svg``), and a Content-Security-Policy forbids any network
fetch: a page that tried would log an error in the browser, which the browser test checks.

Data prep is polars (group once into per-account lists, join to the scores); the per-account
Python work is only string building for the SVGs and one render of a template compiled once.
Account ids are data: Jinja autoescaping is on for every template, and file names are derived by
``account_file_name`` so no id can escape the ``accounts/`` folder. The words are data too
(``report.words``): the entity noun (``meta["entity"]``: "account", "customer", ...), the risk
phrase of the label, and the panels the data supports (active users only with several people per
entity, milestones only when they occur).
"""

from __future__ import annotations

import functools
import hashlib
import math
import re
from collections import Counter
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

import polars as pl
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from core.atomic import atomic_dir
from core.errors import DataValidationError
from features.catalogue import humanise
from report import svg, words

TEMPLATES = Path(__file__).resolve().parent / "templates"
TIERS = ("high", "medium", "low")

REQUIRED: dict[str, tuple[str, ...]] = {
    "scores": (
        "account_id",
        "decay_risk",
        "risk_tier",
        "rank",
        "risk_change",
        "driver_1_text",
        "next_best_action",
    ),
    "explanations": (
        "account_id",
        "feature",
        "value",
        "peer_median",
        "contribution",
        "direction",
        "sentence",
    ),
    "history": ("account_id", "as_of", "decay_risk"),
    "usage": ("account_id", "week_start", "active_users"),
    "milestones": (
        "account_id",
        "milestone",
        "description",
        "expected_days",
        "reached_on",
        "days_to_reach",
        "status",
    ),
}
MILESTONE_STATUSES = ("reached", "late", "missing", "pending")
#: The mark before a milestone on the timeline (page and terminal).
MILESTONE_MARKS = {"reached": "✓", "late": "!", "missing": "✕", "pending": "…"}

_SAFE_ID = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
_UNSAFE_CHARS = re.compile(r"[^A-Za-z0-9_-]+")
# Names Windows reserves for devices in any folder, whatever the extension ("con.html").
_RESERVED = re.compile(r"^(con|prn|aux|nul|com[0-9]|lpt[0-9])$", re.IGNORECASE)


def account_file_name(account_id: str, plain: bool = True) -> str:
    """File name of an account's page, safe on any file system and in a URL without quoting.

    Ids made only of ``[A-Za-z0-9_-]`` (up to 80 characters, not a Windows device name such as
    ``CON``) keep their name, so a CRM can build the link itself. Any other id (or any id with
    ``plain=False``) is reduced to those characters (at most 40) and suffixed with ``.`` and the
    first 12 hex digits of its SHA-1: two different ids never share a page, ``../`` or ``<script>``
    in an id cannot leave the ``accounts/`` folder, and the ``.`` (which no kept id has) means no
    id can be crafted to take another account's hashed name. `account_file_names` also keeps
    ids that differ only by case apart on case-insensitive file systems.
    """
    if plain and _SAFE_ID.fullmatch(account_id) and not _RESERVED.fullmatch(account_id):
        return f"{account_id}.html"
    stem = _UNSAFE_CHARS.sub("_", account_id)[:40].strip("_") or "account"
    digest = hashlib.sha1(account_id.encode("utf-8")).hexdigest()[:12]
    return f"{stem}.{digest}.html"


def account_file_names(account_ids: Sequence[str]) -> list[str]:
    """`account_file_name` of each id, except that ids whose kept names differ only by case
    ("Acme" and "acme": one file on macOS or Windows) all get the hashed name instead."""
    names = [account_file_name(a) for a in account_ids]
    folded = Counter(n.casefold() for n in names)
    return [
        account_file_name(a, plain=False) if folded[n.casefold()] > 1 else n
        for a, n in zip(account_ids, names, strict=True)
    ]


# --------------------------------------------------------------------------- formatting filters


def fmt_pct(p: float | None) -> str:
    """Probability 0..1 -> whole percent, e.g. ``0.723 -> '72%'``.

    The ends read ``>99%`` and ``<1%``: a model's estimate is never a certainty, and a CSM who
    sees "100%" stops reading the drivers.
    """
    if p is None:
        return "—"
    if p >= 0.995:
        return ">99%"
    if p < 0.005:
        return "<1%"
    return f"{p * 100:.0f}%"


def fmt_points(change: float | None) -> str:
    """Change of a probability in percentage points, signed: ``0.05 -> '+5 pts'``, ``None -> 'new'``."""
    if change is None or (isinstance(change, float) and math.isnan(change)):
        return "new"
    pts = change * 100
    if abs(pts) < 0.5:
        return "no change"
    return f"{'+' if pts > 0 else '−'}{abs(pts):.0f} pts"


def change_class(change: float | None) -> str:
    """CSS class of a change: ``up`` (riskier), ``down`` (safer), ``flat`` or ``new``."""
    if change is None or (isinstance(change, float) and math.isnan(change)):
        return "new"
    if abs(change * 100) < 0.5:
        return "flat"
    return "up" if change > 0 else "down"


def change_arrow(change: float | None) -> str:
    """The arrow before a change: "▲ " riskier, "▼ " safer, nothing when flat or new."""
    return {"up": "▲ ", "down": "▼ "}.get(change_class(change), "")


def fmt_num(v: float | None) -> str:
    """Human number: thousands separators, at most two decimals, no trailing zeros."""
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "—"
    if float(v).is_integer() or abs(v) >= 100:
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:,.1f}"
    return f"{v:,.2f}".rstrip("0").rstrip(".")


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "segment"


# --------------------------------------------------------------------------- validation


def _validate(frames: dict[str, pl.DataFrame], segments: list[str]) -> None:
    """Raise ``DataValidationError`` naming the frame, column and offending value."""
    for name, cols in REQUIRED.items():
        frame = frames[name]
        if not isinstance(frame, pl.DataFrame):
            raise DataValidationError(
                f"report: '{name}' must be a polars DataFrame, got {type(frame).__name__}"
            )
        missing = [c for c in cols if c not in frame.columns]
        if missing:
            raise DataValidationError(
                f"report: frame '{name}' is missing column(s) {missing}",
                hint="pass the scoring outputs unchanged (see docs/ARCHITECTURE.md)",
            )
    scores = frames["scores"]
    missing_seg = [s for s in segments if s not in scores.columns]
    if missing_seg:
        raise DataValidationError(
            f"report: segment column(s) {missing_seg} from meta['segments'] are not in 'scores'"
        )
    slugs = [_slug(s) for s in segments]
    if len(set(slugs)) != len(slugs):
        raise DataValidationError(
            f"report: segment names {segments} collide once made attribute-safe; rename one"
        )
    dup = scores.filter(pl.col("account_id").is_duplicated())["account_id"]
    if dup.len():
        raise DataValidationError(f"report: 'scores' has duplicate account_id {dup[0]!r}")
    bad_risk = scores.filter(
        pl.col("decay_risk").is_null() | ~pl.col("decay_risk").is_between(0, 1)
    )
    if bad_risk.height:
        row = bad_risk.row(0, named=True)
        raise DataValidationError(
            f"report: 'scores'.decay_risk must be in [0, 1]; account "
            f"{row['account_id']!r} has {row['decay_risk']!r}"
        )
    bad_tier = scores.filter(~pl.col("risk_tier").is_in(TIERS) | pl.col("risk_tier").is_null())
    if bad_tier.height:
        row = bad_tier.row(0, named=True)
        raise DataValidationError(
            f"report: 'scores'.risk_tier must be one of {TIERS}; account "
            f"{row['account_id']!r} has {row['risk_tier']!r}"
        )
    bad_status = frames["milestones"].filter(~pl.col("status").is_in(MILESTONE_STATUSES))
    if bad_status.height:
        row = bad_status.row(0, named=True)
        raise DataValidationError(
            f"report: 'milestones'.status must be one of "
            f"{MILESTONE_STATUSES}; got {row['status']!r} for account "
            f"{row['account_id']!r}"
        )
    bad_dir = frames["explanations"].filter(~pl.col("direction").is_in(["risk", "protective"]))
    if bad_dir.height:
        row = bad_dir.row(0, named=True)
        raise DataValidationError(
            f"report: 'explanations'.direction must be risk|protective; "
            f"got {row['direction']!r} for account {row['account_id']!r}"
        )


# --------------------------------------------------------------------------- data prep (polars)


def _per_account(
    scores: pl.DataFrame,
    explanations: pl.DataFrame,
    history: pl.DataFrame,
    usage: pl.DataFrame,
    milestones: pl.DataFrame,
    metric: str = "active_users",
) -> pl.DataFrame:
    """One row per scored account (sorted by rank) with its explanations, history, usage (the
    ``metric`` column per week) and milestones gathered as lists: the only grouping the report
    needs, done once."""
    aid = pl.col("account_id").cast(pl.String)
    expl_cols = ["feature", "value", "peer_median", "contribution", "direction", "sentence"]
    if "family" in explanations.columns:
        expl_cols.append("family")
    expl = (
        explanations.with_columns(
            aid, pl.col("value", "peer_median", "contribution").cast(pl.Float64)
        )
        .sort(["account_id", "contribution"], descending=[False, True])
        .group_by("account_id", maintain_order=True)
        .agg(pl.struct(expl_cols).alias("explanations"))
    )
    hist = (
        history.with_columns(aid, pl.col("decay_risk").cast(pl.Float64))
        .sort(["account_id", "as_of"])
        .group_by("account_id", maintain_order=True)
        .agg(pl.col("as_of").alias("history_dates"), pl.col("decay_risk").alias("history_risk"))
    )
    use = (
        usage.with_columns(aid, pl.col(metric).cast(pl.Float64))
        .sort(["account_id", "week_start"])
        .group_by("account_id", maintain_order=True)
        .agg(pl.col("week_start").alias("usage_weeks"), pl.col(metric).alias("usage_active"))
    )
    ms_cols = ["milestone", "description", "expected_days", "reached_on", "days_to_reach", "status"]
    ms = (
        milestones.with_columns(aid)
        .sort(["account_id", "expected_days", "milestone"])
        .group_by("account_id", maintain_order=True)
        .agg(pl.struct(ms_cols).alias("milestones"))
    )
    return (
        scores.with_columns(aid)
        .join(expl, on="account_id", how="left")
        .join(hist, on="account_id", how="left")
        .join(use, on="account_id", how="left")
        .join(ms, on="account_id", how="left")
        .sort("rank")
    )


# --------------------------------------------------------------------------- per-account views


def _milestone_view(m: dict[str, Any]) -> dict[str, Any]:
    """Plain-words detail line of one milestone; days count from the account's start."""
    status, exp, days = m["status"], m["expected_days"], m["days_to_reach"]
    on = m["reached_on"].isoformat() if m["reached_on"] is not None else None
    expected = f"expected by day {exp:.0f}" if exp is not None else "no target"
    if status == "reached":
        detail = f"Reached on day {fmt_num(days)}" + (f" ({on})" if on else "") + f", {expected}"
    elif status == "late":
        detail = (
            f"Reached late on day {fmt_num(days)}" + (f" ({on})" if on else "") + f", {expected}"
        )
    elif status == "missing":
        detail = f"Not reached, {expected}" + (
            f"; {words.counted(days, 'day')} so far" if days else ""
        )
    else:
        detail = (
            f"In progress: day {fmt_num(days)} of {exp:.0f}"
            if days is not None and exp
            else f"Not reached yet, {expected}"
        )
    return {
        "name": m["milestone"],
        "description": m["description"],
        "status": status,
        "status_label": status.capitalize(),
        "mark": MILESTONE_MARKS.get(status, "…"),
        "detail": detail,
    }


def is_never(feature: str, v: float | None, never: tuple[float | None, frozenset[str]]) -> bool:
    """True when ``v`` is the "never happened" sentinel (``meta["never_days"]``, the features'
    ``never_days``) of a feature that can hold it (``meta["never_features"]``)."""
    days, features = never
    return days is not None and v is not None and feature in features and v >= days


def _never_spec(meta: dict[str, Any]) -> tuple[float | None, frozenset[str]]:
    days = meta.get("never_days")
    return (None if days is None else float(days)), frozenset(meta.get("never_features") or ())


def _account_view(
    row: dict[str, Any],
    segments: list[str],
    thresholds: dict[str, float] | None,
    never: tuple[float | None, frozenset[str]] = (None, frozenset()),
    usage_title: str = "Weekly active users",
    entities: str = "accounts",
) -> dict[str, Any]:
    aid = row["account_id"]
    expl = row["explanations"] or []
    max_abs = max(
        (abs(e["contribution"]) for e in expl if e["contribution"] is not None), default=0.0
    )
    drivers, peers = [], []
    for e in expl:
        contribution = e["contribution"] or 0.0
        raises = e["direction"] == "risk"
        label = humanise(e["feature"], capital=True)
        drivers.append(
            {
                "feature": e["feature"],
                "label": label,
                "family": e.get("family"),
                "direction": e["direction"],
                "sentence": e["sentence"],
                "contribution": f"{contribution:+.2f}",
                "bar": svg.contribution_bar(contribution, max_abs),
            }
        )
        # The sentinel is "never", not a distance: say so and keep it off the scale.
        v_never = is_never(e["feature"], e["value"], never)
        p_never = is_never(e["feature"], e["peer_median"], never)
        peers.append(
            {
                "feature": e["feature"],
                "label": label,
                "value": "never" if v_never else fmt_num(e["value"]),
                "peer": "never" if p_never else fmt_num(e["peer_median"]),
                "direction": e["direction"],
                "scale": svg.peer_scale(
                    None if v_never else e["value"], None if p_never else e["peer_median"], raises
                ),
            }
        )
    if not drivers:  # no explanation rows: fall back to the sentences stored on the score row
        for k in range(1, 4):
            text = row.get(f"driver_{k}_text")
            if text:
                drivers.append(
                    {
                        "feature": row.get(f"driver_{k}") or "",
                        "label": "",
                        "family": None,
                        "direction": "risk",
                        "sentence": text,
                        "contribution": "",
                        "bar": "",
                    }
                )
    h_dates, h_risk = row["history_dates"] or [], row["history_risk"] or []
    weeks, active = row["usage_weeks"] or [], row["usage_active"] or []
    return {
        "account_id": aid,
        "segments": [(humanise(s, capital=True), row[s]) for s in segments],
        "risk": row["decay_risk"],
        "tier": row["risk_tier"],
        "rank": row["rank"],
        "change": row["risk_change"],
        "previous_risk": row.get("previous_risk"),
        "model_version": row.get("model_version"),
        "next_best_action": row["next_best_action"],
        "cause": _cause_view(row),
        "evidence": row.get("next_step_evidence") or "",
        "journey": _journey_view(row, entities),
        "drivers": drivers,
        "risk_drivers": [d for d in drivers if d["direction"] == "risk"],
        "protective": [d for d in drivers if d["direction"] == "protective"],
        "peers": peers,
        "milestones": [_milestone_view(m) for m in row["milestones"] or []],
        "trend": svg.risk_trend(
            h_dates, h_risk, f"Decay risk of {aid} over scoring runs", thresholds
        )
        if h_risk
        else "",
        "n_runs": len(h_risk),
        "usage": svg.weekly_bars(weeks, active, f"{usage_title} of {aid}") if weeks else "",
        "usage_last": fmt_num(active[-1]) if active else "—",
        "usage_first": fmt_num(active[0]) if active else "—",
    }


def _row_view(
    row: dict[str, Any],
    segments: list[dict[str, str]],
    file: str,
    usage_title: str = "Weekly active users",
) -> dict[str, Any]:
    active = row["usage_active"] or []
    change = row["risk_change"]
    return {
        "account_id": row["account_id"],
        "file": file,
        "rank": row["rank"],
        "risk": row["decay_risk"],
        "tier": row["risk_tier"],
        "change": change,
        "change_attr": "" if change is None else repr(float(change)),
        "segs": [{"slug": s["slug"], "value": row[s["name"]]} for s in segments],
        "spark": svg.sparkline(active, f"{usage_title}, last {len(active)} weeks"),
        "usage_last": fmt_num(active[-1]) if active else "—",
        "top_driver": row.get("top_cause_driver_text") or row["driver_1_text"] or "",
    }


def _journey_view(row: dict[str, Any], entities: str = "accounts") -> dict[str, Any] | None:
    """Where the account stands on its journey (scoring's nudge columns, from the adoption map):
    "k of n steps", the next milestone, how late it is against its segment, what its peers did
    recently, and the nudge text. None when scoring had no map (the columns null or absent)."""
    total = row.get("milestones_total")
    gaps = row.get("peer_gap_events")
    nudge = row.get("nudge")
    if not total and not gaps and not nudge:
        return None
    late = row.get("next_milestone_late_pct")
    steps = words.steps_done(row.get("milestones_reached"), total) if total else ""
    if steps and nudge and nudge.strip().rstrip(".") == steps:
        steps = ""  # the nudge says just that ("3 of 3 steps done."): once is enough
    return {
        "steps": steps,
        "next": row.get("next_milestone") or "",
        "late": words.late_words(late, entities) if late is not None else "",
        "peers": gaps or "",
        "nudge": nudge or "",
    }


def _cause_view(row: dict[str, Any]) -> dict[str, str] | None:
    """The likely cause behind the risk (scoring's ``top_cause_*``): a cause family and its
    driver sentence, or "no single cause stands out" (``top_cause_kind`` ``none``); None when
    scoring named nothing (no family raises the risk, or scores without the cause columns)."""
    kind = row.get("top_cause_kind")
    if kind == "cause" and row.get("top_cause_family"):
        return {
            "family": humanise(str(row["top_cause_family"])),
            "text": row.get("top_cause_driver_text") or "",
        }
    if kind == "none":
        return {"family": "", "text": words.NO_SINGLE_CAUSE}
    return None


def page_words(
    meta: dict[str, Any], usage: pl.DataFrame, milestones: pl.DataFrame
) -> dict[str, Any]:
    """`words.report_words` as the pages use them (plus ``usage_metric``: the weekly usage
    column), deciding from ``usage`` / ``milestones`` what ``meta`` does not say."""
    users = _has_users(meta, usage)
    metric = words.usage_metric(usage, users)
    return {
        **words.report_words(meta, users, _has_milestones(meta, milestones), metric),
        "usage_metric": metric,
    }


def account_views(
    frames: dict[str, pl.DataFrame], meta: dict[str, Any], w: dict[str, Any]
) -> list[dict[str, Any]]:
    """The view of each account in ``frames["scores"]`` (rank order) as its page shows it:
    risk, tier, change, drivers with their sentences, peers, cause, next step, journey,
    milestones. ``decay-explain`` (``report.terminal``) prints the same views; ``frames`` are
    the scoring outputs (``scores``, ``explanations``, ``history``, ``usage``, ``milestones``),
    ``w`` is `page_words`."""
    segments = [s for s in meta.get("segments") or [] if s in frames["scores"].columns]
    table = _per_account(
        frames["scores"],
        frames["explanations"],
        frames["history"],
        frames["usage"],
        frames["milestones"],
        w["usage_metric"],
    )
    thresholds = {str(k): float(v) for k, v in (meta.get("tier_thresholds") or {}).items()}
    return [
        _account_view(row, segments, thresholds, _never_spec(meta), w["usage_title"], w["entities"])
        for row in table.iter_rows(named=True)
    ]


# --------------------------------------------------------------------------- entry point


def shown(value: Any) -> Any:
    """Jinja ``finalize`` of every page: a data string's direction controls show as "\ufffd"
    (`words.unbidi`: they could reorder what a CSM reads); markup we built (charts, CSS) and
    non-strings pass."""
    if isinstance(value, str) and not isinstance(value, Markup):
        return words.unbidi(value)
    return value


@functools.lru_cache(maxsize=1)
def page_environment(**filters: Any) -> Environment:
    """The Jinja environment every page is drawn with (report, data profile, adoption map):
    templates from ``report/templates``, autoescaping everything, undefined names an error,
    direction controls in data neutralised (`shown`), plus the page family's ``filters``."""
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=shown,
    )
    env.filters.update(filters)
    return env


def _environment() -> Environment:
    """The report's environment (templates compiled once per process)."""
    env = page_environment(
        pct=fmt_pct,
        points=fmt_points,
        change_class=change_class,
        arrow=change_arrow,
        tier_words=words.tier_words,
        num=fmt_num,
        count=words.counted,
    )
    # Inline on every page, so minified once here rather than re-included per render.
    env.globals["css"] = Markup(_minify_css((TEMPLATES / "report.css").read_text("utf-8")))
    return env


def _minify_css(css: str) -> str:
    """Drop comments and layout whitespace: the stylesheet is repeated in every account page."""
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
    css = re.sub(r"\s+", " ", css)
    return re.sub(r"\s*([{};:,>])\s*", r"\1", css).replace(";}", "}").strip()


def fmt_moment(v: Any) -> str:
    """A date or timestamp as the pages print it (naive = UTC)."""
    if isinstance(v, datetime):
        return v.strftime("%Y-%m-%d %H:%M UTC") if v.tzinfo is None else v.isoformat(" ", "minutes")
    if isinstance(v, date):
        return v.isoformat()
    return "" if v is None else str(v)


def _has_users(meta: dict[str, Any], usage: pl.DataFrame) -> bool:
    """``meta["has_users"]`` (several people per entity), else: some week had 2+ active users."""
    if meta.get("has_users") is not None:
        return bool(meta["has_users"])
    most = usage["active_users"].cast(pl.Float64).max() if usage.height else None
    return isinstance(most, float) and most > 1


def _has_milestones(meta: dict[str, Any], milestones: pl.DataFrame) -> bool:
    """``meta["has_milestones"]``, else: milestones are configured (rows) and occur in the data
    (some scored entity reached one). A log without them gets no milestones card."""
    if meta.get("has_milestones") is not None:
        return bool(meta["has_milestones"])
    return bool(milestones["reached_on"].is_not_null().any()) if milestones.height else False


BASELINE_WORDS = {
    "recency": "days since the last activity",
    "event_counts": "a logistic regression on recent counts per event type",
    "btyd": "a buy-till-you-die model (BG/NBD or Pareto/NBD)",
    "logistic": "a logistic regression on the same indicators",
    "heuristic": "a one-line rule",
}


def quality_note(ev: dict[str, Any]) -> str:
    """One footer sentence on the served model's measured quality, with its support.

    Why on every page: a CSM should know whether the ranking beat the simple rules a data team
    could write, on how many held-out rows, or that it was never evaluated at all."""
    if not ev:
        return ""
    if ev.get("evaluated") is False:
        return (
            "This model is UNEVALUATED: the history was too short for a held-out test period, "
            "so its quality is unknown."
        )
    served = str(ev.get("served", "lightgbm"))
    base = {
        k: v.get("roc_auc")
        for k, v in (ev.get("baselines") or {}).items()
        if k in BASELINE_WORDS and isinstance(v.get("roc_auc"), (int, float))
    }
    lgb = (ev.get("lightgbm") or {}).get("roc_auc")
    if not isinstance(lgb, (int, float)):
        return ""
    support = (
        f" on {int(ev['n']):,} held-out rows ({int(ev['positives']):,} positives)"
        if ev.get("n") and ev.get("positives") is not None
        else ""
    )
    if served != "lightgbm" and served in base:
        return (
            f"Ranked by {BASELINE_WORDS.get(served, served)}: it ranked better than the "
            f"gradient-boosted model{support} (ROC-AUC {base[served]:.2f} vs {lgb:.2f}), "
            f"so it is what is served."
        )
    best = max(sorted(base), key=lambda k: base[k]) if base else None
    vs = (
        f", against {base[best]:.2f} for the best simple baseline ({BASELINE_WORDS[best]})"
        if best
        else ""
    )
    return f"Test ROC-AUC {lgb:.2f}{support}{vs}."


def render_report(
    out_dir: Path,
    scores: pl.DataFrame,
    explanations: pl.DataFrame,
    history: pl.DataFrame,
    usage: pl.DataFrame,
    milestones: pl.DataFrame,
    meta: dict[str, Any],
    max_accounts: int | None = None,
    page_size: int = 500,
) -> Path:
    """Write ``out_dir/index.html`` and ``out_dir/accounts/<file>.html``; return the index path.

    Inputs are the scoring outputs (issue 5; ``docs/ARCHITECTURE.md``):
    ``scores`` one row per account, ``explanations`` long (contribution in
    log-odds, positive raises risk), ``history`` decay risk of every past run (``as_of`` dates),
    ``usage`` weekly active users (optional ``active_days``, ``usage_events``) for the weeks before
    ``as_of`` (``week_start`` dates), ``milestones`` one row per account and milestone. ``meta``
    needs ``segments`` and should carry ``as_of``, ``model_version``, ``model_uri``,
    ``generated_at``; the words (``report.words``) come from ``entity`` / ``entity_plural`` (default
    "account"/"accounts"), ``label`` (``label.name``: the risk phrase), ``has_users`` (several
    people per entity: the usage panel shows active users, else active days per week) and
    ``has_milestones`` (show the milestones card), the last two decided from ``usage`` /
    ``milestones`` when absent; optional ``tier_thresholds``
    (tier -> lowest risk) and ``horizon_days`` make the legend more precise; ``never_days`` (the
    features' "never happened" sentinel) with ``never_features`` (the days features that can hold
    it) make the peers table say "never" instead of the sentinel number.

    ``max_accounts`` keeps only the riskiest N accounts (by ``rank``) in the table and as pages,
    for very large portfolios (a page is about 20 kB); the summary still counts every account.
    ``page_size`` is how many matching rows the portfolio table lays out at once (more on a
    click): every row is in the file and filters and sorts see all of them.

    The folder is replaced whole (``core.atomic.atomic_dir``): a failed render leaves the previous
    report untouched and no stale account page survives a re-run.
    """
    segments = list(meta.get("segments") or [])
    _validate(
        {
            "scores": scores,
            "explanations": explanations,
            "history": history,
            "usage": usage,
            "milestones": milestones,
        },
        segments,
    )
    if max_accounts is not None and max_accounts < 0:
        raise DataValidationError(f"report: max_accounts must be >= 0, got {max_accounts}")
    if page_size < 1:
        raise DataValidationError(f"report: page_size must be >= 1, got {page_size}")
    env = _environment()
    shown = scores if max_accounts is None else scores.sort("rank").head(max_accounts)
    # Segment values become attribute and <option> strings: cast once so both spell them alike.
    shown = shown.with_columns(pl.col(segments).cast(pl.String)) if segments else shown
    seg_info = [
        {
            "name": s,
            "slug": _slug(s),
            "title": humanise(s, capital=True),
            "values": shown[s].drop_nulls().unique().sort().to_list(),
        }
        for s in segments
    ]
    w = page_words(meta, usage, milestones)
    metric = w["usage_metric"]
    table = _per_account(shown, explanations, history, usage, milestones, metric)
    thresholds = {str(k): float(v) for k, v in (meta.get("tier_thresholds") or {}).items()}
    never = _never_spec(meta)
    tier_counts = {t: int(c) for t, c in scores.group_by("risk_tier").len().iter_rows()}
    common = {
        "as_of": fmt_moment(meta.get("as_of")),
        "generated_at": fmt_moment(meta.get("generated_at")),
        "model_version": meta.get("model_version") or "",
        "model_uri": meta.get("model_uri") or "",
        "horizon_days": meta.get("horizon_days"),
        "thresholds": thresholds or {},
        "n_accounts": scores.height,
        "n_rows": table.height,
        "w": w,
        "quality": quality_note(meta.get("evaluation") or {}),
    }
    account_tpl = env.get_template("account.html.j2")
    rows = []
    with atomic_dir(Path(out_dir)) as tmp:
        acc_dir = tmp / "accounts"
        acc_dir.mkdir()
        files = account_file_names(table["account_id"].to_list())
        for row, file in zip(table.iter_rows(named=True), files, strict=True):
            html = account_tpl.render(
                a=_account_view(row, segments, thresholds, never, w["usage_title"], w["entities"]),
                **common,
                profile_href="../profile.html" if meta.get("has_profile") else "",
                map_href="../../../../map/index.html" if meta.get("has_map") else "",
            )
            (acc_dir / file).write_text(html, encoding="utf-8")
            rows.append(_row_view(row, seg_info, file, w["usage_title"]))
        index = env.get_template("index.html.j2").render(
            rows=rows,
            segments=seg_info,
            page_size=page_size,
            tier_counts=[(t, tier_counts.get(t, 0)) for t in TIERS],
            **common,
            profile_href="profile.html" if meta.get("has_profile") else "",
            map_href="../../../map/index.html" if meta.get("has_map") else "",
        )
        (tmp / "index.html").write_text(index, encoding="utf-8")
    return Path(out_dir) / "index.html"
