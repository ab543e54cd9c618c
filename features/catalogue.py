"""Feature catalogue: the human side of every feature (family, unit, description, sentence).

The source is a set of name *patterns* in config (``conf/catalogue/default.yaml``), e.g.
``active_{role}s_{recent}d``. ``render_catalogue`` expands the patterns over the values in
``cfg.features`` (windows, roles, key events, milestones, peer metrics, the vocabulary events)
and keeps the entries of the concrete features of a dataset. The vocabulary (``{vocab}``) is
data-dependent when ``features.vocabulary_events`` is null: render with the features config as
resolved by the build (``features.build``), which holds the concrete list. A feature without an
entry is a configuration error: the explanations shown to CSMs must never fall back to raw
column names.
"""

from __future__ import annotations

import itertools
import re
import string
from collections.abc import Mapping, Sequence
from typing import Any

from core.errors import ConfigValueError
from ingest.profile import unique_slugs

FAMILIES = (
    "activity",
    "trends",
    "breadth",
    "role",
    "milestones",
    "onboarding",
    "friction",
    "lifecycle",
    "peer",
    "vocabulary",
    "history",
)
HIGHER_IS = ("healthier", "riskier")
FIELDS = ("family", "unit", "description", "sentence", "higher_is")
# Placeholders a sentence keeps for rendering time: the row's value and peer median, and the
# entity noun (filled at scoring from data.entity: scoring.sentences.fill_entity).
ROW_PLACEHOLDERS = ("value", "value_abs", "peer", "entity", "entities", "Entity", "Entities")


def _placeholder_values(fcfg: Any) -> tuple[dict[str, list[dict[str, str]]], dict[str, str]]:
    """Multi-valued name placeholders (each value with its bound text fields) and scalars."""
    multi = {
        "window": [{"window": str(int(w))} for w in fcfg.windows_days],
        "role": [{"role": str(r)} for r in fcfg.roles],
        "event": [{"event": str(e)} for e in fcfg.key_events],
        "milestone": [
            {
                "milestone": str(m.name),
                "expected": str(int(m.expected_days)),
                "milestone_description": str(m.description or m.name).strip(),
            }
            for m in fcfg.milestones
        ],
        "metric": [{"metric": str(m)} for m in fcfg.peer_metrics],
        "span": [{"span": str(int(k))} for k in fcfg.momentum_days],
        # {vocab}: the event's slug (in names); {vocab_words}: its own name, for the texts.
        "vocab": [
            {"vocab": slug, "vocab_words": _text_safe(event)}
            for event, slug in unique_slugs(getattr(fcfg, "vocabulary_events", None) or []).items()
        ],
    }
    scalars = {
        "recent": str(int(fcfg.recent_days)),
        "baseline": str(int(fcfg.baseline_days)),
        "weeks": str(int(fcfg.slope_weeks)),
        "onboarding": str(int(fcfg.onboarding_days)),
        "never": str(int(fcfg.never_days)),
        "slope": str(int(fcfg.momentum_slope_days)),
        "below": str(round(100 * float(fcfg.momentum_below_fraction))),
        "max_run": str(int(fcfg.momentum_max_days)),
        "year": str(int(fcfg.last_year_days)),
    }
    return multi, scalars


def _text_safe(value: str) -> str:
    """A data value (an event name) fit for a sentence template: no braces, one line."""
    return " ".join(str(value).replace("{", "(").replace("}", ")").split())


def _fill(text: str, values: Mapping[str, str]) -> str:
    for k, v in values.items():
        text = text.replace("{" + k + "}", v)
    return text


# A literal "1 days" (not "11 days", "0.1 days"); "-1 days" keeps its sign.
_SINGULAR_DAY = re.compile(r"(?<![\d.])1 days\b")
# A feature reference inside a text, with placeholders in its name: "{active_{role}s_{recent}d}".
_NESTED_REF = re.compile(r"\{(?:[^{}]*\{[^{}]*\})+[^{}]*\}")


def as_words(value: str) -> str:
    """A configured identifier as a CSM reads it: "integration_synced" -> "integration synced",
    "usage_events_28d" -> "usage events (28 days)". Feature *names* keep the raw identifier."""
    words = re.sub(r"\b(\d+)d\b", r"(\1 days)", value.replace("_", " ")).strip()
    return _SINGULAR_DAY.sub("1 day", words)


def _fill_text(text: str, values: Mapping[str, str]) -> str:
    """``text`` (description, sentence) with placeholders filled: inside a nested feature
    reference with the raw values (it must name the column), elsewhere as words (`as_words`)."""
    text = _NESTED_REF.sub(lambda m: _fill(m.group(0), values), text)
    text = _fill(text, {k: as_words(v) for k, v in values.items()})
    # "in the last {window} days" with a window of 1: the filled literal "1 days" is singular.
    return _SINGULAR_DAY.sub("1 day", text)


