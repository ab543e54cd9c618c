""" "Never happened" wording: a days feature at the ``features.never_days`` sentinel reads as words
in the CSM sentences, never as the sentinel number."""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from scoring.params import ScoreParams
from scoring.sentences import (
    DEFAULT_PEER_NEVER,
    format_number,
    never_features,
    peer_never_template,
    template_expr,
    with_never_texts,
)

NEVER = 500.0  # not the default: proves the sentinel comes from the argument / config
UNITS = {
    "days_since_admin_left": "days",
    "days_since_last_use": "days",
    "days_since_last_export": "days",
    "tenure_days": "days",
    "usage_events_28d": "events",
}
USE = "Nobody has used the product for {value} days; for accounts like this one it is {peer} days."
USE_NEVER = (
    "Nobody has used the product yet; for accounts like this one the last use was {peer} days ago."
)


def _render(
    template: str,
    feature: str,
    values: list[float | None],
    peers: list[float | None],
    never: float | None = NEVER,
    entry: dict[str, str] | None = None,
    extra: dict[str, list[Any]] | None = None,
) -> list[str]:
    frame = pl.DataFrame(
        {"value": values, "peer_median": peers, **(extra or {})},
        schema_overrides={"value": pl.Float64, "peer_median": pl.Float64},
    )
    expr = template_expr(template, feature, UNITS, dict(frame.schema), never, entry)
    return frame.select(expr.alias("s"))["s"].to_list()


def test_value_and_peer_sentinels_pick_the_never_wording() -> None:
    entry = {"sentence_never": USE_NEVER, "peer_never": "most accounts like this one never used it"}
    got = _render(
        USE,
        "days_since_last_use",
        [12.0, NEVER, 12.0, NEVER + 1, None],
        [3.0, 3.0, NEVER, NEVER, 3.0],
        entry=entry,
    )
    assert got == [
        "Nobody has used the product for 12 days; for accounts like this one it is 3 days.",
        "Nobody has used the product yet; for accounts like this one the last use was 3 days ago.",
        "Nobody has used the product for 12 days; most accounts like this one never used it.",
        "Nobody has used the product yet; most accounts like this one never used it.",
        "Nobody has used the product for n/a days; for accounts like this one it is 3 days.",
    ]


def test_default_peer_phrase_and_a_sentence_without_peer() -> None:
    got = _render(
        "The last export was {value} days ago; for accounts like this one it is {peer} days.",
        "days_since_last_export",
        [4.0],
        [NEVER],
    )
    assert got == ["The last export was 4 days ago; most accounts like this one never did."]
    got = _render(
        "The last admin left {value} days ago.",
        "days_since_admin_left",
        [NEVER, 30.0],
        [NEVER, NEVER],
        entry={"sentence_never": "No admin has left the account."},
    )
    assert got == ["No admin has left the account.", "The last admin left 30 days ago."]


def test_without_never_days_or_for_other_units_numbers_stay_numbers() -> None:
    assert _render(
        USE,
        "days_since_last_use",
        [NEVER],
        [NEVER],
        never=None,
        entry={"sentence_never": USE_NEVER},
    ) == ["Nobody has used the product for 500 days; for accounts like this one it is 500 days."]
    # 600 usage events are not a sentinel: only days features can mean "never".
    assert _render(
        "{value} actions; accounts like this one have {peer}.", "usage_events_28d", [600.0], [NEVER]
    ) == ["600 actions; accounts like this one have 500."]


def test_a_sentinel_without_own_clause_reads_never() -> None:
    # No "; ... {peer}" clause and no sentence_never: the number itself becomes "never".
    assert _render(
        "Signed up {value} days ago, peers {peer}.", "tenure_days", [NEVER], [NEVER]
    ) == ["Signed up never days ago, peers never."]
    assert pl.select(format_number(pl.lit(NEVER), "days", "", NEVER)).item() == "never"
    assert pl.select(format_number(pl.lit(NEVER - 1), "days", "", NEVER)).item() == "499 days"
    assert pl.select(format_number(pl.lit(NEVER), "users", "", NEVER)).item() == "500"


def test_other_feature_placeholders_at_the_sentinel_read_never() -> None:
    got = _render(
        "Use stopped {days_since_last_use} days ago; admins left {value} days ago.",
        "days_since_admin_left",
        [7.0],
        [1.0],
        extra={"days_since_last_use": [NEVER]},
    )
    assert got == ["Use stopped never days ago; admins left 7 days ago."]


