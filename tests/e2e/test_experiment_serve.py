"""An experiment end to end through `lastmile serve` and the sandbox CRM: control owners get no
prompt written, the variant's owners get the variant's prompt, and `lastmile experiments --json`
counts per arm exactly as the assignment formula says."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator

import pytest
from serving import LASTMILE, Served, serving
from waiting import wait_for

from lastmile.connector.sandbox.demo import USERS
from lastmile.rules.experiments import assign_arm

PROMPT = "Lastmile_Prompt__c"
ARMS = {"control": 0.5, "short": 0.5}
PEOPLE = [user for user, first, *_ in USERS if first != "Lastmile"]  # the org's people


def _experiment_id() -> str:
    """An experiment id that puts the org's people in both arms (assignment is by hash)."""
    for n in range(1000):
        eid = f"call-prompt-{n}"
        if len({assign_arm(eid, user, ARMS) for user in PEOPLE}) == 2:
            return eid
    raise AssertionError("no id splits the people")


EXPERIMENT = _experiment_id()
RULES = f"""
pack: calls
locale: en
rules:
  - id: call-notes
    object: Task
    if: {{all: [{{Type: Call}}, {{Status: Completed}}, {{changed: Status}}]}}
    then:
      require: [Description]
      prompt: "Record the call notes."
    experiment:
      id: {EXPERIMENT}
      arms: {{control: 0.5, short: 0.5}}
      variants: {{short: {{prompt: "Notes?"}}}}
"""


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    base = tmp_path_factory.mktemp("experiment")
    with serving(base, {"calls.yaml": RULES}, {"LASTMILE_MIN_GROUP_SIZE": "1"}) as running:
        yield running


def test_arms_get_their_prompts_and_the_readout_counts_them(served: Served) -> None:
    sandbox = served.sandbox
    calls: dict[str, list[str]] = {}
    for user in PEOPLE:
        for _ in range(2):
            call = sandbox.save_as(user, "Task", {"Subject": "Call", "Type": "Call",
                                                  "Status": "Not Started"})  # fmt: skip
            sandbox.save_as(user, "Task", {"Status": "Completed"}, record_id=call)
            calls.setdefault(user, []).append(call)
    total = sum(len(c) for c in calls.values())

    def all_done() -> bool:
        events = served.admin("/api/events?limit=1000").json()["events"]
        return len(events) >= 2 * total and all(e["status"] == "done" for e in events)

    wait_for(all_done, 60)
    for user, records in calls.items():
        arm = assign_arm(EXPERIMENT, user, ARMS)
        for call in records:
            written = sandbox.org.get("Task", call).get(PROMPT)
            assert written == (None if arm == "control" else "Notes?"), (user, arm)
    done = subprocess.run(
        [LASTMILE, "experiments", "--json", "--config", str(served.config)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    [exp] = json.loads(done.stdout)["experiments"]
    assert exp["id"] == EXPERIMENT and exp["rule"] == "call-notes"
    arms = {row["arm"]: row for row in exp["arms"]}
    for arm in ARMS:
        people = [u for u in PEOPLE if assign_arm(EXPERIMENT, u, ARMS) == arm]
        assert arms[arm]["units"] == len(people)
        assert arms[arm]["occasions"] == 2 * len(people)
        assert arms[arm]["open"] == 2 * len(people)  # no deadline, nobody filled the notes
