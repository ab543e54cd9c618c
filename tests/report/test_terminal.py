"""`decay-explain`'s terminal text on hand-made score frames: exact lines, the page's words, safety."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import polars as pl

from report.render import account_views, page_words, render_report
from report.terminal import account_json, account_lines, shown
from tests.report.conftest import HOSTILE_ID
from tests.report.test_render import text_of


def lines_of(inputs: dict[str, Any], account_id: str, **kw: Any) -> list[str]:
    meta = inputs["meta"]
    frames = {k: v for k, v in inputs.items() if k != "meta"}
    w = page_words(meta, frames["usage"], frames["milestones"])
    [view] = [v for v in account_views(frames, meta, w) if v["account_id"] == account_id]
    return account_lines(view, w, as_of=meta["as_of"], n_accounts=meta["n_accounts"], **kw)


def json_of(inputs: dict[str, Any], account_id: str) -> dict[str, Any]:
    meta = inputs["meta"]
    frames = {k: v for k, v in inputs.items() if k != "meta"}
    w = page_words(meta, frames["usage"], frames["milestones"])
    [view] = [v for v in account_views(frames, meta, w) if v["account_id"] == account_id]
    return account_json(view, w, as_of=meta["as_of"], n_accounts=meta["n_accounts"])


def test_one_account_in_exact_lines(tiny: dict[str, Any]) -> None:
    assert lines_of(tiny, "A1") == [
        "Account A1 · rank 1 of 3 · as of 2026-11-01",
        "Industry: fintech · Size tier: smb",
        "",
        "Risk of losing the habit",
        "Decay risk 72% — high",
        "High risk · ▲ +5 pts since the last run (67%)",
        "",
        "Suggested next step",
        "  Call the new admin & re-run onboarding.",
        "",
        "Why this risk?",
        "  Raises risk:",
        "     +0.90  Active admins (28 days) · role",
        "            Active admins fell from 4 to 1 in the last 28 days; accounts like this one have 3.",
        "     +0.60  Support tickets (28 days) · friction",
        "            5 support tickets in 28 days; peers opened 1.",
        "     +0.30  Workflows (7 days) · activity",
        "            2 workflows ran last week; peers ran 10.",
        "  Lowers risk:",
        "     -0.45  Features used (28 days) · breadth",
        "            12.5 features used; peers use 8.",
        "     -0.20  Integrations connected · breadth",
        "            4 integrations connected; peers have 2.",
        "",
        "Compared with similar accounts",
        "  Indicator                  This account  Peer median",
        "  Active admins (28 days)               1            3",
        "  Support tickets (28 days)             5            1",
        "  Workflows (7 days)                    2           10",
        "  Integrations connected                4            2",
        "  Features used (28 days)            12.5            8",
        "",
        "Onboarding milestones",
        "  ✓ Created a first dashboard · Reached · Reached on day 4 (2026-03-05), expected by day 7",
        "  ! Launched a first automation · Late · Reached late on day 32 (2026-04-02), "
        "expected by day 21",
        "  ✕ Connected a first integration · Missing · Not reached, expected by day 30; "
        "60 days so far",
        "  … Five people active in one week · Pending · In progress: day 20 of 45",
    ]


def test_new_and_falling_accounts(tiny: dict[str, Any]) -> None:
    hostile = lines_of(tiny, HOSTILE_ID)
    assert hostile[0] == "Account acme <b>&\"co'/../x · rank 2 of 3 · as of 2026-11-01"
    assert hostile[5] == "Medium risk · new first time scored"
    assert "            Support tickets <script>alert(1)</script> doubled." in hostile
    assert hostile[-1] == "  No milestones tracked for this account."
    assert lines_of(tiny, "Z-9")[5] == "Low risk · ▼ −3 pts since the last run (13%)"


def with_cause_and_journey(tiny: dict[str, Any]) -> dict[str, Any]:
    tiny["scores"] = tiny["scores"].with_columns(
        top_cause_kind=pl.Series(["cause", "none", None]),
        top_cause_family=pl.Series(["role", None, None]),
        top_cause_driver_text=pl.Series(["2 admins left in the last 28 days.", None, None]),
        next_step_evidence=pl.Series(["Accounts that did this renewed 2x as often.", None, None]),
        milestones_reached=pl.Series([2, None, None], dtype=pl.Int64),
        milestones_total=pl.Series([4, None, None], dtype=pl.Int64),
        next_milestone=pl.Series(["Connected a first integration", None, None]),
        next_milestone_late_pct=pl.Series([70.0, None, None]),
        peer_gap_events=pl.Series(["export_report", None, None]),
        nudge=pl.Series(["Help them connect an integration this week.", None, None]),
    )
    return tiny


def test_cause_evidence_and_journey_lines(tiny: dict[str, Any]) -> None:
    inputs = with_cause_and_journey(tiny)
    a1 = lines_of(inputs, "A1")
    start = a1.index("Suggested next step")
    assert a1[start : start + 12] == [
        "Suggested next step",
        "  Call the new admin & re-run onboarding.",
        "  Accounts that did this renewed 2x as often.",
        "  Likely cause: role — 2 admins left in the last 28 days.",
        "",
        "Journey",
        "  Help them connect an integration this week.",
        "  2 of 4 steps done",
        "  Next milestone: Connected a first integration — later than 70% of the accounts "
        "in its segment that got there",
        "  Done recently by its segment peers, never by this account: export_report",
        "",
        "Why this risk?",
    ]
    hostile = lines_of(inputs, HOSTILE_ID)
    assert (
        "  No single cause stands out: the risk comes from general signals such as overall "
        "usage, not from one thing in particular."
    ) in hostile
    assert "Journey" not in hostile


def test_the_terminal_says_what_the_page_says(tmp_path: Path, tiny: dict[str, Any]) -> None:
    """Every line the terminal prints (bar its column layout) is text of the account's page."""
    inputs = with_cause_and_journey(tiny)
    lines = lines_of(inputs, "A1")
    render_report(tmp_path / "report", **inputs)
    page = text_of(tmp_path / "report" / "accounts" / "A1.html")
    table_start = lines.index("Compared with similar accounts") + 1
    table = lines[table_start : table_start + 6]
    layout = {"Account A1 · rank 1 of 3 · as of 2026-11-01", "  Raises risk:", "  Lowers risk:"}
    said = [ln.strip() for ln in lines if ln.strip() and ln not in layout and ln not in table]
    said = [re.sub(r"^[+-]\d\.\d\d\s+", "", s) for s in said]  # the bar's number, on the page too
    for text in said:
        for piece in text.split(" · "):
            assert piece.lstrip("✓!✕… ") in page, piece
    assert "Account · rank 1 of 3 · as of 2026-11-01" in page