@pytest.mark.parametrize(
    "template, phrase, want",
    [
        ("A {value}; for peers it is {peer} days.", "most never did", "A {value}; most never did."),
        ("A {value}; peers {peer}; more.", "x", "A {value}; x; more."),
        ("A {value}; peers {peer}", "x", "A {value}; x"),
        ("Peers {peer}; a {value}.", "x", None),
        ("No peer here.", "x", None),
    ],
)
def test_peer_clause_replacement(template: str, phrase: str, want: str | None) -> None:
    assert peer_never_template(template, phrase) == want


@given(
    st.floats(min_value=0, max_value=5000, allow_nan=False),
    st.floats(min_value=0, max_value=5000, allow_nan=False),
)
def test_no_sentence_ever_shows_the_sentinel(value: float, peer: float) -> None:
    """Whatever the value and peer, a sentinel never reaches the text as a number."""
    entry = {"sentence_never": USE_NEVER}
    [text] = _render(USE, "days_since_last_use", [value], [peer], never=1234.0, entry=entry)
    assert "1234" not in text
    assert ("yet" in text) == (value >= 1234.0)
    assert ("never did" in text) == (peer >= 1234.0)


def test_catalogue_texts_expand_from_config(cfg: Any) -> None:
    base = {
        "days_since_admin_left": {"family": "role", "unit": "days", "sentence": "x"},
        "days_since_last_use": {"family": "trends", "unit": "days", "sentence": "y"},
        "usage_events_28d": {"family": "activity", "unit": "events", "sentence": "z"},
    }
    out = with_never_texts(base, cfg.catalogue, cfg.features)
    assert out["days_since_admin_left"]["sentence_never"] == "No admin has left the {entity}."
    assert "peer_never" not in out["days_since_admin_left"]
    assert out["days_since_last_use"]["sentence_never"] == USE_NEVER.replace(
        "accounts", "{entities}"
    )
    assert (
        out["days_since_last_use"]["peer_never"]
        == "most {entities} like this one never used it either"
    )
    assert out["usage_events_28d"] == base["usage_events_28d"]
    assert "sentence_never" not in base["days_since_admin_left"]  # the input is not modified
    assert never_features(out) == ["days_since_admin_left", "days_since_last_use"]


def test_event_sentence_never_names_the_event(cfg: Any) -> None:
    event = str(cfg.features.key_events[0])
    assert event == "dashboard_viewed"
    name = f"days_since_last_{event}"
    out = with_never_texts(
        {name: {"family": "trends", "unit": "days", "sentence": "x"}}, cfg.catalogue, cfg.features
    )
    # The event reads as words in the text; the feature name keeps the raw event.
    assert out[name]["sentence_never"] == (
        "No dashboard viewed has happened yet; for {entities} "
        "like this one the last was {peer} days ago."
    )
    assert out[name]["peer_never"] == "most {entities} like this one never had one"


def test_entity_noun_fills_every_text_of_a_sentence() -> None:
    """{entity}/{entities} in the sentence, its never texts and the default peer phrase."""
    use = USE.replace("accounts", "{entities}")
    entry = {
        "sentence_never": "The {entity} never used the product; {entities} like this one "
        "did {peer} days ago."
    }
    frame = pl.DataFrame({"value": [12.0, NEVER, 12.0], "peer_median": [3.0, 3.0, NEVER]})
    expr = template_expr(
        use,
        "days_since_last_use",
        UNITS,
        dict(frame.schema),
        NEVER,
        entry,
        entity=("customer", "customers"),
    )
    assert frame.select(expr.alias("s"))["s"].to_list() == [
        "Nobody has used the product for 12 days; for customers like this one it is 3 days.",
        "The customer never used the product; customers like this one did 3 days ago.",
        "Nobody has used the product for 12 days; most customers like this one never did.",
    ]
    assert DEFAULT_PEER_NEVER == "most {entities} like this one never did"


def test_score_params_take_never_days_from_config(cfg: Any) -> None:
    assert ScoreParams.from_cfg(cfg).never_days == float(cfg.features.never_days)
    assert ScoreParams().never_days is None
