"""Plain-language sentences from the feature catalogue: numbers as a CSM reads them.

Templates hold ``{value}`` (this account), ``{peer}`` (segment peer median at the same cutoff) and
``{<feature>}`` (another feature of the row), and the entity noun ``{entity}`` / ``{entities}``
(``{Entity}`` / ``{Entities}`` capitalised: "account(s)", "customer(s)"... from ``data.entity``,
see ``report.words.entity_noun``); units decide the wording ("12 days", "45%", "96th"), a
"days" or "weeks" word after a placeholder agrees with the number, so do ``[one|many]`` groups
(``features.catalogue.AGREE``: "{value} [person|people] used the product"), String values read as
words (``features.catalogue.humanise``), and the "never happened" sentinel
(``features.never_days``) reads as words, never as 9999.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Any

import polars as pl

from features.catalogue import AGREE, humanise

PLACEHOLDER = re.compile(r"\{([A-Za-z0-9_]+)\}")


# A "days" / "weeks" word right after a placeholder ("{value} days ago"): `_render` consumes it
# and writes the singular or plural to agree with the rendered number (see `unit_word`).
_UNIT_AFTER = re.compile(r"\s*(day|week)s\b")


# What the peer clause of a sentence says when the peer median is the "never happened" sentinel
# (catalogue entries may override it with ``peer_never``).
DEFAULT_PEER_NEVER = "most {entities} like this one never did"


# The entity noun (singular, plural) when none is given: the demo's B2B word.
DEFAULT_ENTITY = ("account", "accounts")
# Text placeholders for the entity noun, filled before any column is read (`fill_entity`).
ENTITY_PLACEHOLDERS = ("entity", "entities", "Entity", "Entities")


# Optional catalogue texts used instead of ``sentence`` / the peer clause at the sentinel.
NEVER_KEYS = ("sentence_never", "peer_never", "sentence_negative")


def fill_entity(text: str, entity: tuple[str, str] = DEFAULT_ENTITY) -> str:
    """``text`` with ``{entity}`` / ``{entities}`` (and capitalised ``{Entity}`` / ``{Entities}``)
    replaced by the ``(singular, plural)`` noun; other placeholders are left as written."""
    one, many = entity
    for key, word in (
        ("entity", one),
        ("entities", many),
        ("Entity", one[:1].upper() + one[1:]),
        ("Entities", many[:1].upper() + many[1:]),
    ):
        text = text.replace("{" + key + "}", word)
    return text


# -- human formatting ------------------------------------------------------------------------
def _int_str(x: pl.Expr) -> pl.Expr:
    return x.round(0).cast(pl.Int64).cast(pl.String)


def reads_one(number_text: pl.Expr) -> pl.Expr:
    """True where the *formatted* number reads exactly 1 or -1 ("1", "-1", "1 day"; not "1.5",
    "11", "100%" or "never"): what the CSM reads decides the agreement, not the raw value."""
    return number_text.str.contains(r"^-?1(?:\s|$)").fill_null(False)


def agree(number_text: pl.Expr, one: str, many: str) -> pl.Expr:
    """``one`` where the rendered number reads 1 (`reads_one`), else ``many``."""
    return pl.when(reads_one(number_text)).then(pl.lit(one)).otherwise(pl.lit(many))


def unit_word(number_text: pl.Expr, unit: str = "day") -> pl.Expr:
    """ " day" / " days" (or another ``unit``: " week" / " weeks") agreeing with the rendered
    number; used for every placeholder followed by "days" or "weeks", whatever its unit."""
    return agree(number_text, f" {unit}", f" {unit}s")


def days_word(number_text: pl.Expr) -> pl.Expr:
    """ " day" when the rendered number is exactly 1 (or -1), else " days" (`unit_word`)."""
    return unit_word(number_text, "day")


def humanised(values: pl.Series) -> pl.Series:
    """`features.catalogue.humanise` of every value of a String column, computed once per
    distinct value (category levels, event and milestone names are few); nulls stay null."""
    distinct = values.drop_nulls().unique().to_list()
    return values.replace_strict(
        {v: humanise(v) for v in distinct}, default=None, return_dtype=pl.String
    )


def format_number(
    x: pl.Expr, unit: str, follows: str = "", never_days: float | None = None
) -> pl.Expr:
    """A number as a CSM reads it; ``follows`` is the template text right after the placeholder.

    days -> "12 days", "1 day" (just "12" when the template already says "days": `_render` then
    writes the agreeing "day"/"days" word itself); share (or "share (0..1)") -> "45%";
    ratio -> "45%" (or "0.45" before "times"); percentile (0..1) -> "45th"; anything else:
    integers without decimals, other numbers with one decimal. Null -> "n/a". With ``never_days``
    (the features' "never happened" sentinel), a days value at or above it reads "never" (the
    catalogue's ``sentence_never`` / ``peer_never`` keep the sentence grammatical around it).
    """
    unit = unit.strip().lower()
    nxt = follows.lstrip().lower()
    plain = pl.when(x == x.round(0)).then(_int_str(x)).otherwise(x.round(1).cast(pl.String))
    if unit == "days":
        text = (
            _int_str(x)
            if nxt.startswith("day")
            else pl.concat_str([_int_str(x), days_word(_int_str(x))])
        )
    elif unit in ("share", "share (0..1)") or (unit == "ratio" and not nxt.startswith("times")):
        text = pl.concat_str([_int_str(x * 100), pl.lit("%")])
    elif unit == "ratio":
        text = x.round(2).cast(pl.String)
    elif unit.startswith("percentile"):
        n = (x * 100).round(0).cast(pl.Int64)
        suffix = (
            pl.when((n % 100).is_between(11, 13))
            .then(pl.lit("th"))
            .when(n % 10 == 1)
            .then(pl.lit("st"))
            .when(n % 10 == 2)
            .then(pl.lit("nd"))
            .when(n % 10 == 3)
            .then(pl.lit("rd"))
            .otherwise(pl.lit("th"))
        )
        text = pl.concat_str([n.cast(pl.String), suffix])
    else:
        text = plain
    if unit == "days" and never_days is not None:
        text = pl.when(x >= never_days).then(pl.lit("never")).otherwise(text)
    return pl.when(x.is_null() | x.is_nan()).then(pl.lit("n/a")).otherwise(text)


def is_never(x: pl.Expr, unit: str, never_days: float | None) -> pl.Expr:
    """True where ``x`` is the "never happened" sentinel of a days feature (False elsewhere,
    null-safe): ``features.never_days`` fills "days since X" when X never happened."""
    if never_days is None or unit.strip().lower() != "days":
        return pl.lit(False)
    return (x >= never_days).fill_null(False)


def peer_never_template(template: str, phrase: str) -> str | None:
    """``template`` with the clause holding ``{peer}`` replaced by ``phrase``.

    The peer clause runs from the ``;`` before ``{peer}`` to the next ``.`` or ``;`` (catalogue
    sentences read "<this account>; <accounts like this one ... {peer} ...>."). None when
    ``{peer}`` is not in a clause of its own (the caller then renders ``{peer}`` as "never")."""
    at = template.find("{peer}")
    start = template.rfind(";", 0, at)
    if at < 0 or start < 0:
        return None
    ends = [i for i in (template.find(".", at), template.find(";", at)) if i >= 0]
    end = min(ends) if ends else len(template)
    return f"{template[: start + 1]} {phrase}{template[end:]}"


def template_expr(
    template: str,
    feature: str,
    units: Mapping[str, str],
    schema: Mapping[str, pl.DataType],
    never_days: float | None = None,
    entry: Mapping[str, Any] | None = None,
    entity: tuple[str, str] = DEFAULT_ENTITY,
    verbatim: Collection[str] = (),
) -> pl.Expr:
    """Polars expression rendering ``template`` on each row of an explanation frame.

    ``{value}`` and ``{peer}`` read columns ``value`` / ``peer_median`` with ``feature``'s unit;
    ``{<name>}`` reads column ``<name>`` (another feature of the row) with its own unit; String
    columns are inserted as words (`humanised`: "financial_services" -> "financial services"),
    except the ``verbatim`` ones (text already: a driver sentence); unknown placeholders stay as
    written. A "days" or "weeks" word right after a placeholder agrees with the rendered number
    ("1 day ago", "2 days ago"), and so does each ``[one|many]`` group
    (``features.catalogue.AGREE``) with the last placeholder before it
    ("{value} [person|people] used the product": "1 person used", "3 people used").

    ``never_days`` (``features.never_days``) marks days values meaning "never happened". For a
    days feature, rows whose value is the sentinel use ``entry["sentence_never"]`` when the
    catalogue entry has one; rows whose peer median is the sentinel get the ``{peer}`` clause
    replaced by ``entry["peer_never"]`` (default `DEFAULT_PEER_NEVER`). Any other sentinel left
    in the text reads "never". ``entity`` (singular, plural) fills the entity placeholders of
    every one of these texts (`fill_entity`). ``entry["sentence_negative"]``, when present, is used
    for negative values, with ``{value_abs}`` for the value's size ("3 days earlier").
    """
    entry = entry or {}
    if entry.get("sentence_negative"):  # a signed value reads as words on either side of 0
        rest = {k: v for k, v in entry.items() if k != "sentence_negative"}
        neg = str(entry["sentence_negative"])
        return (
            pl.when(pl.col("value") < 0)
            .then(
                template_expr(
                    neg,
                    feature,
                    units,
                    schema,
                    never_days,
                    {**rest, "sentence_never": ""},
                    entity,
                    verbatim,
                )
            )
            .otherwise(
                template_expr(template, feature, units, schema, never_days, rest, entity, verbatim)
            )
        )
    template = fill_entity(template, entity)
    unit = units.get(feature, "").strip().lower()
    if never_days is None or unit != "days":
        return _render(template, feature, units, schema, never_days, verbatim)
    phrase = fill_entity(str(entry.get("peer_never") or DEFAULT_PEER_NEVER), entity)

    def with_peer(tpl: str) -> pl.Expr:
        alt = peer_never_template(tpl, phrase) if "{peer}" in tpl else None
        plain = _render(tpl, feature, units, schema, never_days, verbatim)
        if alt is None:
            return plain
        return (
            pl.when(is_never(pl.col("peer_median"), unit, never_days))
            .then(_render(alt, feature, units, schema, never_days, verbatim))
            .otherwise(plain)
        )

    expr = with_peer(template)
    if entry.get("sentence_never"):
        expr = (
            pl.when(is_never(pl.col("value"), unit, never_days))
            .then(with_peer(fill_entity(str(entry["sentence_never"]), entity)))
            .otherwise(expr)
        )
    return expr


def _render(
    template: str,
    feature: str,
    units: Mapping[str, str],
    schema: Mapping[str, pl.DataType],
    never_days: float | None,
    verbatim: Collection[str] = (),
) -> pl.Expr:
    """One template as a concatenation of literal text and formatted columns."""
    parts: list[pl.Expr] = []
    pos = 0
    unit = units.get(feature, "")
    # "{value} times its earlier level": the account's ratio and its peers' read as multipliers.
    times = "{value} times" in template
    number: pl.Expr | None = None  # the last placeholder's text: [one|many] agree with it
    for m in PLACEHOLDER.finditer(template):
        if m.start() < pos:  # inside a "days" word consumed below (cannot hold a placeholder)
            continue
        parts.extend(_literal(template[pos : m.start()], number))
        name, follows = m.group(1), template[m.end() :]
        text: pl.Expr | None = None
        if name == "value":
            text = format_number(pl.col("value"), unit, follows, never_days)
        elif name == "value_abs":  # for sentence_negative: "3 days earlier", not "-3 days later"
            text = format_number(pl.col("value").abs(), unit, follows, never_days)
        elif name == "peer":
            peer_unit = "share" if unit == "flag" else unit
            text = format_number(
                pl.col("peer_median"), peer_unit, " times" if times else follows, never_days
            )
        elif name in schema and schema[name] == pl.String:
            # Category values ("financial_services") read as words, like the catalogue's texts.
            col = pl.col(name)
            if name not in verbatim:
                col = col.map_batches(humanised, return_dtype=pl.String)
            parts.append(col.fill_null("n/a"))
            number = col  # a text value reading "1" ({milestones_reached}) agrees too
        elif name in schema:
            text = format_number(
                pl.col(name).cast(pl.Float64), units.get(name, ""), follows, never_days
            )
        else:
            parts.append(pl.lit(m.group(0)))
        pos = m.end()
        if text is not None:
            parts.append(text)
            number = text
            # "{value} days ago" with a value of 1 reads "1 day ago": the template's own "days"
            # (or "weeks") word is replaced by one that agrees with the rendered number.
            word = _UNIT_AFTER.match(template, pos)
            if word is not None:
                parts.append(unit_word(text, word.group(1)))
                pos = word.end()
    parts.extend(_literal(template[pos:], number))
    return pl.concat_str(parts)


def _literal(text: str, number: pl.Expr | None) -> list[pl.Expr]:
    """Template text between placeholders, each ``[one|many]`` group agreeing with ``number``
    (the plural without a number before it)."""
    out: list[pl.Expr] = []
    pos = 0
    for m in AGREE.finditer(text):
        out.append(pl.lit(text[pos : m.start()]))
        one, many = m.groups()
        out.append(pl.lit(many) if number is None else agree(number, one, many))
        pos = m.end()
    out.append(pl.lit(text[pos:]))
    return out


def with_never_texts(
    catalogue: Mapping[str, Mapping[str, str]], catalogue_cfg: Mapping[str, Any], fcfg: Any
) -> dict[str, dict[str, str]]:
    """``catalogue`` plus the optional `NEVER_KEYS` texts of ``catalogue_cfg`` (the patterns of
    conf/catalogue), expanded for the same concrete features.

    `features.catalogue.expand_patterns` keeps only the required fields, so each optional key is
    expanded by passing it as the ``sentence`` of a copy of the patterns (same placeholders)."""
    from features.catalogue import expand_patterns

    out = {f: dict(e) for f, e in catalogue.items()}
    for key in NEVER_KEYS:
        patterns = {
            p: {**dict(raw), "sentence": raw[key]}
            for p, raw in catalogue_cfg.items()
            if raw.get(key)
        }
        if not patterns:
            continue
        for f, e in expand_patterns(patterns, fcfg).items():
            if f in out:
                out[f][key] = e["sentence"]
    return out


def never_features(catalogue: Mapping[str, Mapping[str, str]]) -> list[str]:
    """Features whose value can be the ``features.never_days`` sentinel (unit ``days``), sorted:
    the report shows "never" for them."""
    return sorted(
        f for f, e in catalogue.items() if str(e.get("unit", "")).strip().lower() == "days"
    )
