"""Counted words agree with their number ("1 day", "2 days", "1 person", "3 people"), and names
from the data read as words ("integration synced"): in every shipped catalogue sentence, in the
playbook's steps, for any count."""

from __future__ import annotations

import re
from typing import Any

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.config import load_config
from features.catalogue import agree_scalars, count_noun, expand_patterns, humanise
from scoring.sentences import PLACEHOLDER, humanised, template_expr

#: Counted nouns of the shipped texts, plural: none may follow a "1" (up to two words between).
PLURALS = (
    "days|weeks|users|people|events|actions|tickets|errors|features|colleagues|admins|builders"
    "|members|person-days"
)
ONE_THEN_PLURAL = re.compile(rf"(?<![\d.,])-?1 (?:[\w-]+ ){{0,2}}(?:{PLURALS})\b")
SINGULARS = "day|week|user|person|event|action|ticket|error|feature|colleague|admin|builder|member"
# ... nor a singular another number (words between it and the noun are no plural themselves).
MANY_THEN_SINGULAR = re.compile(
    rf"\b(?:0|[2-9]|\d\d+) (?:[\w-]+(?<!s) ){{0,2}}(?:{SINGULARS})(?![\w-])"
)


def _render(template: str, values: dict[str, list[Any]], units: dict[str, str] | None = None):
    frame = pl.DataFrame(values)
    expr = template_expr(template, "x", units or {}, dict(frame.schema))
    return frame.select(expr.alias("s"))["s"].to_list()


@pytest.fixture(scope="module")
def catalogue() -> dict[str, dict[str, str]]:
    cfg = load_config([])
    fcfg = cfg.features.copy()
    fcfg.vocabulary_events = ["integration_synced", "Report Exported"]
    fcfg.windows_days = [1, 7, 28]  # a one-day window too
    return expand_patterns(cfg.catalogue, fcfg)


def _sentences_at(catalogue: dict[str, dict[str, str]], n: float) -> dict[str, str]:
    """Every catalogue sentence rendered with its value, peer and referenced features at ``n``."""
    units = {f: e["unit"] for f, e in catalogue.items()}
    out = {}
    for feature, entry in catalogue.items():
        refs = {r for r in PLACEHOLDER.findall(entry["sentence"]) if r in catalogue}
        frame = pl.DataFrame(
            {"value": [n], "peer_median": [n], **{r: [n] for r in refs}},
            schema={
                "value": pl.Float64,
                "peer_median": pl.Float64,
                **dict.fromkeys(refs, pl.Float64),
            },
        )
        expr = template_expr(entry["sentence"], feature, units, dict(frame.schema), 9999.0, entry)
        out[feature] = frame.select(expr.alias("s")).item()
    return out


def test_every_shipped_sentence_is_singular_at_one(catalogue) -> None:
    for feature, text in _sentences_at(catalogue, 1.0).items():
        assert not ONE_THEN_PLURAL.search(text), (feature, text)
        assert "[" not in text and "|" not in text, (feature, text)  # no group left unresolved
    texts = _sentences_at(catalogue, 1.0)
    assert texts["active_users_28d"].startswith("1 person used the product in the last 28 days")
    assert texts["admins_left_28d"].startswith("1 admin left in the last 28 days")
    assert texts["active_admins_prev_28d"] == (
        "1 admin was active in the 28 days before the most recent 28."
    )
    assert texts["support_tickets_1d"].startswith("1 support ticket in the last 1 day;")


def test_every_shipped_sentence_is_plural_above_one(catalogue) -> None:
    texts = _sentences_at(catalogue, 3.0)
    for feature, text in texts.items():
        assert not MANY_THEN_SINGULAR.search(text), (feature, text)
    assert texts["active_users_28d"].startswith("3 people used the product")
    assert texts["active_admins_prev_28d"].startswith("3 admins were active")


def test_event_names_read_as_words_in_the_shipped_sentences(catalogue) -> None:
    assert catalogue["ev_integration_synced_7d"]["sentence"].startswith(
        "{value} × “integration synced” in the last 7 days"
    )
    assert "“Report Exported”" in catalogue["ev_report_exported_7d"]["sentence"]  # own words kept
    for entry in catalogue.values():
        text = PLACEHOLDER.sub("", entry["sentence"].split("{entities}")[0])
        assert "_" not in text, entry["sentence"]


