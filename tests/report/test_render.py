"""The report's HTML on hand-made frames: files, counts, escaping, SVG, self-containment, errors."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from core.errors import DataValidationError
from report.render import account_file_name, render_report
from tests.report.conftest import HOSTILE_ID


class _Collect(HTMLParser):
    """Every start tag with its (unescaped) attributes, and the page's visible text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(path: Path) -> _Collect:
    p = _Collect()
    p.feed(path.read_text("utf-8"))
    return p


def rows_of(index: Path) -> list[dict[str, str | None]]:
    return [a for t, a in parse(index).tags if t == "tr" and "data-account-id" in a]


def text_of(path: Path) -> str:
    return re.sub(r"\s+", " ", "".join(parse(path).text))


def render(tmp_path: Path, inputs: dict[str, Any], **kw: Any) -> Path:
    return render_report(tmp_path / "report", **inputs, **kw)


def test_writes_index_and_one_page_per_account(tmp_path: Path, tiny: dict[str, Any]) -> None:
    index = render(tmp_path, tiny)
    assert index == tmp_path / "report" / "index.html"
    pages = sorted(p.name for p in (tmp_path / "report" / "accounts").iterdir())
    assert pages == sorted(["A1.html", "Z-9.html", account_file_name(HOSTILE_ID)])
    # links in the table point at exactly those files, in rank order
    links = [
        a["href"]
        for t, a in parse(index).tags
        if t == "a" and (a.get("href") or "").startswith("accounts/")
    ]
    assert links == [
        "accounts/A1.html",
        f"accounts/{account_file_name(HOSTILE_ID)}",
        "accounts/Z-9.html",
    ]


def test_portfolio_rows_carry_stable_data_attributes(tmp_path: Path, tiny: dict[str, Any]) -> None:
    rows = rows_of(render(tmp_path, tiny))
    assert [r["data-account-id"] for r in rows] == ["A1", HOSTILE_ID, "Z-9"]
    assert [r["data-rank"] for r in rows] == ["1", "2", "3"]
    assert [r["data-risk"] for r in rows] == ["0.72", "0.4", "0.1"]
    assert [r["data-change"] for r in rows] == ["0.05", "", "-0.031"]
    assert [r["data-tier"] for r in rows] == ["high", "medium", "low"]
    assert [r["data-seg-industry"] for r in rows] == ["fintech", "retail & <more>", "fintech"]
    assert [r["data-seg-size-tier"] for r in rows] == ["smb", "mid", "smb"]


def test_portfolio_words_counts_and_filters(tmp_path: Path, tiny: dict[str, Any]) -> None:
    index = render(tmp_path, tiny)
    text = text_of(index)
    assert "▲ +5 pts" in text and "new" in text and "▼ −3 pts" in text
    assert "72%" in text and "40%" in text and "10%" in text
    assert "3 of 3 accounts shown" in text
    assert "Active admins fell from 4 to 1 in the last 28 days" in text  # top driver in words
    tags = parse(index).tags
    selects = [a["data-filter"] for t, a in tags if t == "select"]
    assert selects == ["data-tier", "data-seg-industry", "data-seg-size-tier"]
    options = [a["value"] for t, a in tags if t == "option"]
    assert options == [
        "",
        "high",
        "medium",
        "low",
        "",
        "fintech",
        "retail & <more>",
        "",
        "mid",
        "smb",
    ]
    sortable = [a["data-sort"] for t, a in tags if t == "th" and "data-sort" in a]
    assert sortable == ["rank", "account", "risk", "change"]
    cards = {a["data-tier-count"]: None for t, a in tags if "data-tier-count" in a}
    assert list(cards) == ["high", "medium", "low"]


def test_data_is_escaped_everywhere(tmp_path: Path, tiny: dict[str, Any]) -> None:
    index = render(tmp_path, tiny)
    page = tmp_path / "report" / "accounts" / account_file_name(HOSTILE_ID)
    for path in (index, page):
        html = path.read_text("utf-8")
        assert "acme <b>" not in html and "acme &lt;b&gt;&amp;" in html
        assert "<script>alert(1)</script>" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert "retail & <more>" not in html and "retail &amp; &lt;more&gt;" in html
    # the browser sees the original strings back
    assert HOSTILE_ID in text_of(page)
    assert [a["id"] for t, a in parse(page).tags if a.get("id") == "account-id"] == ["account-id"]


