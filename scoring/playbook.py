"""Next best action: the CSM playbook (``conf/playbook/default.yaml``) applied to an account.

Rules map the likely-cause family and milestone progress to a suggested step with placeholders;
every family has a default, so every scored account gets a step. The steps speak the data's
words: ``{entity}`` / ``{entities}`` is the noun for one scored entity (``data.entity``:
"account", "customer", ...), ``{driver}`` the driver's own sentence.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import polars as pl

from core.errors import ConfigValueError
from features.catalogue import FAMILIES
from scoring.nudges import EVIDENCE_PLACEHOLDERS
from scoring.peers import peer_column
from scoring.sentences import (
    DEFAULT_ENTITY,
    PLACEHOLDER,
    fill_entity,
    format_number,
    template_expr,
)

MILESTONE_STATES = ("none", "partly", "all")


# -- next best action ------------------------------------------------------------------------
def validate_playbook(playbook: Mapping[str, Any]) -> None:
    """Every family needs a default rule (no ``when``) or the playbook a global ``default``;
    conditions and families must be known. Raises ConfigValueError naming the problem."""
    rules = playbook.get("rules") or {}
    unknown = sorted(set(rules) - set(FAMILIES) - {"other"})
    if unknown:
        raise ConfigValueError(
            f"playbook.rules has unknown families {unknown}", hint=f"use {list(FAMILIES)}"
        )
    if not playbook.get("default"):
        raise ConfigValueError("playbook.default (the step when no rule applies) is missing")
    evidence = playbook.get("evidence")
    if evidence is not None:
        bad_refs = sorted(set(PLACEHOLDER.findall(str(evidence))) - set(EVIDENCE_PLACEHOLDERS))
        if bad_refs:
            raise ConfigValueError(
                f"playbook.evidence has unknown placeholders {bad_refs}",
                hint=f"use {list(EVIDENCE_PLACEHOLDERS)}",
            )
    for fam in FAMILIES:
        fam_rules = list(rules.get(fam) or [])
        for rule in fam_rules:
            if "action" not in rule:
                raise ConfigValueError(f"playbook rule for {fam!r} has no action: {dict(rule)}")
            bad = sorted(set(rule.get("when") or {}) - {"milestones"})
            if bad:
                raise ConfigValueError(
                    f"playbook rule for {fam!r} has unknown conditions {bad}",
                    hint="supported: milestones (none | partly | all)",
                )
            state = (rule.get("when") or {}).get("milestones")
            if state is not None and state not in MILESTONE_STATES:
                raise ConfigValueError(
                    f"playbook rule for {fam!r}: milestones={state!r} is not "
                    f"one of {list(MILESTONE_STATES)}"
                )
        if not any(not r.get("when") for r in fam_rules):
            raise ConfigValueError(
                f"playbook has no default rule for family {fam!r}",
                hint="add a rule without `when` under playbook.rules." + fam,
            )


def milestone_progress(
    features: pl.DataFrame, milestones: Sequence[Mapping[str, Any]], peer_segment: str | None
) -> pl.DataFrame:
    """Per row: ``milestones_reached``, ``milestones_total``, ``milestone_state`` (none | partly |
    all | null without milestone features), ``next_milestone`` (description of the first
    configured milestone not reached) and ``peer_share_next`` (share of ALL same-segment accounts
    at the cutoff that reached it). Reads the ``<milestone>_reached`` 0/1 feature columns."""
    ms = [m for m in milestones if f"{m['name']}_reached" in features.columns]
    peer = peer_column(features, peer_segment)
    if not ms:
        return (
            features.select("account_id")
            .with_columns(
                pl.lit(None, pl.Int64).alias("milestones_reached"),
                pl.lit(0, pl.Int64).alias("milestones_total"),
                pl.lit(None, pl.String).alias("milestone_state"),
                pl.lit(None, pl.String).alias("next_milestone"),
                pl.lit(None, pl.Float64).alias("peer_share_next"),
            )
            .drop("account_id")
        )
    reached = [pl.col(f"{m['name']}_reached").fill_null(0) >= 1 for m in ms]
    n_reached = pl.sum_horizontal([r.cast(pl.Int64) for r in reached])
    total = len(ms)
    desc = [str(m.get("description") or m["name"]) for m in ms]
    next_ms = pl.coalesce([pl.when(~r).then(pl.lit(d)) for r, d in zip(reached, desc, strict=True)])
    share = [
        (pl.col(f"{m['name']}_reached").fill_null(0) >= 1).cast(pl.Float64).mean().over(peer)
        for m in ms
    ]
    peer_share = pl.coalesce([pl.when(~r).then(s) for r, s in zip(reached, share, strict=True)])
    state = (
        pl.when(n_reached == 0)
        .then(pl.lit("none"))
        .when(n_reached == total)
        .then(pl.lit("all"))
        .otherwise(pl.lit("partly"))
    )
    return features.select(
        n_reached.alias("milestones_reached"),
        pl.lit(total, pl.Int64).alias("milestones_total"),
        state.alias("milestone_state"),
        next_ms.alias("next_milestone"),
        peer_share.alias("peer_share_next"),
    )


def _progress_words(reached: pl.Expr, total: pl.Expr) -> pl.Expr:
    frac = reached.cast(pl.Float64) / total.cast(pl.Float64)
    return (
        pl.when(frac >= 2 / 3)
        .then(pl.lit("almost at"))
        .when(frac >= 0.5)
        .then(pl.lit("halfway to"))
        .when(frac > 0)
        .then(pl.lit("on your way to"))
        .otherwise(pl.lit("at the start of the path to"))
    )


def next_best_action(
    context: pl.DataFrame, playbook: Mapping[str, Any], entity: tuple[str, str] = DEFAULT_ENTITY
) -> pl.Series:
    """The suggested step per row of ``context`` (columns: top_family, milestone_state,
    milestones_reached, milestones_total, next_milestone, peer_share_next, segment, driver).

    Rules under ``playbook.rules.<top_family>`` are tried in order; the first whose ``when``
    matches wins; the global ``playbook.default`` covers families without rules. Placeholders:
    {next_milestone} {progress} {milestones_reached} {milestones_total} {peer_share_next}
    {segment} {driver}, and {entity} {entities} {Entity} {Entities}: the ``entity`` noun
    ``(singular, plural)``.
    """
    validate_playbook(playbook)
    ctx = context.with_columns(
        _progress_words(pl.col("milestones_reached"), pl.col("milestones_total")).alias("progress"),
        format_number(pl.col("peer_share_next"), "share").alias("peer_share_next"),
        pl.col("milestones_reached").cast(pl.String).fill_null("n/a"),
        pl.col("milestones_total").cast(pl.String).fill_null("n/a"),
        pl.col("next_milestone").fill_null("the next milestone"),
        pl.col("segment").fill_null("your segment"),
        pl.col("driver").fill_null("no single driver stands out"),
    )
    schema: dict[str, pl.DataType] = {
        c: pl.String()
        for c in (
            "next_milestone",
            "progress",
            "milestones_reached",
            "milestones_total",
            "peer_share_next",
            "segment",
            "driver",
        )
    }

    def step(action: str) -> pl.Expr:
        # {driver} is a sentence already: inserted as written; the other values read as words.
        return template_expr(fill_entity(action, entity), "", {}, schema, verbatim=("driver",))

    expr = _first_rule(
        playbook, lambda rule: step(str(rule["action"])), step(str(playbook["default"]))
    )
    return ctx.select(expr.alias("next_best_action")).to_series()


def _first_rule(
    playbook: Mapping[str, Any], value: Callable[[Mapping[str, Any]], pl.Expr], default: pl.Expr
) -> pl.Expr:
    """``value(rule)`` of the first rule under ``playbook.rules.<top_family>`` whose ``when``
    matches each row (columns top_family, milestone_state), else ``default``."""
    chain: Any = None  # pl.when(...).then(...) chained: polars' When/Then types
    for fam, rules in (playbook.get("rules") or {}).items():
        for rule in rules or []:
            cond = pl.col("top_family") == fam
            state = (rule.get("when") or {}).get("milestones")
            if state is not None:
                cond = cond & (pl.col("milestone_state") == state)
            out = value(rule)
            chain = pl.when(cond).then(out) if chain is None else chain.when(cond).then(out)
    return default if chain is None else chain.otherwise(default)


def next_step_about(context: pl.DataFrame, playbook: Mapping[str, Any]) -> pl.Series:
    """What the step ``next_best_action`` picks for each row is about, so the adoption map's
    evidence can quote a finding on the same thing (``scoring.nudges.playbook_evidence``):
    ``milestone`` when the rule names the next milestone (``{next_milestone}``, or any rule of
    the ``milestones`` family), else the rule's family; null for ``playbook.default``."""

    def about(rule: Mapping[str, Any]) -> pl.Expr:
        names_milestone = "{next_milestone}" in str(rule["action"])
        return (
            pl.when(pl.lit(names_milestone) | (pl.col("top_family") == "milestones"))
            .then(pl.lit("milestone"))
            .otherwise(pl.col("top_family"))
        )

    expr = _first_rule(playbook, about, pl.lit(None, pl.String))
    return context.select(expr.alias("next_step_about")).to_series()
