"""Words from the data: a shop's customer report never speaks the demo's B2B vocabulary.

The customer case renders sentences and next steps from the real catalogue and playbook (entity
"customer", a single-user log, no milestones, the families any event log has) and checks every
piece of text a reader sees; the demo-like case (accounts with users and milestones) keeps its
words.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from omegaconf import OmegaConf

from core.config import load_config
from features.catalogue import expand_patterns
from report.render import render_report
from report.words import entity_noun, has_users, plural, report_words, usage_metric
from scoring.playbook import next_best_action
from scoring.sentences import template_expr
from tests.report.conftest import tiny_inputs

#: The demo's vocabulary, as whole words (plurals too), and its usage panel's title.
DEMO_WORDS = re.compile(
    r"\b(accounts?|champions?|integrations?|seats?|admins?|builders?|"
    r"workflows?|milestones?)\b|weekly active users",
    re.IGNORECASE,
)
#: Attributes whose values a reader sees (tooltips, placeholders, screen readers).
SEEN_ATTRS = ("title", "placeholder", "aria-label", "alt")


class _Seen(HTMLParser):
    """The text a reader sees: text nodes outside <script>/<style> (the <title> included) and
    the values of `SEEN_ATTRS`; ids, classes, data-* attributes and JS identifiers are not."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        self.parts += [v for k, v in attrs if k in SEEN_ATTRS and v]

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def seen_text(path: Path) -> str:
    p = _Seen()
    p.feed(path.read_text("utf-8"))
    return re.sub(r"\s+", " ", " ".join(p.parts))


#: The footer names the served model by its registry URI: "@champion" there is MLflow's alias
#: (the model in production), not the demo's vocabulary.
MODEL_URI = "models:/adoption-decay@champion"


def demo_words(path: Path) -> list[str]:
    text = seen_text(path).replace(MODEL_URI, "")
    return sorted({m.group(0).lower() for m in DEMO_WORDS.finditer(text)})


# --------------------------------------------------------------------------- the customer case

CUSTOMER = ("customer", "customers")
IDS = ["C-1", "C-2", "C-3"]
AS_OF = date(2026, 11, 1)
# (customer, feature, value, peer median, contribution): each customer's explanation rows.
ROWS = [
    ("C-1", "ev_episode_played_28d", 2.0, 14.0, 0.9),
    ("C-1", "overdue_ratio", 3.5, 1.0, 0.5),
    ("C-1", "active_days_trend_ratio", 0.4, 1.0, 0.2),
    ("C-1", "tenure_since_first_seen_days", 400.0, 200.0, -0.3),
    ("C-2", "days_since_last_event", 21.0, 3.0, 0.7),
    ("C-2", "ev_search_done_days_since_last", 30.0, 5.0, 0.3),
    ("C-2", "ev_search_done_share_28d", 0.2, 0.4, -0.1),
    ("C-3", "active_days_28d", 3.0, 11.0, 0.4),
    ("C-3", "ev_episode_played_trend_ratio", 0.5, 1.0, 0.1),
    ("C-3", "lifetime_active_days", 80.0, 60.0, -0.2),
]
# The family of each customer's top driver picks its playbook rule.
TOP_FAMILY = {"C-1": "vocabulary", "C-2": "history", "C-3": "activity"}


def _catalogue() -> tuple[dict[str, dict[str, str]], dict[str, Any]]:
    cfg = load_config()
    fcfg = cfg.features.copy()
    fcfg.vocabulary_events = ["episode_played", "search_done"]
    fcfg.milestones = []
    return expand_patterns(cfg.catalogue, fcfg), OmegaConf.to_container(cfg.playbook, resolve=True)


def _explanations(catalogue: dict[str, dict[str, str]], entity: tuple[str, str]) -> pl.DataFrame:
    """The rows of `ROWS`, their sentences rendered by the scoring code from the real catalogue."""
    frame = pl.DataFrame(
        ROWS, schema=["account_id", "feature", "value", "peer_median", "contribution"], orient="row"
    ).with_columns(pl.lit(4.0).alias("typical_gap_days"))  # the usual gap quoted by overdue_ratio
    units = {f: e["unit"] for f, e in catalogue.items()}
    parts = []
    for (feature,), part in frame.partition_by(
        "feature", as_dict=True, maintain_order=True
    ).items():
        entry = catalogue[feature]
        parts.append(
            part.with_columns(
                template_expr(
                    entry["sentence"], feature, units, dict(part.schema), 9999.0, entry, entity
                ).alias("sentence"),
                pl.lit(entry["family"]).alias("family"),
            )
        )
    out = pl.concat(parts).sort(
        "account_id", pl.col("contribution").abs(), descending=[False, True]
    )
    return (
        out.with_columns(
            pl.when(pl.col("contribution") > 0)
            .then(pl.lit("risk"))
            .otherwise(pl.lit("protective"))
            .alias("direction"),
        )
        .with_columns(
            pl.int_range(1, pl.len() + 1)
            .over("account_id", "direction")
            .cast(pl.Int64)
            .alias("rank"),
        )
        .drop("typical_gap_days")
    )