def expand_patterns(catalogue_cfg: Mapping[str, Any], fcfg: Any) -> dict[str, dict[str, str]]:
    """Every concrete feature name the patterns can produce under ``fcfg`` -> its entry.

    ``higher_is: inherit`` (peer percentiles) takes the value of the metric's own entry.
    """
    multi, scalars = _placeholder_values(fcfg)
    out: dict[str, dict[str, str]] = {}
    for pattern, raw in catalogue_cfg.items():
        entry = {k: str(raw[k]) for k in FIELDS if k in raw}
        missing = [k for k in FIELDS if k not in entry]
        if missing:
            raise ConfigValueError(
                f"catalogue entry {pattern!r} lacks {missing}",
                hint="see conf/catalogue/default.yaml for the fields",
            )
        if entry["family"] not in FAMILIES:
            raise ConfigValueError(
                f"catalogue entry {pattern!r}: family {entry['family']!r} "
                f"is not one of {list(FAMILIES)}"
            )
        if entry["higher_is"] not in (*HIGHER_IS, "inherit"):
            raise ConfigValueError(
                f"catalogue entry {pattern!r}: higher_is {entry['higher_is']!r} "
                f"is not one of {list(HIGHER_IS)} or 'inherit'"
            )
        names = [f for _, f, _, _ in string.Formatter().parse(pattern) if f]
        unknown = [n for n in names if n not in multi and n not in scalars]
        if unknown:
            raise ConfigValueError(
                f"catalogue pattern {pattern!r} has unknown placeholders {unknown}",
                hint=f"use {sorted(multi) + sorted(scalars)}",
            )
        axes = [multi[n] for n in names if n in multi]
        for combo in itertools.product(*axes):
            values = dict(scalars)
            for bound in combo:
                values.update(bound)
            name = _fill(pattern, values)
            out[name] = {k: _fill_text(v, values) for k, v in entry.items()}
    for name, entry in out.items():
        if entry["higher_is"] == "inherit":
            metric = name.removesuffix("_peer_pct")
            entry["higher_is"] = out.get(metric, {}).get("higher_is", "healthier")
    return out


def render_catalogue(
    features: Sequence[str], catalogue_cfg: Mapping[str, Any], fcfg: Any
) -> dict[str, dict[str, str]]:
    """Catalogue entries for exactly ``features`` (in that order).

    Raises ConfigValueError naming any feature without an entry, or a sentence that refers to a
    feature the dataset does not have.
    """
    expanded = expand_patterns(catalogue_cfg, fcfg)
    missing = [f for f in features if f not in expanded]
    if missing:
        raise ConfigValueError(
            f"features without a catalogue entry: {missing}",
            hint="add a pattern for them in conf/catalogue/default.yaml",
        )
    out = {f: expanded[f] for f in features}
    have = set(features)
    for f, entry in out.items():
        refs = {r for _, r, _, _ in string.Formatter().parse(entry["sentence"]) if r}
        bad = sorted(refs - have - set(ROW_PLACEHOLDERS))
        if bad:
            raise ConfigValueError(
                f"catalogue sentence of {f!r} refers to {bad}, not in the dataset",
                hint="sentences may only use {value}, {peer} and features of the same family",
            )
    return out


def _fmt(v: Any) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:.0f}" if v.is_integer() else f"{v:.2f}"
    return str(v)


def render_sentence(
    entry: Mapping[str, str],
    row: Mapping[str, Any],
    feature: str,
    peer: Any = None,
    entity: tuple[str, str] = ("account", "accounts"),
) -> str:
    """The CSM sentence of ``feature`` for one dataset ``row`` (a dict of its columns);
    ``entity`` is the (singular, plural) noun for ``{entity}`` / ``{entities}``."""
    one, many = entity
    values = {
        "entity": one,
        "entities": many,
        "Entity": one[:1].upper() + one[1:],
        "Entities": many[:1].upper() + many[1:],
    }
    values.update({k: _fmt(v) for k, v in row.items()})
    values["value"] = _fmt(row.get(feature))
    values["peer"] = _fmt(peer)
    return re.sub(
        r"\{([A-Za-z0-9_]+)\}", lambda m: values.get(m.group(1), m.group(0)), entry["sentence"]
    )


def model_catalogue(
    feature_names: Sequence[str],
    categorical_levels: Mapping[str, Any],
    catalogue_cfg: Mapping[str, Any],
    fcfg: Any,
) -> dict[str, dict[str, str]]:
    """Catalogue entries for a model's input features.

    Why: a model is explained with the words of the features it was trained on; categorical
    inputs (segments, maturity stage) that no pattern covers get a plain "<Name>: <level>."
    sentence, and a feature with no entry at all is a config error, not a silent blank."""
    expanded = expand_patterns(catalogue_cfg, fcfg)
    out: dict[str, dict[str, str]] = {}
    for f in feature_names:
        if f in expanded:
            out[f] = expanded[f]
        elif f in categorical_levels:
            family = "lifecycle" if f == "maturity_stage" else "peer"
            title = f.replace("_", " ").capitalize()
            out[f] = {
                "family": family,
                "unit": "category",
                "higher_is": "riskier",
                "description": f"the account's {f.replace('_', ' ')}",
                "sentence": f"{title}: {{{f}}}.",
            }
        else:
            raise ConfigValueError(
                f"model feature {f!r} has no catalogue entry",
                hint="add a pattern for it in conf/catalogue/default.yaml",
            )
    return out
