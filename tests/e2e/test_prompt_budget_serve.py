"""The prompt budget end to end through `lastmile serve` and the sandbox CRM: a person with more
open prompts than the budget sees the best ranked ones; the rest are held back, counted as
`suppressed`, and appear on their records once the person met a prompt elsewhere."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator

import pytest
from serving import LASTMILE, Served, serving
from waiting import wait_for

from lastmile.connector.sandbox.demo import USERS

PROMPT = "Lastmile_Prompt__c"
PERSON = next(user for user, first, *_ in USERS if first != "Lastmile")
RULES = """
pack: calls
locale: en
rules:
  - id: call-notes
    object: Task
    if: {all: [{Type: Call}, {Status: Completed}]}
    then: {require: [Description], prompt: "Record the call notes."}
  - id: call-outcome
    object: Task
    priority: 5
    if: {all: [{Type: Call}, {Status: Completed}]}
    then: {require: [Outcome__c], prompt: "Record the outcome."}
"""


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    base = tmp_path_factory.mktemp("budget")
    settings = {
        "LASTMILE_MAX_PROMPTS_PER_PERSON": "3",
        "LASTMILE_DEADLINE_EVERY_S": "0.5",
        "LASTMILE_MIN_GROUP_SIZE": "1",
    }
    with serving(base, {"calls.yaml": RULES}, settings) as running:
        yield running


def _settled(served: Served, record: str, count: int) -> bool:
    """The record's first `count` events (and every other one so far) processed."""
    events = served.admin("/api/events?limit=1000").json()["events"]
    mine = [e for e in events if e["record_id"] == record]
    return len(mine) >= count and all(e["status"] == "done" for e in events)


def test_held_prompts_are_counted_and_shown_when_room_frees(served: Served) -> None:
    sandbox = served.sandbox
    calls = []
    for n in range(2):  # two calls of one person, two prompts each: four wanted, three shown
        call = sandbox.save_as(
            PERSON, "Task", {"Subject": f"Call {n}", "Type": "Call", "Status": "Completed"}
        )
        calls.append(call)
        wait_for(lambda call=call: _settled(served, call, 1), 60)
    first, second = (sandbox.org.get("Task", c).get(PROMPT) for c in calls)
    assert first == "Record the outcome.\nRecord the call notes."
    assert second == "Record the outcome."  # the higher priority took the last place

    # The person records the outcome of the first call: its prompt goes, room for one.
    sandbox.save_as(PERSON, "Task", {"Outcome__c": "Interested"}, record_id=calls[0])
    wait_for(lambda: sandbox.org.get("Task", calls[0]).get(PROMPT) == "Record the call notes.", 60)
    # The deadline run shows the held prompt on the second call.
    wanted = "Record the outcome.\nRecord the call notes."
    wait_for(lambda: sandbox.org.get("Task", calls[1]).get(PROMPT) == wanted, 30)

    done = subprocess.run(
        [LASTMILE, "report", "--json", "--config", str(served.config)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = {row["rule"]: row for row in json.loads(done.stdout)["rules"]}
    assert rows["call-notes"]["suppressed"] == 1 and rows["call-outcome"]["suppressed"] == 0
    assert rows["call-notes"]["occasions"] == 2
