"""The friction report: where a rule does not stick, with a redesign hint drawn from the figures.

Rules with low compliance and fields that stay empty come first; each item says its figure and
one plain-language hint in the rule pack's language. Measurement is a design instrument: the
hints change the context (the moment, the prompt, a default, fewer fields), never the people.
"""

from __future__ import annotations

from typing import Any

from lastmile.rules import RuleSet

from .language import duration, label, percent, rule_language

MIN_OCCASIONS = 3  # fewer than this says nothing yet
LOW_COMPLIANCE = 0.8  # below this a rule does not stick
LONG_WAIT_S = 4 * 3600  # a median time to comply this long: the moment is wrong
AFTER_PROMPT_SHARE = 0.5  # this share of the met ones needed the prompt
EMPTY_SHARE = 0.5  # a field empty in at least this share of occasions
OVERRIDE_RATE = 0.3  # a default people change this often is a bad default

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
        "bad_default": "Een slechte standaardwaarde: pas hem aan of laat hem vallen.",
    },
}


def friction(report: dict[str, Any], ruleset: RuleSet) -> list[dict[str, Any]]:
    """Ranked friction items of an `indicators` report: {"kind": "rule"|"field", "rule",
    "field" (field items), "figure", "hint", "score"}; the highest score first."""
    items: list[dict[str, Any]] = []
    for row in report.get("rules", []):
        items += _rule_items(row, ruleset)
    for row in report.get("defaults", []):
        items += _default_items(row, ruleset)
    order = {item.id: n for n, item in enumerate(ruleset.rules)}
    items.sort(key=lambda i: (-i["score"], order.get(i["rule"], len(order)), i.get("field", "")))
    return items


def _rule_items(row: dict[str, Any], ruleset: RuleSet) -> list[dict[str, Any]]:
    rule = row["rule"]
    lang = rule_language(ruleset, rule)
    text = _TEXT[lang]
    items = []
    met = row["met_first_time"] + row["met_after_prompt"]
    closed = met + row["missed"]
    compliance = row["compliance"]
    median = (row["time_to_comply_s"] or {}).get("median")
    if compliance is not None and closed >= MIN_OCCASIONS and compliance < LOW_COMPLIANCE:
        figure = text["compliance"].format(pct=percent(compliance), met=met, closed=closed)
        long_wait = median is not None and median >= LONG_WAIT_S
        if median is not None:
            figure += text["wait"].format(wait=duration(median, lang))
        hint = text["move"] if long_wait else text["reword"]
        items.append(_item("rule", rule, None, figure, hint, 1 - compliance))
    elif met >= MIN_OCCASIONS and row["met_after_prompt"] / met >= AFTER_PROMPT_SHARE:
        share = row["met_after_prompt"] / met
        figure = text["after_prompt"].format(n=row["met_after_prompt"], met=met, pct=percent(share))
        # Ranked below rules that do not stick: this one works, it could be lighter.
        items.append(_item("rule", rule, None, figure, text["prompt_works"], share / 2))
    total = row["occasions"]
    if total >= MIN_OCCASIONS:
        for field, n in row["fields_missing"].items():
            share = n / total
            if share >= EMPTY_SHARE:
                figure = text["empty"].format(
                    field=label(ruleset, rule, field), n=n, total=total, pct=percent(share)
                )
                items.append(_item("field", rule, field, figure, text["make_default"], share))
    return items


def _default_items(row: dict[str, Any], ruleset: RuleSet) -> list[dict[str, Any]]:
    rule, field = row["rule"], row["field"]
    if row["applied"] < MIN_OCCASIONS or row["override_rate"] < OVERRIDE_RATE:
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