def test_pages_are_self_contained(tmp_path: Path, tiny: dict[str, Any]) -> None:
    render(tmp_path, tiny)
    files = list((tmp_path / "report").rglob("*.html"))
    assert len(files) == 4
    for path in files:
        html = path.read_text("utf-8")
        assert not re.search(r"https?://", html), path
        assert not re.search(r"<(script|img|iframe)[^>]*\bsrc=", html), path
        assert not re.search(r"<link[^>]*stylesheet", html), path
        assert "url(" not in html and "@import" not in html, path
        assert "default-src 'none'" in html  # the browser itself refuses any fetch
        assert html.count("<style>") == 1


def test_svg_charts_present(tmp_path: Path, tiny: dict[str, Any]) -> None:
    index = render(tmp_path, tiny)
    html = index.read_text("utf-8")
    assert html.count('<svg class="spark"') == 3
    # the hostile account has no usage rows: a dashed placeholder line, no polyline
    assert html.count("<polyline") == 2
    a1 = (tmp_path / "report" / "accounts" / "A1.html").read_text("utf-8")
    assert a1.count('<svg class="trend"') == 1
    assert a1.count('<svg class="bars"') == 1
    assert a1.count('<svg class="cbar"') == 5
    assert a1.count('<svg class="pscale"') == 5
    assert a1.count("<rect") == 5 + 4  # 5 contribution bars + 4 weekly usage columns


def test_account_page_content(tmp_path: Path, tiny: dict[str, Any]) -> None:
    render(tmp_path, tiny)
    page = tmp_path / "report" / "accounts" / "A1.html"
    text = text_of(page)
    assert "Decay risk 72% — high" in text
    assert "▲ +5 pts since the last run (67%)" in text
    assert "Call the new admin & re-run onboarding." in text
    assert "rank 1 of 3" in text
    tags = parse(page).tags
    drivers = [
        (a["data-feature"], a["data-direction"], a["data-contribution"])
        for t, a in tags
        if t == "li" and "data-direction" in a
    ]
    assert drivers == [
        ("active_admins_28d", "risk", "+0.90"),
        ("support_tickets_28d", "risk", "+0.60"),
        ("workflows_7d", "risk", "+0.30"),
        ("integrations_connected", "protective", "-0.20"),
        ("features_used_28d", "protective", "-0.45"),
    ]
    assert "Active admins (28 days)" in text
    assert "2 workflows ran last week; peers ran 10." in text
    # value vs peer median, formatted
    assert (
        '<tr data-feature="features_used_28d"><td>Features used (28 days)</td>'
        '<td class="num">12.5</td><td class="num">8</td>'
    ) in page.read_text("utf-8")
    statuses = [(a["data-milestone"], a["data-status"]) for t, a in tags if "data-milestone" in a]
    assert statuses == [
        ("first_dashboard", "reached"),
        ("first_workflow", "late"),
        ("first_integration", "missing"),
        ("five_users", "pending"),
    ]
    assert "Reached on day 4 (2026-03-05), expected by day 7" in text
    assert "Reached late on day 32 (2026-04-02), expected by day 21" in text
    assert "Not reached, expected by day 30; 60 days so far" in text
    assert "In progress: day 20 of 45" in text
    assert [a["href"] for t, a in tags if t == "a"] == ["../index.html"]


def test_account_without_explanations_falls_back_to_score_sentences(
    tmp_path: Path, tiny: dict[str, Any]
) -> None:
    tiny["explanations"] = tiny["explanations"].filter(pl.col("account_id") != "Z-9")
    render(tmp_path, tiny)
    page = tmp_path / "report" / "accounts" / "Z-9.html"
    assert "Seats used is 9; peers have 10." in text_of(page)
    assert "No indicators to compare." in text_of(page)
    assert "first time scored" not in text_of(page)


def test_rerender_replaces_the_folder(tmp_path: Path, tiny: dict[str, Any]) -> None:
    render(tmp_path, tiny)
    tiny["scores"] = tiny["scores"].filter(pl.col("account_id") == "A1")
    index = render(tmp_path, tiny)
    assert [p.name for p in (tmp_path / "report" / "accounts").iterdir()] == ["A1.html"]
    assert len(rows_of(index)) == 1


