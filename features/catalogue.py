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

from core.config import FEATURE_FAMILIES, FeaturesConfig, HigherIs
from core.errors import ConfigValueError
from ingest.profile import unique_slugs

FAMILIES = FEATURE_FAMILIES
HIGHER_IS = tuple(str(h) for h in HigherIs)
FIELDS = ("family", "unit", "description", "sentence", "higher_is")
# Placeholders a sentence keeps for rendering time: the row's value and peer median, and the
# entity noun (filled at scoring from data.entity: scoring.sentences.fill_entity).
ENTITY_PLACEHOLDERS = ("entity", "entities", "Entity", "Entities")
ROW_PLACEHOLDERS = ("value", "value_abs", "peer", *ENTITY_PLACEHOLDERS)


def _placeholder_values(
    fcfg: FeaturesConfig,
) -> tuple[dict[str, list[dict[str, str]]], dict[str, str]]:
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
    """A data value (an event name) fit for a sentence template: no braces (placeholders),
    square brackets or bars (`AGREE` groups), one line."""
    return " ".join(str(value).translate(_TEXT_SAFE).split())


_TEXT_SAFE = str.maketrans("{}[]|", "()()/")


def _fill(text: str, values: Mapping[str, str]) -> str:
    for k, v in values.items():
        text = text.replace("{" + k + "}", v)
    return text


# A literal "1 days" / "1 weeks" (not "11 days", "0.1 days"); "-1 days" keeps its sign.
_SINGULAR_UNIT = re.compile(r"(?<![\d.])1 (day|week)s\b")
# A feature reference inside a text, with placeholders in its name: "{active_{role}s_{recent}d}".
_NESTED_REF = re.compile(r"\{(?:[^{}]*\{[^{}]*\})+[^{}]*\}")
# A window token of a feature name: "_28d" in "usage_events_28d" or "active_users_28d_peer_pct".
_WINDOW = re.compile(r"(?<=_)(\d+)d(?=_|$)")
#: The vocabulary family's feature-name prefix (``ev_<event slug>_...``, features/vocabulary.py).
VOCAB_PREFIX = "ev_"

#: ``[one|many]`` in a catalogue text or playbook step: the words that agree with the number
#: placeholder before it ("{value} [person|people] used the product", "{value} [{role} was|{role}s
#: were] active"): ``one`` when that number reads exactly 1 (or -1), else ``many``. A "days" or
#: "weeks" word right after a number placeholder agrees by itself ("{value} days ago").
AGREE = re.compile(r"\[([^\[\]|]*)\|([^\[\]|]*)\]")
# A placeholder in a text: "{value}", "{window}".
_PLACEHOLDER = re.compile(r"\{([A-Za-z0-9_]+)\}")


def humanise(name: str, capital: bool = False) -> str:
    """An identifier as a CSM reads it: the ONE place feature names, event names, segment names
    and values, family names and milestone names become words.

    Underscores are spaces (runs of spaces and line breaks collapse), a window token reads as its
    days ("usage_events_28d" -> "usage events (28 days)", "x_1d" -> "x (1 day)"), the vocabulary
    family's ``ev_`` prefix is dropped ("ev_report_viewed_7d" -> "report viewed (7 days)"). The
    data's own words are kept as written ("API_call" -> "API call", no title case); ``capital``
    upper-cases the first letter only, for a label or the start of a sentence. Feature *names*
    (columns, references inside a template) keep the raw identifier: this is for display."""
    raw = str(name)
    if raw.startswith(VOCAB_PREFIX) and len(raw) > len(VOCAB_PREFIX):
        raw = raw[len(VOCAB_PREFIX) :]
    raw = _WINDOW.sub(lambda m: f"({m.group(1)} {count_noun(m.group(1), 'day', 'days')})", raw)
    text = " ".join(raw.replace("_", " ").split())
    return text[:1].upper() + text[1:] if capital else text


#: Former name of `humanise` (tests/features/test_catalogue_wording.py imports it).


def _number(text: str) -> float | None:
    try:
        return float(text.strip().replace(",", ""))
    except ValueError:
        return None


def count_noun(number_text: str, one: str, many: str) -> str:
    """``one`` when the rendered number reads exactly 1 (or -1: "1", "-1", "1.0"), else ``many``
    ("0 days", "1.5 days", "n/a days")."""
    x = _number(number_text)
    return one if x is not None and abs(x) == 1 else many


def agree_scalars(text: str, values: Mapping[str, str]) -> str:
    """``text`` with each `AGREE` group resolved whose nearest number placeholder before it is one
    of ``values`` (a catalogue scalar: ``{window}``, ``{weeks}``, ...); placeholders that are not
    numbers (``{role}``, ``{entity}``) are skipped, and a group after a row placeholder
    (``{value}``, ``{peer}``, another feature) is left for rendering time."""
    out, pos = [], 0
    for m in AGREE.finditer(text):
        for name in reversed(_PLACEHOLDER.findall(text, 0, m.start())):
            if name in ENTITY_PLACEHOLDERS or (name in values and _number(values[name]) is None):
                continue  # words, not a number: look further back
            if name in values:
                out.append(text[pos : m.start()] + count_noun(values[name], *m.groups()))
                pos = m.end()
            break
    return "".join(out) + text[pos:]


def _fill_text(text: str, values: Mapping[str, str]) -> str:
    """``text`` (description, sentence) with placeholders filled: inside a nested feature
    reference with the raw values (it must name the column), elsewhere as words (`humanise`);
    `AGREE` groups after a filled number agree with it, and "1 days" / "1 weeks" read singular
    ("in the last {window} days" with a window of 1)."""
    text = _NESTED_REF.sub(lambda m: _fill(m.group(0), values), text)
    text = agree_scalars(text, values)
    text = _fill(text, {k: _text_safe(humanise(v)) for k, v in values.items()})
    return _SINGULAR_UNIT.sub(r"1 \1", text)


def expand_patterns(
    catalogue_cfg: Mapping[str, Any], fcfg: FeaturesConfig
) -> dict[str, dict[str, str]]:
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
    features: Sequence[str], catalogue_cfg: Mapping[str, Any], fcfg: FeaturesConfig
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


def model_catalogue(
    feature_names: Sequence[str],
    categorical_levels: Mapping[str, Any],
    catalogue_cfg: Mapping[str, Any],
    fcfg: FeaturesConfig,
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
            out[f] = {
                "family": family,
                "unit": "category",
                "higher_is": "riskier",
                "description": f"the account's {humanise(f)}",
                "sentence": f"{humanise(f, capital=True)}: {{{f}}}.",
            }
        else:
            raise ConfigValueError(
                f"model feature {f!r} has no catalogue entry",
                hint="add a pattern for it in conf/catalogue/default.yaml",
            )
    return out