def customer_inputs(
    entity: tuple[str, str] = CUSTOMER, label: str = "churn_event"
) -> dict[str, Any]:
    """Report inputs of a single-user log (one person per customer), no milestones."""
    catalogue, playbook = _catalogue()
    expl = _explanations(catalogue, entity)
    top = (
        expl.filter(pl.col("direction") == "risk")
        .sort("rank")
        .group_by("account_id", maintain_order=True)
        .first()
    )
    ctx = (
        pl.DataFrame({"account_id": IDS})
        .join(top, on="account_id", how="left")
        .select(
            pl.col("account_id").replace_strict(TOP_FAMILY).alias("top_family"),
            pl.lit(None, pl.String).alias("milestone_state"),
            pl.lit(None, pl.Int64).alias("milestones_reached"),
            pl.lit(0, pl.Int64).alias("milestones_total"),
            pl.lit(None, pl.String).alias("next_milestone"),
            pl.lit(None, pl.Float64).alias("peer_share_next"),
            pl.lit("premium").alias("segment"),
            pl.col("sentence").alias("driver"),
        )
    )
    scores = pl.DataFrame(
        {
            "account_id": IDS,
            "as_of": [AS_OF] * 3,
            "plan": ["premium", "basic", "premium"],
            "decay_risk": [0.72, 0.40, 0.10],
            "risk_tier": ["high", "medium", "low"],
            "rank": [1, 2, 3],
            "previous_risk": [0.6, None, 0.1],
            "risk_change": [0.12, None, 0.0],
            "model_version": ["1"] * 3,
            "driver_1": top["feature"],
            "driver_1_text": top["sentence"],
            "next_best_action": next_best_action(ctx, playbook, entity),
        }
    )
    weeks = [AS_OF - timedelta(days=7 * k) for k in range(4, 0, -1)]
    usage = pl.DataFrame(
        {
            "account_id": [a for a in IDS for _ in weeks],
            "week_start": weeks * 3,
            "active_users": [1, 1, 0, 1] * 3,  # one person per customer
            "usage_events": [9, 6, 0, 2, 5, 5, 4, 6, 1, 0, 0, 1],
            "active_days": [4, 3, 0, 1, 2, 2, 2, 3, 1, 0, 0, 1],
        }
    )
    milestones = tiny_inputs()["milestones"].clear()
    history = pl.DataFrame(
        {"account_id": IDS, "as_of": [AS_OF] * 3, "decay_risk": [0.72, 0.40, 0.10]}
    )
    meta = {
        "as_of": AS_OF,
        "model_version": "1",
        "model_uri": MODEL_URI,
        "segments": ["plan"],
        "n_accounts": 3,
        "generated_at": "2026-11-01 06:00 UTC",
        "tier_thresholds": {"high": 0.5, "medium": 0.25},
        "horizon_days": 56,
        "never_days": 9999,
        "never_features": ["days_since_last_event"],
        "entity": entity[0],
        "entity_plural": entity[1],
        "label": label,
        "has_users": False,
    }
    return {
        "scores": scores,
        "explanations": expl,
        "history": history,
        "usage": usage,
        "milestones": milestones,
        "meta": meta,
    }


@pytest.fixture
def customer_report(tmp_path: Path) -> Path:
    return render_report(tmp_path / "report", **customer_inputs())


def test_customer_report_has_no_demo_word_on_any_page(customer_report: Path) -> None:
    pages = [customer_report, *sorted((customer_report.parent / "accounts").iterdir())]
    assert len(pages) == 4
    for page in pages:
        assert demo_words(page) == [], page.name


def test_customer_report_speaks_of_customers_and_the_label(customer_report: Path) -> None:
    text = seen_text(customer_report)
    assert "Adoption decay — 3 customers as of 2026-11-01" in text
    assert "Which customers are losing the product habit?" in text
    assert "3 of 3 customers shown" in text
    assert "Search customer id" in text
    assert (
        "the chance that the customer cancels within the next 56 days. 72% means roughly "
        "7 in 10 customers that look like this one cancel."
    ) in text
    assert "Active days per week over the last 12 weeks" in text and "Active days, 12 wk" in text
    page = seen_text(customer_report.parent / "accounts" / "C-1.html")
    assert "Customer · rank 1 of 3" in page and "← All customers" in page
    assert "Risk of cancelling" in page and "Compared with similar customers" in page
    assert "Active days per week" in page and "Episode played (28 days)" in page
    # catalogue sentences and the next step, filled with the entity noun
    assert "2 × “episode played” in the last 28 days; customers like this one have 14." in page
    assert (
        "The customer has been quiet for 3.5 times its usual gap of 4 days; customers like "
        "this one are at 1.0."
    ) in page
    assert "ask this customer what changed and show what similar customers get from it." in page
    c2 = seen_text(customer_report.parent / "accounts" / "C-2.html")
    assert "“search done” makes up 20% of the customer's activity in the last 28 days" in c2
    assert "This customer is slipping against its own usual rhythm" in c2


