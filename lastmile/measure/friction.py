"""The friction report: where a rule does not stick, with a redesign hint drawn from the figures.

Rules with low compliance and fields that stay empty come first; each item says its figure and
one plain-language hint in the rule pack's language. Measurement is a design instrument: the
hints change the context (the moment, the prompt, a default, fewer fields), never the people.
"""

from __future__ import annotations

from typing import Any, Protocol

from lastmile.rules import RuleSet

from .language import duration, label, percent, rule_language

# Evidence before advice: a hint needs this many closed occasions (or applied defaults); open
# occasions alone, however many, say nothing yet.
MIN_CLOSED = 5
LOW_COMPLIANCE = 0.8  # below this a rule does not stick
LONG_WAIT_S = 4 * 3600  # a median time to comply this long: the moment is wrong
AFTER_PROMPT_SHARE = 0.5  # this share of the met ones needed the prompt
EMPTY_SHARE = 0.5  # a field empty in at least this share of occasions
OVERRIDE_RATE = 0.3  # a default people change this often is a bad default
PLACEHOLDER_SHARE = 0.2  # a field filled with a placeholder in this share of occasions
LONG_TEXT = frozenset({"textarea"})  # free text: no value to default to
CHOICE_TYPES = frozenset({"picklist", "multipicklist", "boolean", "combobox"})


class FieldFacts(Protocol):
    """What the friction report may know about a field beyond the figures."""

    def type_of(self, object_name: str, field: str) -> str | None:
        """The CRM's type of the field (Salesforce's names: textarea, picklist...), if known."""

    def most_common(self, object_name: str, field: str) -> tuple[str, float] | None:
        """The value most records hold in the field, and the share of those with a value."""


_TEXT = {
    "en": {
        "compliance": "compliance {pct} ({met} of {closed} closed occasions)",
        "wait": ", median time to comply {wait}",
        "after_prompt": "{n} of {met} met only after the prompt ({pct})",
        "empty": "{field} empty in {n} of {total} occasions ({pct})",
        "override": "default for {field} changed by a person in {n} of {total} ({pct})",
        "move": "Few comply and those who do take long: move the moment to where the "
        "information is at hand.",
        "reword": "Low compliance: reword the prompt or ask for fewer fields.",
        "prompt_works": "The prompt works; consider a default so nobody needs asking.",
        "make_default": "Mostly left empty: make it a default or drop it.",
        "default_to": "Mostly left empty: default to {value} ({pct} of records that have a "
        "value choose it).",
        "ask_later": "Mostly left empty, and free text has no default: ask for it later, or drop "
        "it.",
        "placeholder": "{field} filled with a placeholder in {n} of {total} occasions ({pct})",
        "not_known": "People type something to get past the prompt: the answer is not known at "
        "that moment. Ask for it later, or drop it.",
        "bad_default": "A bad default: change or drop it.",
    },
    "nl": {
        "compliance": "naleving {pct} ({met} van {closed} afgesloten gelegenheden)",
        "wait": ", mediane tijd tot invullen {wait}",
        "after_prompt": "{n} van {met} pas na de prompt ingevuld ({pct})",
        "empty": "{field} leeg bij {n} van {total} gelegenheden ({pct})",
        "override": "standaardwaarde van {field} door iemand gewijzigd in {n} van {total} ({pct})",
        "move": "Weinigen voldoen en wie het doet, doet er lang over: verplaats het moment naar "
        "waar de informatie voorhanden is.",
        "reword": "Lage naleving: herformuleer de prompt of vraag om minder velden.",
        "prompt_works": "De prompt werkt; overweeg een standaardwaarde, dan hoeft niemand "
        "gevraagd te worden.",
        "make_default": "Blijft meestal leeg: maak er een standaardwaarde van of laat het vallen.",
        "default_to": "Blijft meestal leeg: maak {value} de standaardwaarde ({pct} van de records "
        "met een waarde kiest die).",
        "ask_later": "Blijft meestal leeg, en vrije tekst heeft geen standaardwaarde: vraag er "
        "later om of laat het vallen.",
        "placeholder": "{field} met een opvulwaarde ingevuld bij {n} van {total} gelegenheden "
        "({pct})",
        "not_known": "Men typt iets om langs de prompt te komen: het antwoord is op dat moment "
        "niet bekend. Vraag er later om of laat het vallen.",
        "bad_default": "Een slechte standaardwaarde: pas hem aan of laat hem vallen.",
    },
}


