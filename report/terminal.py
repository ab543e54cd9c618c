"""One account's explanation in the terminal (``decay-explain``), in the words of its report page.

Why here: the page (``account.html.j2``) and the terminal draw the same view
(``report.render.account_views``) with the same words (``report.words``: labels, tier, journey;
``report.render``: percent, points, milestone details), so a CSM reading either sees the same
sentences. Only the layout differs: plain lines, colour only when asked (a terminal, never a pipe).

Every string from the data (ids, segment values, sentences that quote event names) is shown with
its control characters replaced by a visible "\ufffd": an id holding ``\\x1b[2J`` or a newline
cannot clear the screen, forge a line, or reorder the text (`words.unbidi`). Pure: no I/O.
"""

from __future__ import annotations

import re
from typing import Any

from report import words
from report.render import change_arrow, fmt_moment, fmt_pct, fmt_points

#: C0 and C1 control characters (escape, carriage return, newline, ...): never printed as is.
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f]")
#: ANSI styles when colour is on: headings bold, the tier in its colour.
_STYLE = {"heading": "1", "high": "1;31", "medium": "1;33", "low": "1;32"}


def shown(text: Any) -> str:
    """``text`` safe to print: control and direction characters become "\ufffd"."""
    return _CONTROLS.sub("\ufffd", words.unbidi("" if text is None else str(text)))


def _paint(text: str, style: str | None, color: bool) -> str:
    code = _STYLE.get(style or "")
    return f"\x1b[{code}m{text}\x1b[0m" if color and code else text


def _table(rows: list[list[str]], indent: str = "  ") -> list[str]:
    """Left-aligned first column, right-aligned numbers, two spaces between columns."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return [
        indent
        + "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in rows
    ]


def account_lines(
    view: dict[str, Any],
    w: dict[str, Any],
    *,
    as_of: Any,
    n_accounts: int,
    color: bool = False,
) -> list[str]:
    """The lines ``decay-explain`` prints for one account ``view`` (`report.render.account_views`)
    with the page words ``w`` (`report.render.page_words`); ``color`` adds ANSI styles."""
    lab = w["labels"]
    out: list[tuple[str, str | None]] = []

    def add(text: str = "", style: str | None = None) -> None:
        out.append((shown(text), style))

    add(
        f"{w['Entity']} {view['account_id']} · {lab['rank']} {view['rank']} of "
        f"{n_accounts:,} · {lab['as_of']} {fmt_moment(as_of)}",
        "heading",
    )
    if view["segments"]:
        add(" · ".join(f"{name}: {'—' if v is None else v}" for name, v in view["segments"]))
    add()
    add(w["risk_heading"], "heading")
    add(f"{lab['decay_risk']} {fmt_pct(view['risk'])} — {view['tier']}", view["tier"])
    since = (
        f"{lab['since_last_run']} ({fmt_pct(view['previous_risk'])})"
        if view["previous_risk"] is not None
        else lab["first_scored"]
    )
    add(
        f"{words.tier_words(view['tier'])} · "
        f"{change_arrow(view['change'])}{fmt_points(view['change'])} {since}"
    )
    add()
    add(lab["next_step"], "heading")
    add(f"  {view['next_best_action']}")
    if view["evidence"]:
        add(f"  {view['evidence']}")
    cause = view["cause"]
    if cause and cause["family"]:
        add(
            f"  {lab['likely_cause']}: {cause['family']}"
            + (f" — {cause['text']}" if cause["text"] else "")
        )
    elif cause:
        add(f"  {cause['text']}")
    journey = view["journey"]
    if journey:
        add()
        add(lab["journey"], "heading")
        if journey["nudge"]:
            add(f"  {journey['nudge']}")
        if journey["steps"]:
            add(f"  {journey['steps']}")
        if journey["next"]:
            late = f" — {journey['late']}" if journey["late"] else ""
            add(f"  {lab['next_milestone']}: {journey['next']}{late}")
        if journey["peers"]:
            add(f"  {lab['peers_did']}: {journey['peers']}")
    add()
    add(lab["drivers"], "heading")
    if not view["drivers"]:
        add(f"  {lab['no_drivers']}")
    for direction, title in (("risk", lab["raises"]), ("protective", lab["lowers"])):
        drivers = [d for d in view["drivers"] if d["direction"] == direction]
        if direction == "protective":  # the view runs from most raising to most lowering
            drivers.reverse()
        if not drivers:
            continue
        add(f"  {words.ucfirst(title)}:")
        for d in drivers:
            head = " · ".join(x for x in (d["label"], d["family"]) if x)
            add(f"    {d['contribution']:>6}  {head}" if d["contribution"] else f"    {head}")
            add(f"            {d['sentence']}")
    add()
    add(lab["peers"], "heading")
    if view["peers"]:
        rows = [[lab["indicator"], lab["this"], lab["peer_median"]]]
        rows += [[shown(p["label"]), shown(p["value"]), shown(p["peer"])] for p in view["peers"]]
        for line in _table(rows):
            out.append((line, None))
    else:
        add(f"  {lab['no_peers']}")
    if w["has_milestones"]:
        add()
        add(lab["milestones"], "heading")
        if not view["milestones"]:
            add(f"  {lab['no_milestones']}")
        for m in view["milestones"]:
            add(
                f"  {m['mark']} {m['description'] or m['name']} · {m['status_label']} · {m['detail']}"
            )
    return [_paint(text, style, color) for text, style in out]


def account_json(
    view: dict[str, Any], w: dict[str, Any], *, as_of: Any, n_accounts: int
) -> dict[str, Any]:
    """The same explanation as one JSON-ready object (``explain.format=json``): the numbers
    as numbers, the sentences as the page words them; no charts."""
    return {
        "account_id": view["account_id"],
        "as_of": fmt_moment(as_of),
        "rank": view["rank"],
        "n_accounts": n_accounts,
        "segments": {name: value for name, value in view["segments"]},
        "decay_risk": view["risk"],
        "risk_tier": view["tier"],
        "risk_change": view["change"],
        "previous_risk": view["previous_risk"],
        "risk_heading": w["risk_heading"],
        "headline": f"{w['labels']['decay_risk']} {fmt_pct(view['risk'])} — {view['tier']}",
        "change": f"{change_arrow(view['change'])}{fmt_points(view['change'])}",
        "next_best_action": view["next_best_action"],
        "next_step_evidence": view["evidence"] or None,
        "likely_cause": view["cause"],
        "journey": view["journey"],
        "drivers": [
            {
                "feature": d["feature"],
                "label": d["label"],
                "family": d["family"],
                "direction": d["direction"],
                "contribution": float(d["contribution"]) if d["contribution"] else None,
                "sentence": d["sentence"],
            }
            for d in view["drivers"]
        ],
        "peers": [
            {"feature": p["feature"], "label": p["label"], "value": p["value"], "peer": p["peer"]}
            for p in view["peers"]
        ],
        "milestones": [
            {k: m[k] for k in ("name", "description", "status", "detail")}
            for m in view["milestones"]
        ]
        if w["has_milestones"]
        else [],
    }