def test_customer_pages_have_no_milestones_card(customer_report: Path) -> None:
    html = (customer_report.parent / "accounts" / "C-1.html").read_text("utf-8")
    assert 'id="milestones"' not in html and 'id="peers"' in html


def test_other_labels_and_nouns(tmp_path: Path) -> None:
    index = render_report(
        tmp_path / "r", **customer_inputs(("subscriber", "subscribers"), "inactivity")
    )
    text = seen_text(index)
    assert "the subscriber stops using the product (no activity at all)" in text
    assert "7 in 10 subscribers that look like this one stop using the product" in text
    assert demo_words(index) == []
    words = report_words(
        {"entity": "company"}, users=True, has_milestones=True, usage_metric="active_users"
    )
    assert (words["entities"], words["Entity"]) == ("companies", "Company")
    assert words["risk"] == "the company's product usage drops sharply"  # default label


# --------------------------------------------------------------------------- the demo-like case


def test_demo_like_report_keeps_its_words(tmp_path: Path) -> None:
    """Entity account (the default), several users per account, milestones reached."""
    index = render_report(tmp_path / "report", **tiny_inputs())
    page = tmp_path / "report" / "accounts" / "A1.html"
    assert {"account", "accounts", "weekly active users"} <= set(demo_words(index))
    assert {"account", "accounts", "milestones", "weekly active users", "admin"} <= set(
        demo_words(page)
    )
    text = seen_text(index)
    assert "the chance that the account's product usage drops sharply soon" in text
    assert "7 in 10 accounts that look like this one lose the habit" in text
    assert "Active users, 12 wk" in text
    assert "Onboarding milestones" in seen_text(page)


def test_milestones_card_needs_milestones_that_occur(tmp_path: Path) -> None:
    """Configured milestones nobody reached (their events are not in the log): no card."""
    inputs = tiny_inputs()
    inputs["milestones"] = inputs["milestones"].with_columns(
        pl.lit(None, pl.Date).alias("reached_on"), pl.lit("missing").alias("status")
    )
    render_report(tmp_path / "report", **inputs)
    html = (tmp_path / "report" / "accounts" / "A1.html").read_text("utf-8")
    assert 'id="milestones"' not in html and "expected by day" not in html
    inputs["meta"] = {**inputs["meta"], "has_milestones": True}  # meta decides when given
    render_report(tmp_path / "report", **inputs)
    assert 'id="milestones"' in (tmp_path / "report" / "accounts" / "A1.html").read_text("utf-8")


# --------------------------------------------------------------------------- the pure words


@pytest.mark.parametrize(
    ("noun", "many"),
    [
        ("account", "accounts"),
        ("customer", "customers"),
        ("company", "companies"),
        ("day", "days"),
        ("business", "businesses"),
        ("box", "boxes"),
    ],
)
def test_plural(noun: str, many: str) -> None:
    assert plural(noun) == many


def test_entity_noun_from_config_else_from_the_users() -> None:
    assert entity_noun(None, users=True) == ("account", "accounts")
    assert entity_noun(None, users=False) == ("customer", "customers")
    assert entity_noun("subscriber", users=True) == ("subscriber", "subscribers")
    assert entity_noun("  ", users=False) == ("customer", "customers")
    assert entity_noun("{value}\nstore", users=True) == ("value store", "value stores")


def test_has_users_compares_user_and_account_ids() -> None:
    single = pl.DataFrame({"account_id": ["a", "b"], "user_id": ["a", "b"]})
    assert not has_users(single) and not has_users(single.lazy())
    assert has_users(pl.DataFrame({"account_id": ["a", "a"], "user_id": ["a", "u2"]}))


def test_usage_metric_follows_the_users() -> None:
    usage = customer_inputs()["usage"]
    assert usage_metric(usage, users=True) == "active_users"
    assert usage_metric(usage, users=False) == "active_days"
    assert usage_metric(usage.drop("active_days"), users=False) == "usage_events"
    assert (
        usage_metric(usage.select("account_id", "week_start", "active_users"), users=False)
        == "active_users"
    )
