"""The default playbook on any event log: no demo vocabulary, the entity noun, the driver."""

from __future__ import annotations

import re
from typing import Any

import polars as pl
import pytest
from omegaconf import OmegaConf

from core.config import load_config
from scoring.playbook import next_best_action, next_step_about, validate_playbook

DEMO_WORDS = re.compile(
    r"\b(accounts?|champions?|integrations?|seats?|admins?|builders?|"
    r"workflows?|milestones?|colleagues?|team)\b",
    re.IGNORECASE,
)
GENERIC = ["vocabulary", "history", "activity", "trends", "breadth", "peer", "lifecycle"]


@pytest.fixture(scope="module")
def playbook() -> dict[str, Any]:
    return OmegaConf.to_container(load_config().playbook, resolve=True)


def _context(families: list[str | None], state: str | None = None) -> pl.DataFrame:
    """No milestones in the data: milestone_state null, total 0 (scoring.playbook)."""
    n = len(families)
    return pl.DataFrame(
        {
            "top_family": families,
            "milestone_state": [state] * n,
            "milestones_reached": [None] * n,
            "milestones_total": [0] * n,
            "next_milestone": [None] * n,
            "peer_share_next": [None] * n,
            "segment": ["premium"] * n,
            "driver": ["The last “episode played” was 9 days ago."] * n,
        },
        schema_overrides={
            "top_family": pl.String,
            "milestone_state": pl.String,
            "milestones_reached": pl.Int64,
            "next_milestone": pl.String,
            "peer_share_next": pl.Float64,
        },
    )


def test_every_family_of_the_schema_has_a_default_rule(playbook: dict[str, Any]) -> None:
    validate_playbook(playbook)  # vocabulary and history included


def test_generic_families_without_milestones_speak_no_demo_word(playbook: dict[str, Any]) -> None:
    got = next_best_action(
        _context([*GENERIC, None]), playbook, ("customer", "customers")
    ).to_list()
    for family, text in zip([*GENERIC, None], got, strict=True):
        assert not DEMO_WORDS.search(text), (family, text)
        assert "{" not in text and "n/a" not in text, (family, text)
    by_family = dict(zip(GENERIC, got, strict=False))
    for family in ("vocabulary", "history", "activity", "trends"):
        assert "this customer" in by_family[family].lower()
        assert "The last “episode played” was 9 days ago." in by_family[family]  # {driver}
    assert "similar customers" in by_family["vocabulary"]


def test_the_entity_noun_defaults_to_account(playbook: dict[str, Any]) -> None:
    [text] = next_best_action(_context(["peer"]), playbook).to_list()
    assert text.startswith(
        "This account lags its premium peers: share a benchmark of what similar accounts do."
    )


def test_milestone_rules_fire_only_with_milestones(playbook: dict[str, Any]) -> None:
    """With milestone progress (the demo), the milestone variants still apply."""
    ctx = _context(["activity"], state="none").with_columns(
        pl.lit("first dashboard").alias("next_milestone"),
        pl.lit(0.6).alias("peer_share_next"),
        pl.lit(0).cast(pl.Int64).alias("milestones_reached"),
        pl.lit(2).cast(pl.Int64).alias("milestones_total"),
    )
    [text] = next_best_action(ctx, playbook).to_list()
    assert "no milestone is reached yet" in text and "first dashboard" in text


def test_next_step_about_names_what_the_chosen_rule_is_about(playbook: dict[str, Any]) -> None:
    """The milestone variant of activity names {next_milestone}: about the milestone; the plain
    activity, role and friction rules: their family; every milestones rule: the milestone; no
    family (playbook.default): null. The same rule as next_best_action picks."""
    ctx = _context(["activity", "activity", "role", "friction", "milestones", None])
    ctx = ctx.with_columns(
        pl.Series("milestone_state", ["none", "all", None, None, "all", None], dtype=pl.String)
    )
    about = next_step_about(ctx, playbook).to_list()
    assert about == ["milestone", "activity", "role", "friction", "milestone", None]
    steps = next_best_action(ctx, playbook).to_list()
    assert "{next_milestone}" not in steps[0] and "the next milestone" in steps[0]
