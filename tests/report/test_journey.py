"""The account page shows the adoption map's nudge and progress (scoring/nudges.py columns)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from report.render import account_file_name, render_report
from report.words import late_words, steps_done
from tests.report.conftest import HOSTILE_ID
from tests.report.test_render import parse, text_of


def _with_journey(scores: pl.DataFrame) -> pl.DataFrame:
    return scores.with_columns(
        pl.Series("milestones_reached", [2, 0, None], dtype=pl.Int64),
        pl.Series("milestones_total", [3, 1, None], dtype=pl.Int64),
        pl.Series("next_milestone", ["first automation", "first <b>report</b>", None]),
        pl.Series("next_milestone_late_pct", [70.0, 20.0, None]),
        pl.Series("peer_gap_events", ["report created, api call", None, None]),
        pl.Series(
            "nudge",
            [
                "2 of 3 steps done; next: first automation — later than 70% of smb accounts "
                "that got there. Accounts like yours used report created and api call in the "
                "last 2 weeks.",
                "0 of 1 step done; next: first <b>report</b> & more.",
                None,
            ],
        ),
        pl.Series(
            "next_step_evidence",
            [
                "In smb accounts, those that reached first automation in the first 45 days went "
                "on to succeed 1.3x as often (95% CI 1.2–1.4x); 31% of yours have not reached "
                "it yet.",
                None,
                None,
            ],
        ),
    )


def test_account_page_shows_nudge_progress_and_evidence_escaped(
    tmp_path: Path, tiny: dict[str, Any]
) -> None:
    render_report(tmp_path / "report", **{**tiny, "scores": _with_journey(tiny["scores"])})
    pages = tmp_path / "report" / "accounts"
    a1 = text_of(pages / "A1.html")
    assert (
        "2 of 3 steps done; next: first automation — later than 70% of smb accounts that got "
        "there. Accounts like yours used report created and api call in the last 2 weeks."
    ) in a1
    assert "Next milestone: first automation — later than 70% of the accounts in its segment" in a1
    assert (
        "Done recently by its segment peers, never by this account: report created, api call" in a1
    )
    assert "went on to succeed 1.3x as often (95% CI 1.2–1.4x); 31% of yours have not" in a1
    ids = {a.get("id") for _t, a in parse(pages / "A1.html").tags}
    assert {"journey", "nudge", "journey-steps", "journey-next", "journey-peers"} <= ids
    assert "next-step-evidence" in ids
    # data is escaped: the milestone's markup is text, not a tag
    hostile = pages / account_file_name(HOSTILE_ID)
    html = hostile.read_text("utf-8")
    assert "first <b>report</b>" not in html and "first &lt;b&gt;report&lt;/b&gt;" in html
    assert "0 of 1 step done" in text_of(hostile)
    assert "on pace: most accounts in its segment that got there took longer" in text_of(hostile)
    assert "journey-peers" not in html and "next-step-evidence" not in html
    # no map for this account (all null): no journey card at all
    z9 = (pages / "Z-9.html").read_text("utf-8")
    assert 'id="journey"' not in z9 and 'id="next-step-evidence"' not in z9


def test_scores_without_nudge_columns_render_no_journey(
    tmp_path: Path, tiny: dict[str, Any]
) -> None:
    render_report(tmp_path / "report", **tiny)
    html = (tmp_path / "report" / "accounts" / "A1.html").read_text("utf-8")
    assert 'id="journey"' not in html


def test_journey_words_agree_and_stay_honest() -> None:
    assert steps_done(1, 1) == "1 of 1 step done"
    assert steps_done(None, 3) == "0 of 3 steps done"
    assert late_words(100.0, "customers") == (
        "later than all the customers in its segment that got there"
    )
    assert late_words(50.0) == "later than 50% of the accounts in its segment that got there"
    assert late_words(10.0) == "on pace: most accounts in its segment that got there took longer"


def test_a_nudge_that_only_counts_the_steps_is_not_repeated(
    tmp_path: Path, tiny: dict[str, Any]
) -> None:
    """All milestones done and no peer gap: the nudge is "3 of 3 steps done." and the card says
    it once (the steps line would repeat it word for word)."""
    scores = _with_journey(tiny["scores"]).with_columns(
        pl.Series("milestones_reached", [3, 0, None], dtype=pl.Int64),
        pl.Series("next_milestone", [None, "first <b>report</b>", None]),
        pl.Series("next_milestone_late_pct", [None, 20.0, None]),
        pl.Series("peer_gap_events", [None, None, None], dtype=pl.String),
        pl.Series("nudge", ["3 of 3 steps done.", "0 of 1 step done; next: x.", None]),
    )
    render_report(tmp_path / "report", **{**tiny, "scores": scores})
    pages = tmp_path / "report" / "accounts"
    assert text_of(pages / "A1.html").count("3 of 3 steps done") == 1
    ids = {a.get("id") for _t, a in parse(pages / "A1.html").tags}
    assert "nudge" in ids and "journey-steps" not in ids
    # a nudge that says more keeps the steps line
    hostile = parse(pages / account_file_name(HOSTILE_ID))
    assert "journey-steps" in {a.get("id") for _t, a in hostile.tags}
