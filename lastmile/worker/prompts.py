"""The prompts a record shows: what the rules want shown after an event, and the prompt budget
(issue 19) that decides which of them show when more are wanted than a person takes in.

A person (the records' owner) sees at most `max_prompts_per_person` prompts at once across their
records, and one record at most `max_prompts_per_record`. When more are wanted, the rule of
higher `priority` wins, then the rule earlier in the files. The rest are held back: kept on the
record's snapshot (`held`), their occasions flagged `suppressed`, and shown once there is room
while they are still wanted (at the record's next event, or by the deadline run).
"""

from __future__ import annotations

from collections.abc import Mapping

from lastmile.rules import Decision, RuleSet


def wanted_prompts(
    before: Mapping[str, str], decision: Decision, ruleset: RuleSet
) -> dict[str, str]:
    """The prompts the rules want on the record after this decision: set or replaced, cleared
    when met. A rule that is gone from the live rules, disabled or in observe mode takes its
    prompt with it."""
    wanted = dict(before)
    for rule in decision.cleared:
        wanted.pop(rule, None)
    for prompt in decision.prompts:
        wanted[prompt.rule] = prompt.text
    return {rule: text for rule, text in wanted.items() if writes_prompts(ruleset, rule)}


def writes_prompts(ruleset: RuleSet, rule: str) -> bool:
    """Whether the rule's prompt may be on a record: a loaded, enabled rule in live mode."""
    item = ruleset.get(rule)
    return item is not None and item.rule.enabled and item.mode == "live"


def allot(
    wanted: Mapping[str, str], ruleset: RuleSet, slots: int | None
) -> tuple[dict[str, str], dict[str, str]]:
    """(shown, held back): the `slots` best ranked prompts show (all of them for None)."""
    order = sorted(wanted, key=ruleset.prompt_rank)
    cut = len(order) if slots is None else max(slots, 0)
    return {r: wanted[r] for r in order[:cut]}, {r: wanted[r] for r in order[cut:]}


def prompt_text(shown: Mapping[str, str], ruleset: RuleSet) -> str | None:
    """The prompt field's value: the texts in rank order, one a line; None when there are none."""
    texts = [shown[rule] for rule in sorted(shown, key=ruleset.prompt_rank)]
    return "\n".join(texts) if texts else None


def slots(per_record: int, per_person: int, elsewhere: int | None) -> int:
    """How many prompts one record may show: its own cap, and what the owner's other records
    (`elsewhere`; None: no owner) leave of the person's."""
    if elsewhere is None:
        return per_record
    return max(0, min(per_record, per_person - elsewhere))
