"""Words for reports in the rule pack's language (Dutch and English; others: English)."""

from __future__ import annotations

from lastmile.rules import RuleSet

LANGUAGES = ("en", "nl")


def language(locale: str) -> str:
    """The report language for a pack locale: `nl-BE` -> `nl`; unsupported -> `en`."""
    lang = locale.split("-")[0].lower()
    return lang if lang in LANGUAGES else "en"


def rule_language(ruleset: RuleSet, rule: str) -> str:
    """The language of the rule's pack; a rule no longer loaded takes the first pack's."""
    item = ruleset.get(rule)
    if item is not None:
        return language(item.pack.locale)
    return default_language(ruleset)


def default_language(ruleset: RuleSet) -> str:
    return language(ruleset.packs[0].locale) if ruleset.packs else "en"


def label(ruleset: RuleSet, rule: str, field: str) -> str:
    """The field's human name in the rule's pack (its API name when the pack has no label)."""
    item = ruleset.get(rule)
    return item.pack.label(field) if item is not None else field


def percent(share: float) -> str:
    return f"{round(share * 100)}%"


def duration(seconds: float, lang: str) -> str:
    """`45 min`, `5 h 10 min`, `2 d 3 h` (`u` for hours in Dutch)."""
    hour = "u" if lang == "nl" else "h"
    minutes = int(seconds // 60)
    if minutes < 1:
        return "< 1 min"
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days} d {hours} {hour}" if hours else f"{days} d"
    if hours:
        return f"{hours} {hour} {mins} min" if mins else f"{hours} {hour}"
    return f"{mins} min"