def friction(
    report: dict[str, Any], ruleset: RuleSet, facts: FieldFacts | None = None
) -> list[dict[str, Any]]:
    """Ranked friction items of an `indicators` report: {"kind": "rule"|"field", "rule",
    "field" (field items), "figure", "hint", "score"}; the highest score first. With `facts`
    a field's hint fits its type (no default for free text; a choice names its usual value)."""
    items: list[dict[str, Any]] = []
    for row in report.get("rules", []):
        items += _rule_items(row, ruleset, facts)
    for row in report.get("defaults", []):
        items += _default_items(row, ruleset)
    order = {item.id: n for n, item in enumerate(ruleset.rules)}
    items.sort(key=lambda i: (-i["score"], order.get(i["rule"], len(order)), i.get("field", "")))
    return items


def _rule_items(
    row: dict[str, Any], ruleset: RuleSet, facts: FieldFacts | None
) -> list[dict[str, Any]]:
    rule = row["rule"]
    lang = rule_language(ruleset, rule)
    text = _TEXT[lang]
    items = []
    met = row["met_first_time"] + row["met_after_prompt"]
    closed = met + row["missed"]
    compliance = row["compliance"]
    median = (row["time_to_comply_s"] or {}).get("median")
    if compliance is not None and closed >= MIN_CLOSED and compliance < LOW_COMPLIANCE:
        figure = text["compliance"].format(pct=percent(compliance), met=met, closed=closed)
        long_wait = median is not None and median >= LONG_WAIT_S
        if median is not None:
            figure += text["wait"].format(wait=duration(median, lang))
        hint = text["move"] if long_wait else text["reword"]
        items.append(_item("rule", rule, None, figure, hint, 1 - compliance))
    elif met >= MIN_CLOSED and row["met_after_prompt"] / met >= AFTER_PROMPT_SHARE:
        share = row["met_after_prompt"] / met
        figure = text["after_prompt"].format(n=row["met_after_prompt"], met=met, pct=percent(share))
        # Ranked below rules that do not stick: this one works, it could be lighter.
        items.append(_item("rule", rule, None, figure, text["prompt_works"], share / 2))
    total = row["occasions"]
    if closed + row["withdrawn"] < MIN_CLOSED:
        return items
    item = ruleset.get(rule)
    obj = item.rule.object if item is not None else None
    for field, n in row["fields_missing"].items():
        share = n / total
        if share >= EMPTY_SHARE:
            figure = text["empty"].format(
                field=label(ruleset, rule, field), n=n, total=total, pct=percent(share)
            )
            hint = _empty_hint(text, facts, obj, field)
            items.append(_item("field", rule, field, figure, hint, share))
    for field, n in row.get("fields_placeholder", {}).items():
        share = n / total
        if share >= PLACEHOLDER_SHARE:
            figure = text["placeholder"].format(
                field=label(ruleset, rule, field), n=n, total=total, pct=percent(share)
            )
            items.append(_item("field", rule, field, figure, text["not_known"], share))
    return items


def _empty_hint(text: dict[str, str], facts: FieldFacts | None, obj: str | None, field: str) -> str:
    """A default for a field people leave empty, if its type has one to offer."""
    if facts is None or obj is None:
        return text["make_default"]
    kind = facts.type_of(obj, field)
    if kind in LONG_TEXT:
        return text["ask_later"]
    if kind in CHOICE_TYPES:
        common = facts.most_common(obj, field)
        if common is not None:
            value, share = common
            return text["default_to"].format(value=value, pct=percent(share))
    return text["make_default"]


def _default_items(row: dict[str, Any], ruleset: RuleSet) -> list[dict[str, Any]]:
    rule, field = row["rule"], row["field"]
    if row["applied"] < MIN_CLOSED or row["override_rate"] < OVERRIDE_RATE:
        return []
    text = _TEXT[rule_language(ruleset, rule)]
    figure = text["override"].format(
        field=label(ruleset, rule, field),
        n=row["overridden"],
        total=row["applied"],
        pct=percent(row["override_rate"]),
    )
    return [_item("field", rule, field, figure, text["bad_default"], row["override_rate"])]


def _item(
    kind: str, rule: str, field: str | None, figure: str, hint: str, score: float
) -> dict[str, Any]:
    item: dict[str, Any] = {"kind": kind, "rule": rule}
    if field is not None:
        item["field"] = field
    item.update(figure=figure, hint=hint, score=round(score, 4))
    return item