def test_max_accounts_keeps_the_riskiest(tmp_path: Path, tiny: dict[str, Any]) -> None:
    index = render(tmp_path, tiny, max_accounts=2)
    assert [r["data-account-id"] for r in rows_of(index)] == ["A1", HOSTILE_ID]
    assert len(list((tmp_path / "report" / "accounts").iterdir())) == 2
    text = text_of(index)
    assert "The table lists the 2 riskiest of 3 accounts scored" in text
    assert "2 of 2 accounts shown" in text


def test_non_string_segments_match_their_filter_options(
    tmp_path: Path, tiny: dict[str, Any]
) -> None:
    tiny["scores"] = tiny["scores"].with_columns(pl.Series("size_tier", [True, False, True]))
    index = render(tmp_path, tiny)
    assert [r["data-seg-size-tier"] for r in rows_of(index)] == ["true", "false", "true"]
    options = [a["value"] for t, a in parse(index).tags if t == "option"]
    assert options[-3:] == ["", "false", "true"]


def test_rows_past_the_first_page_start_hidden(tmp_path: Path, tiny: dict[str, Any]) -> None:
    rows = rows_of(render(tmp_path, tiny, page_size=2))
    assert ["hidden" in r for r in rows] == [False, False, True]
    assert "the first 2 are listed" in text_of(tmp_path / "report" / "index.html")


def test_failed_render_leaves_previous_report(tmp_path: Path, tiny: dict[str, Any]) -> None:
    index = render(tmp_path, tiny)
    before = index.read_text("utf-8")
    bad = dict(tiny, scores=tiny["scores"].with_columns(pl.lit("urgent").alias("risk_tier")))
    with pytest.raises(DataValidationError):
        render(tmp_path, bad)
    assert index.read_text("utf-8") == before


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda d: d.update(scores=d["scores"].drop("next_best_action")),
            "frame 'scores' is missing column(s) ['next_best_action']",
        ),
        (
            lambda d: d.update(usage=d["usage"].drop("active_users")),
            "frame 'usage' is missing column(s) ['active_users']",
        ),
        (
            lambda d: d.update(
                scores=d["scores"].with_columns(
                    pl.when(pl.col("account_id") == "Z-9")
                    .then(1.2)
                    .otherwise(pl.col("decay_risk"))
                    .alias("decay_risk")
                )
            ),
            "decay_risk must be in [0, 1]; account 'Z-9' has 1.2",
        ),
        (
            lambda d: d.update(
                scores=d["scores"].with_columns(
                    pl.when(pl.col("rank") == 2)
                    .then(pl.lit("urgent"))
                    .otherwise(pl.col("risk_tier"))
                    .alias("risk_tier")
                )
            ),
            "has 'urgent'",
        ),
        (
            lambda d: d.update(scores=pl.concat([d["scores"], d["scores"].head(1)])),
            "duplicate account_id 'A1'",
        ),
        (
            lambda d: d.update(
                milestones=d["milestones"].with_columns(pl.lit("done").alias("status"))
            ),
            "got 'done' for account 'A1'",
        ),
        (
            lambda d: d["meta"].update(segments=["industry", "region"]),
            "segment column(s) ['region']",
        ),
        (
            lambda d: d.update(
                explanations=d["explanations"].with_columns(pl.lit("up").alias("direction"))
            ),
            "direction must be risk|protective; got 'up'",
        ),
    ],
)
def test_bad_input_names_column_and_value(
    tmp_path: Path, tiny: dict[str, Any], change: Any, message: str
) -> None:
    change(tiny)
    with pytest.raises(DataValidationError) as err:
        render(tmp_path, tiny)
    assert message in str(err.value)
    assert not (tmp_path / "report").exists()


def test_empty_portfolio_renders(tmp_path: Path, tiny: dict[str, Any]) -> None:
    tiny["scores"] = tiny["scores"].clear()
    index = render(tmp_path, tiny)
    assert rows_of(index) == []
    assert "0 of 0 accounts shown" in text_of(index)
    assert list((tmp_path / "report" / "accounts").iterdir()) == []


