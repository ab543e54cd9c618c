""" "1 day", never "1 days": a placeholder followed by the template's own "days" word, and a days
value rendered with its unit, agree in number with what the CSM reads."""

from __future__ import annotations

import polars as pl

from scoring.sentences import format_number, template_expr

NEVER = 500.0
UNITS = {
    "days_since_admin_left": "days",
    "days_to_renewal": "days",
    "tenure_days": "days",
    "days_per_active_user_28d": "days per user",
    "x_delay_vs_segment": "days",
}


def _render(
    template: str,
    feature: str,
    values: list[float | None],
    peers: list[float | None],
    extra: dict[str, list[float]] | None = None,
) -> list[str]:
    frame = pl.DataFrame(
        {"value": values, "peer_median": peers, **(extra or {})},
        schema_overrides={"value": pl.Float64, "peer_median": pl.Float64},
    )
    expr = template_expr(
        template,
        feature,
        UNITS,
        dict(frame.schema),
        NEVER,
        {"sentence_never": "No admin has left the account."},
    )
    return frame.select(expr.alias("s"))["s"].to_list()


def test_value_before_days_word_is_singular_at_one() -> None:
    got = _render(
        "The last admin left {value} days ago.",
        "days_since_admin_left",
        [1.0, 2.0, 11.0, 0.6, NEVER, None],
        [1.0] * 6,
    )
    assert got == [
        "The last admin left 1 day ago.",
        "The last admin left 2 days ago.",
        "The last admin left 11 days ago.",
        "The last admin left 1 day ago.",
        "No admin has left the account.",
        "The last admin left n/a days ago.",
    ]


def test_peer_and_reference_placeholders_agree_too() -> None:
    got = _render(
        "Signed up {value} days ago; accounts like this one {peer} days.",
        "tenure_days",
        [1.0, 5.0],
        [1.0, 1.0],
    )
    assert got == [
        "Signed up 1 day ago; accounts like this one 1 day.",
        "Signed up 5 days ago; accounts like this one 1 day.",
    ]
    got = _render(
        "It took {value} days longer ({tenure_days} days in total).",
        "x_delay_vs_segment",
        [-1.0, 1.0],
        [0.0, 0.0],
        {"tenure_days": [1.0, 9.0]},
    )
    assert got == [
        "It took -1 day longer (1 day in total).",
        "It took 1 day longer (9 days in total).",
    ]


def test_non_days_units_before_days_word_and_unit_appended_days() -> None:
    got = _render(
        "Each active user used the product on {value} days of the last 28.",
        "days_per_active_user_28d",
        [1.0, 1.5],
        [2.0, 2.0],
    )
    assert got == [
        "Each active user used the product on 1 day of the last 28.",
        "Each active user used the product on 1.5 days of the last 28.",
    ]
    assert _render("Renewal is in {value}.", "days_to_renewal", [1.0, -1.0, 3.0], [0.0] * 3) == [
        "Renewal is in 1 day.",
        "Renewal is in -1 day.",
        "Renewal is in 3 days.",
    ]
    assert pl.select(format_number(pl.lit(1.0), "days")).item() == "1 day"


def test_string_category_values_read_as_words() -> None:
    frame = pl.DataFrame({"value": [1.0], "peer_median": [1.0], "industry": ["financial_services"]})
    expr = template_expr("Industry: {industry}.", "industry", {}, dict(frame.schema))
    assert frame.select(expr.alias("s"))["s"].to_list() == ["Industry: financial services."]


def test_a_negative_value_reads_as_words_with_sentence_negative() -> None:
    frame = pl.DataFrame(
        {
            "value": [-3.0, 1.0, 0.0, None],
            "peer_median": [0.0] * 4,
            "tenure_days": [7.0, 9.0, 4.0, 5.0],
        },
        schema_overrides={"value": pl.Float64, "peer_median": pl.Float64},
    )
    entry = {"sentence_negative": "It took {value_abs} days less than peers ({tenure_days} days)."}
    expr = template_expr(
        "It took {value} days longer than peers ({tenure_days} days).",
        "x_delay_vs_segment",
        UNITS,
        dict(frame.schema),
        NEVER,
        entry,
    )
    assert frame.select(expr.alias("s"))["s"].to_list() == [
        "It took 3 days less than peers (7 days).",
        "It took 1 day longer than peers (9 days).",
        "It took 0 days longer than peers (4 days).",
        "It took n/a days longer than peers (5 days).",
    ]


def test_the_shipped_milestone_delays_have_negative_wording() -> None:
    from core.config import load_config
    from features.catalogue import expand_patterns
    from scoring.sentences import with_never_texts

    cfg = load_config([])
    cat = with_never_texts(
        expand_patterns(cfg.catalogue, cfg.features), cfg.catalogue, cfg.features
    )
    for name, entry in cat.items():
        if name.endswith(("_delay_vs_segment", "_delay_vs_expected")):
            assert "{value_abs}" in entry["sentence_negative"]
            assert "-" not in entry["sentence_negative"]
