"""The stand-up digest: per team per day, three focused questions from yesterday's figures, in
the rule pack's language; optionally posted to a chat webhook as `{"text": ...}`."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import requests

from lastmile.rules import RuleSet
from lastmile.settings import Settings
from lastmile.store import Store

from .indicators import indicators, iso
from .language import default_language, label, rule_language
from .teams import Teams

QUESTIONS = 3

_TEXT = {
    "en": {
        "empty": "{field} was left empty {n} of {total} times ({rule}): what made that hard?",
        "missed": "The deadline of {rule} passed unmet {n} of {total} times: what got in the way?",
        "open": "{rule} is still open {n} of {total} times: what is needed to finish it today?",
        "after_prompt": "{rule} was done only after the prompt {n} of {total} times: what would "
        "make it easier the first time?",
        "title": "Stand-up questions for {team}, {day}",
    },
    "nl": {
        "empty": "{field} bleef {n} van de {total} keer leeg ({rule}): wat maakte dat lastig?",
        "missed": "De termijn van {rule} verliep {n} van de {total} keer zonder dat het gedaan "
        "was: wat zat in de weg?",
        "open": "{rule} staat {n} van de {total} keer nog open: wat is nodig om het vandaag af "
        "te ronden?",
        "after_prompt": "{rule} werd {n} van de {total} keer pas na de prompt gedaan: wat zou het "
        "de eerste keer makkelijker maken?",
        "title": "Stand-upvragen voor {team}, {day}",
    },
}
# When yesterday's figures give fewer than three questions. The first only when they gave none.
_FALLBACK = {
    "en": (
        "Nothing stood out in yesterday's figures: what went well that we should keep doing?",
        "Which field in the CRM cost the most time yesterday?",
        "Is there a moment in the day when recording things is hard?",
        "Which prompt or default got in the way rather than helped?",
    ),
    "nl": (
        "Gisteren viel niets op in de cijfers: wat ging goed dat we vasthouden?",
        "Welk veld in het CRM kostte gisteren de meeste tijd?",
        "Is er een moment op de dag waarop vastleggen lastig is?",
        "Welke prompt of standaardwaarde zat eerder in de weg dan dat hij hielp?",
    ),
}


class DigestPostError(RuntimeError):
    """The chat webhook did not take the digest."""


def digest(store: Store, ruleset: RuleSet, settings: Settings, team: str, day: date) -> dict:
    """The digest of `team` for the stand-up on `day`: figures of the occasions opened the day
    before (UTC), as they stood at the start of `day`. Raises `UnknownTeam` for a team the
    figures do not name (a small team is answered the same as an unknown one)."""
    Teams.load(settings.teams, settings.min_group_size).check(team)
    start = datetime.combine(day - timedelta(days=1), time(), UTC)
    end = start + timedelta(days=1)
    report = indicators(store, ruleset, settings, end, team=team, since=start, until=end)
    asked = _questions(report["rules"], ruleset)
    lang = default_language(ruleset)
    fallback = _FALLBACK[lang][0 if not asked else 1 :]
    questions = (asked + list(fallback))[:QUESTIONS]
    return {
        "team": team,
        "day": day.isoformat(),
        "questions": questions,
        "figures": {
            "from": iso(start),
            "to": iso(end),
            "as_of": report["as_of"],
            "rules": report["rules"],
            "defaults": report["defaults"],
        },
    }


def _questions(rows: list[dict[str, Any]], ruleset: RuleSet) -> list[str]:
    """Questions from the figures, the biggest count first (rule order breaks ties)."""
    found: list[tuple[int, int, str]] = []
    for n, row in enumerate(rows):
        rule = row["rule"]
        text = _TEXT[rule_language(ruleset, rule)]
        for field, count in row["fields_missing"].items():
            if count:
                found.append(
                    (
                        count,
                        n,
                        text["empty"].format(
                            field=label(ruleset, rule, field),
                            n=count,
                            total=row["occasions"],
                            rule=rule,
                        ),
                    )
                )
        for key in ("missed", "open", "met_after_prompt"):
            if row[key]:
                name = "after_prompt" if key == "met_after_prompt" else key
                found.append(
                    (row[key], n, text[name].format(n=row[key], total=row["occasions"], rule=rule))
                )
    found.sort(key=lambda f: (-f[0], f[1]))
    return [q for _, _, q in found[:QUESTIONS]]


def digest_text(result: dict, ruleset: RuleSet) -> str:
    """The digest as chat text: a title line and the numbered questions."""
    title = _TEXT[default_language(ruleset)]["title"].format(team=result["team"], day=result["day"])
    lines = [f"{n}. {q}" for n, q in enumerate(result["questions"], 1)]
    return "\n".join([title, *lines])


def post_digest(text: str, url: str, timeout: float = 10.0) -> None:
    """POST `{"text": text}` to a chat webhook (Slack, Mattermost and Teams take this shape)."""
    try:
        answer = requests.post(url, json={"text": text}, timeout=timeout)
    except requests.RequestException as exc:
        raise DigestPostError(
            f"the chat webhook could not be reached ({type(exc).__name__})"
        ) from None
    if answer.status_code >= 300:
        raise DigestPostError(f"the chat webhook answered HTTP {answer.status_code}")
