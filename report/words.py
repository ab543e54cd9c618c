"""Words from the data: what the pages call one scored entity and how they phrase the risk.

Why: the same pipeline scores a B2B product's accounts, a shop's customers, an app's
subscribers. The noun comes from ``data.entity`` or, left null, from the log itself: several
people acting for one entity (user ids other than the entity ids) make it an "account",
a single-user log (``user_id`` defaults to the account id) a "customer". The risk sentence
follows the configured label (``label.name``). Pure functions, no I/O.
"""

from __future__ import annotations

import re
from typing import Any

import polars as pl

from features.catalogue import count_noun

#: Nouns chosen from the data when ``data.entity`` is null.
WITH_USERS, SINGLE_USER = "account", "customer"

#: label.name -> (the risk for one entity, with ``{entity}``; what the look-alikes do, plural;
#: the account page's heading). Unknown labels read like ``usage_drop``.
LABEL_WORDS: dict[str, tuple[str, str, str]] = {
    "usage_drop": (
        "the {entity}'s product usage drops sharply",
        "lose the habit",
        "Risk of losing the habit",
    ),
    "inactivity": (
        "the {entity} stops using the product (no activity at all)",
        "stop using the product",
        "Risk of going inactive",
    ),
    "churn_event": ("the {entity} cancels", "cancel", "Risk of cancelling"),
}


def plural(noun: str) -> str:
    """Naive English plural: "company" -> "companies", "box" -> "boxes", else + "s"."""
    n = noun.strip()
    low = n.lower()
    if len(low) > 1 and low.endswith("y") and low[-2] not in "aeiou":
        return n[:-1] + "ies"
    if low.endswith(("s", "x", "z", "ch", "sh")):
        return n + "es"
    return n + "s"


def counted(n: float | None, noun: str, many: str | None = None) -> str:
    """``n`` and the ``noun`` agreeing with it: "1 day", "2 days", "1,234 events", "1.5 days"
    (``many`` for an irregular plural, else `plural`); "—" without a number."""
    if n is None or n != n:
        return "—"
    x = float(n)
    text = f"{x:,.0f}" if x.is_integer() else f"{x:,.2f}".rstrip("0").rstrip(".")
    return f"{text} {count_noun(text, noun, many or plural(noun))}"


#: Unicode direction controls (embeddings, overrides, isolates, marks): invisible, yet one in an id
#: can make the text after it read backwards ("acme\u202egpj.exe" shows as "acmeexe.jpg").
BIDI_CONTROLS = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def unbidi(text: str) -> str:
    """``text`` with each direction control replaced by a visible "\ufffd": data shown on a page
    (ids, segment values, event names) cannot reorder the text around it."""
    return BIDI_CONTROLS.sub("\ufffd", text)


#: What the likely-cause line says when scoring named no cause (``top_cause_kind`` ``none``).
NO_SINGLE_CAUSE = (
    "No single cause stands out: the risk comes from general signals such as overall usage, "
    "not from one thing in particular."
)


def has_users(events: pl.DataFrame | pl.LazyFrame) -> bool:
    """True when some event's ``user_id`` differs from its ``account_id`` (several people per
    entity); False for a single-user log, where ingest sets ``user_id`` to the account id."""
    lf = events.lazy() if isinstance(events, pl.DataFrame) else events
    out = lf.select((pl.col("user_id") != pl.col("account_id")).fill_null(False).any()).collect()
    return bool(out.item())


def entity_noun(cfg_entity: str | None, users: bool) -> tuple[str, str]:
    """``(singular, plural)`` noun for one scored entity.

    ``cfg_entity`` is ``data.entity`` (kept as written, e.g. "subscriber", on one line, without
    braces); null or blank -> "account" when the log has ``users`` (see `has_users`), else
    "customer".
    """
    # Braces would read as template placeholders in the sentences it fills: dropped.
    given = " ".join(str(cfg_entity or "").replace("{", " ").replace("}", " ").split())
    noun = given or (WITH_USERS if users else SINGLE_USER)
    return noun, plural(noun)