@given(st.integers(-10_000, 10_000))
def test_counted_words_agree_with_any_count(n: int) -> None:
    [text] = _render(
        "{value} [person|people] used it on {days} days; {users} [user was|users were] invited.",
        {"value": [float(n)], "peer_median": [0.0], "days": [float(n)], "users": [float(n)]},
        {"days": "days"},
    )
    assert not re.search(r"(?<![\d.])-?1 (days|users|people|user were)\b", text), text
    if abs(n) == 1:
        assert text == f"{n} person used it on {n} day; {n} user was invited."
    else:
        assert text == f"{n} people used it on {n} days; {n} users were invited."


@given(st.integers(-1000, 1000))
def test_scalar_groups_agree_at_catalogue_time(n: int) -> None:
    text = agree_scalars(
        "in the last {weeks} [week|weeks]; {value} [person|people]", {"weeks": str(n)}
    )
    assert text.endswith("{value} [person|people]")  # row placeholders wait for rendering
    assert text.startswith(f"in the last {{weeks}} {'week' if abs(n) == 1 else 'weeks'};")
    assert count_noun(str(n), "day", "days") == ("day" if abs(n) == 1 else "days")


def test_a_group_without_a_number_before_it_reads_plural() -> None:
    assert _render("[It was|They were] fine.", {"value": [1.0]}) == ["They were fine."]


@given(st.text(max_size=60))
def test_humanised_names_never_contain_an_underscore(name: str) -> None:
    words = humanise(name)
    assert "_" not in words
    assert words == words.strip() and "  " not in words and "\n" not in words
    assert humanise(name, capital=True) == words[:1].upper() + words[1:]  # only the 1st


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("integration_synced", "integration synced"),
        ("API_call", "API call"),  # the data's own words: no title case
        ("usage_events_28d", "usage events (28 days)"),
        ("support_tickets_1d", "support tickets (1 day)"),
        ("ev_report_viewed_7d", "report viewed (7 days)"),
        ("active_users_28d_peer_pct", "active users (28 days) peer pct"),
        ("Report Exported", "Report Exported"),
    ],
)
def test_humanise(name: str, words: str) -> None:
    assert humanise(name) == words


def test_string_values_in_sentences_are_humanised_once_per_distinct_value() -> None:
    s = pl.Series(["financial_services", None, "financial_services", "retail"])
    assert humanised(s).to_list() == ["financial services", None, "financial services", "retail"]
    [a, b] = _render("Segment {segment}.", {"value": [1.0, 2.0], "segment": ["smb_eu", None]})
    assert (a, b) == ("Segment smb eu.", "Segment n/a.")


def test_hostile_event_names_cannot_add_placeholders_or_groups() -> None:
    cfg = load_config([])
    fcfg = cfg.features.copy()
    fcfg.vocabulary_events = ["{value} [one|many] {entity}"]
    cat = expand_patterns(cfg.catalogue, fcfg)
    [entry] = [e for f, e in cat.items() if f.endswith("_7d") and f.startswith("ev_")]
    assert entry["sentence"].startswith("{value} × “(value) (one/many) (entity)” in the last 7")


def test_playbook_steps_agree_with_their_numbers() -> None:
    from scoring.playbook import next_best_action

    ctx = pl.DataFrame(
        {
            "top_family": ["milestones", "milestones"],
            "milestone_state": ["partly", "partly"],
            "milestones_reached": [1, 2],
            "milestones_total": [3, 3],
            "next_milestone": ["first_integration", "first_integration"],
            "peer_share_next": [0.5, 0.5],
            "segment": ["smb_eu", "smb_eu"],
            "driver": ["Keep_this_sentence as written.", "x"],
        }
    )
    rule = "{milestones_reached} [milestone is|milestones are] reached in {segment}; {driver}"
    playbook = {
        "default": "d",
        "rules": {f: [{"action": rule}] for f in ("milestones",)}
        | {
            f: [{"action": "x"}]
            for f in (
                [
                    "activity",
                    "trends",
                    "breadth",
                    "role",
                    "onboarding",
                    "friction",
                    "lifecycle",
                    "peer",
                    "vocabulary",
                    "history",
                ]
            )
        },
    }
    out = next_best_action(ctx, playbook).to_list()
    assert out == [
        "1 milestone is reached in smb eu; Keep_this_sentence as written.",
        "2 milestones are reached in smb eu; x",
    ]