def test_data_cannot_drive_the_terminal(tiny: dict[str, Any]) -> None:
    """Escape sequences, newlines and direction controls in an id or a sentence print as
    visible replacement characters: one line stays one line, nothing is sent to the terminal."""
    evil = "evil\x1b[2J\nFAKE LINE\r\u202eexe.gpj"
    tiny["scores"] = tiny["scores"].with_columns(
        pl.when(pl.col("account_id") == "A1")
        .then(pl.lit(evil))
        .otherwise(pl.col("account_id"))
        .alias("account_id")
    )
    tiny["explanations"] = tiny["explanations"].with_columns(
        pl.col("account_id").replace("A1", evil), pl.col("sentence").str.replace("4", "\x1b[31m4")
    )
    lines = lines_of(tiny, evil)
    text = "\n".join(lines)
    assert not re.search("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202e]", text)
    assert (
        lines[0]
        == "Account evil\ufffd[2J\ufffdFAKE LINE\ufffd\ufffdexe.gpj · rank 1 of 3 · as of 2026-11-01"
    )
    assert "FAKE LINE" not in [ln.strip() for ln in lines]
    assert shown("a\x07b\u2066c") == "a\ufffdb\ufffdc"


def test_colour_only_when_asked(tiny: dict[str, Any]) -> None:
    plain = lines_of(tiny, "A1")
    coloured = lines_of(tiny, "A1", color=True)
    assert not any("\x1b" in ln for ln in plain)
    assert coloured[4] == "\x1b[1;31mDecay risk 72% — high\x1b[0m"
    assert coloured[0] == f"\x1b[1m{plain[0]}\x1b[0m"
    assert [re.sub(r"\x1b\[[0-9;]*m", "", ln) for ln in coloured] == plain


def test_json_holds_numbers_and_the_same_sentences(tiny: dict[str, Any]) -> None:
    out = json_of(with_cause_and_journey(tiny), "A1")
    assert json.loads(json.dumps(out, default=str))["account_id"] == "A1"
    assert (out["decay_risk"], out["risk_tier"], out["rank"], out["n_accounts"]) == (
        0.72,
        "high",
        1,
        3,
    )
    assert out["headline"] == "Decay risk 72% — high"
    assert out["change"] == "▲ +5 pts"
    assert [d["contribution"] for d in out["drivers"]] == [0.9, 0.6, 0.3, -0.2, -0.45]
    assert out["drivers"][0]["sentence"].startswith("Active admins fell from 4 to 1")
    assert out["likely_cause"] == {"family": "role", "text": "2 admins left in the last 28 days."}
    assert out["journey"]["steps"] == "2 of 4 steps done"
    assert [m["status"] for m in out["milestones"]] == ["reached", "late", "missing", "pending"]
    assert out["segments"] == {"Industry": "fintech", "Size tier": "smb"}