def ucfirst(text: str) -> str:
    """First letter upper-cased, the rest unchanged ("customer" -> "Customer")."""
    return text[:1].upper() + text[1:]


def report_words(
    meta: dict[str, Any], users: bool, has_milestones: bool, usage_metric: str
) -> dict[str, Any]:
    """Every data-dependent word the report templates use (see ``report.render``).

    ``meta``: ``entity``/``entity_plural`` (default "account"/"accounts"), ``label``
    (``label.name``); ``users``: the data has several people per entity (seats, roles and
    "active users" make sense); ``usage_metric``: the column the weekly usage chart shows.
    """
    entity = str(meta.get("entity") or WITH_USERS)
    entities = str(meta.get("entity_plural") or plural(entity))
    risk, outcome, heading = LABEL_WORDS.get(
        str(meta.get("label") or ""), LABEL_WORDS["usage_drop"]
    )
    usage_title, usage_short = USAGE_TITLES[usage_metric]
    return {
        "labels": account_labels(entity, entities),
        "entity": entity,
        "entities": entities,
        "Entity": ucfirst(entity),
        "Entities": ucfirst(entities),
        "risk": risk.format(entity=entity),
        "outcome": outcome,
        "risk_heading": heading,
        "users": users,
        "has_milestones": has_milestones,
        "usage_title": usage_title,
        "usage_short": usage_short,
    }


def account_labels(entity: str, entities: str) -> dict[str, str]:
    """The fixed words of one account's explanation: its page (``account.html.j2``, as
    ``w.labels``) and ``decay-explain`` (``report.terminal``) read them here, so the two say
    the same thing."""
    return {
        "decay_risk": "Decay risk",
        "rank": "rank",
        "as_of": "as of",
        "since_last_run": "since the last run",
        "first_scored": "first time scored",
        "next_step": "Suggested next step",
        "likely_cause": "Likely cause",
        "journey": "Journey",
        "next_milestone": "Next milestone",
        "peers_did": f"Done recently by its segment peers, never by this {entity}",
        "drivers": "Why this risk?",
        "raises": "raises risk",
        "lowers": "lowers risk",
        "no_drivers": f"No explanation is available for this {entity}.",
        "peers": f"Compared with similar {entities}",
        "indicator": "Indicator",
        "this": f"This {entity}",
        "peer_median": "Peer median",
        "no_peers": "No indicators to compare.",
        "milestones": "Onboarding milestones",
        "no_milestones": f"No milestones tracked for this {entity}.",
    }


def tier_words(tier: str) -> str:
    """The risk tier's badge: "high" -> "High risk"."""
    return f"{ucfirst(tier)} risk"


#: Weekly usage column -> (chart title, table column header).
USAGE_TITLES = {
    "active_users": ("Weekly active users", "Active users, 12 wk"),
    "active_days": ("Active days per week", "Active days, 12 wk"),
    "usage_events": ("Events per week", "Events, 12 wk"),
}


def usage_metric(usage: pl.DataFrame, users: bool) -> str:
    """The weekly usage column to chart: active users when the data has several people per
    entity, else active days (else events) per week when the frame has them."""
    if users:
        return "active_users"
    for col in ("active_days", "usage_events"):
        if col in usage.columns:
            return col
    return "active_users"


def steps_done(reached: int | None, total: int) -> str:
    """ "2 of 3 steps done", "1 of 1 step done" (the noun agrees with the total)."""
    return f"{int(reached or 0)} of {total:,} {'step' if total == 1 else 'steps'} done"


def late_words(late_pct: float, entities: str = "accounts") -> str:
    """How late the next milestone is (``next_milestone_late_pct``, 0..100) in words: "later
    than 70% of the accounts in its segment that got there"; "on pace" below half."""
    if late_pct >= 99.5:
        return f"later than all the {entities} in its segment that got there"
    if late_pct >= 50:
        return f"later than {late_pct:.0f}% of the {entities} in its segment that got there"
    return f"on pace: most {entities} in its segment that got there took longer"