def test_the_likely_cause_leads_the_portfolio_reason_and_shows_on_the_account_page(
    tmp_path: Path, tiny: dict[str, Any]
) -> None:
    scores = tiny["scores"].with_columns(
        pl.Series("top_cause_kind", ["cause", "none", None]),
        pl.Series("top_cause_family", ["role", None, None]),
        pl.Series("top_cause_driver_text", ["2 admins left in the last 28 days.", None, None]),
    )
    index = render(tmp_path, {**tiny, "scores": scores})
    text = text_of(index)
    assert "2 admins left in the last 28 days." in text  # A1: the cause sentence
    assert "Support tickets <script>alert(1)</script> doubled." in text  # no cause: driver 1
    a1 = text_of(tmp_path / "report" / "accounts" / "A1.html")
    assert "Likely cause: role — 2 admins left in the last 28 days." in a1
    # no single cause stands out: said plainly, with no family named
    hostile = tmp_path / "report" / "accounts" / account_file_name(HOSTILE_ID)
    [line] = [a for t, a in parse(hostile).tags if a.get("id") == "likely-cause"]
    assert line.get("data-cause") == "none"
    assert "No single cause stands out: the risk comes from general signals" in text_of(hostile)
    assert "Likely cause:" not in text_of(hostile)
    z9 = text_of(tmp_path / "report" / "accounts" / "Z-9.html")  # nothing raises the risk
    assert "Likely cause" not in z9 and "No single cause" not in z9


def test_never_happened_sentinel_reads_never_and_stays_off_the_scale(
    tmp_path: Path, tiny: dict[str, Any]
) -> None:
    """meta's never_days (features.never_days) on a never_features row: "never", not 9,999."""
    extra = pl.DataFrame(
        {
            "account_id": ["Z-9", "Z-9"],
            "feature": ["days_since_admin_left", "days_since_last_use"],
            "family": ["role", "trends"],
            "value": [9999.0, 12.0],
            "peer_median": [40.0, 9999.0],
            "contribution": [0.02, 0.01],
            "rank": [2, 3],
            "direction": ["risk", "risk"],
            "sentence": [
                "No admin has left the account.",
                "Nobody has used the product for 12 days; most accounts like this one never did.",
            ],
        }
    )
    tiny["explanations"] = pl.concat([tiny["explanations"], extra], how="diagonal_relaxed")
    tiny["meta"] = {
        **tiny["meta"],
        "never_days": 9999,
        "never_features": ["days_since_admin_left", "days_since_last_use"],
    }
    render(tmp_path, tiny)
    html = (tmp_path / "report" / "accounts" / "Z-9.html").read_text("utf-8")
    assert (
        '<tr data-feature="days_since_admin_left"><td>Days since admin left</td>'
        '<td class="num">never</td><td class="num">40</td>'
    ) in html
    assert (
        '<tr data-feature="days_since_last_use"><td>Days since last use</td>'
        '<td class="num">12</td><td class="num">never</td>'
    ) in html
    assert "9,999" not in html and "9999" not in html
    rows = re.findall(r'<tr data-feature="(days_since_[a-z_]+)">.*?</tr>', html, flags=re.S)
    assert rows == ["days_since_admin_left", "days_since_last_use"]
    scales = re.findall(
        r'<tr data-feature="days_since_[a-z_]+">.*?(<svg.*?</svg>)', html, flags=re.S
    )
    # Admin row: only the peer tick (value is "never"), at the far end of a 0..40 scale;
    # last-use row: only the dot, at the far end of a 0..12 scale (not squeezed to 0 by 9999).
    assert "<circle" not in scales[0] and 'x1="194"' in scales[0]
    assert "<circle" in scales[1] and 'cx="194"' in scales[1]
    assert scales[1].count('stroke-width="3"') == 0


def test_without_never_meta_numbers_render_as_numbers(tmp_path: Path, tiny: dict[str, Any]) -> None:
    """A feature not named in never_features keeps its number even at the sentinel."""
    tiny["explanations"] = tiny["explanations"].with_columns(
        pl.when(pl.col("feature") == "seats_used")
        .then(9999.0)
        .otherwise(pl.col("value"))
        .alias("value")
    )
    tiny["meta"] = {**tiny["meta"], "never_days": 9999, "never_features": ["days_since_admin_left"]}
    render(tmp_path, tiny)
    html = (tmp_path / "report" / "accounts" / "Z-9.html").read_text("utf-8")
    assert '<td class="num">9,999</td><td class="num">10</td>' in html
