"""The measurement tests' world: a rule pack, a teams file and a scripted week of events on a
virtual clock, POSTed over real HTTP to `/webhooks/events` (Standard Webhooks signed), processed
by the real Runtime's embedded worker against the in-memory CRM of tests/fakes.py."""

from __future__ import annotations

import base64
import json
import os
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
from fakes import INTEGRATION, Clock, FakeCrm  # tests/fakes.py
from standardwebhooks import Webhook
from werkzeug.serving import make_server

from lastmile.runtime import Runtime
from lastmile.settings import Settings
from lastmile.webhooks import create_app
from lastmile.webhooks.api import api_blueprint
from lastmile.webhooks.ops import ops_blueprint

RULES = """\
pack: scenario
locale: en
labels:
  Outcome__c: {en: Outcome, nl: Uitkomst}
  Description: {en: Call notes, nl: Gespreksverslag}
rules:
  - id: call-notes
    object: Task
    if:
      all: [{Type: Call}, {Status: Completed}, {changed: Status}]
    then:
      require: [Description, Outcome__c]
      prompt: "Record now: {missing}."
      within: 1d
      escalate:
        subject: "Call notes still missing: {Subject}"
  - id: opp-defaults
    object: Opportunity
    if: {on: created}
    then:
      default: {LeadSource: Phone}
"""


def user(tag: str) -> str:
    """An 18-character Salesforce user id."""
    return f"0057Q0000{tag:0>6}QAJ"


NORTH = [user(f"N{i}") for i in range(1, 6)]  # Advisers North: five people, reported by name
TINY = [user("T1"), user("T2")]  # Tiny Desk: two people, below the minimum: `other`
LONER = user("X1")  # in no team: `other`
SMALL_TEAM = "Tiny Desk"
TEAMS = f"""\
teams:
  Advisers North: [{", ".join(NORTH)}]
  {SMALL_TEAM}: [{", ".join(TINY)}]
"""

TASK_FIELDS = ("Type", "Status", "Subject", "Description", "Outcome__c", "OwnerId")
OPP_FIELDS = ("Name", "LeadSource", "OwnerId")


def at(day: int, hour: int, minute: int = 0) -> str:
    """A time in November 2026 (UTC), as RecordEvent JSON writes it."""
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC).isoformat().replace("+00:00", "Z")


def call(eid: str, rid: str, when: str, owner: str, kind: str = "updated", **fields: Any) -> dict:
    """A Task event carrying every field the rules read (None unless given): no CRM read."""
    values = {**dict.fromkeys(TASK_FIELDS), "Type": "Call", "Subject": f"Call {rid[-7:-3]}"}
    values.update(OwnerId=owner, **fields)
    return _event(eid, "Task", rid, when, kind, owner, values)


def opp(eid: str, rid: str, when: str, owner: str, actor: str, kind: str = "updated", **f: Any):
    values = {**dict.fromkeys(OPP_FIELDS), "Name": f"Deal {rid[-7:-3]}", "OwnerId": owner, **f}
    return _event(eid, "Opportunity", rid, when, kind, actor, values)


def _event(eid: str, obj: str, rid: str, when: str, kind: str, actor: str, fields: dict) -> dict:
    return {
        "id": eid,
        "source": "crm-flow",
        "object": obj,
        "record_id": rid,
        "kind": kind,
        "occurred_at": when,
        "actor": actor,
        "fields": fields,
    }


def record(n: int, prefix: str = "00T") -> str:
    return f"{prefix}7Q0000Sc{n:04d}AAA"  # 18 characters, as Salesforce writes ids


R = {n: record(n) for n in range(1, 8)}
OPPS = {n: record(n, "006") for n in range(1, 4)}

# The scenario, event by event (what the hand-computed figures in the tests are worked out from).
E = {
    # R1 (North N1): completed without an outcome at 10:00, outcome filled at 12:00: met after
    # the prompt, 2 h to comply.
    "r1a": call("r1a", R[1], at(16, 9), NORTH[0], "created", Status="Not Started"),
    "r1b": call("r1b", R[1], at(16, 10), NORTH[0], Status="Completed", Description="Notes"),
    "r1c": call(
        "r1c", R[1], at(16, 12), NORTH[0], Status="Completed", Description="Notes",
        Outcome__c="Interested",
    ),
    # R2 (North N2, given by its 15-character id): everything filled at once: met first time.
    "r2a": call(
        "r2a", R[2], at(16, 11), NORTH[1][:15], "created", Status="Completed",
        Description="Notes", Outcome__c="Callback",
    ),
    # R3 (Tiny Desk T1): completed, nothing recorded, never again: missed at 18 Nov 09:00.
    "r3a": call("r3a", R[3], at(17, 9), TINY[0], "created", Status="Completed"),
    # R4 (X1, in no team): notes missing, then the call is reopened: withdrawn.
    "r4a": call("r4a", R[4], at(17, 10), LONER, "created", Status="Completed", Outcome__c="Done"),
    "r4b": call("r4b", R[4], at(17, 10, 30), LONER, Status="In Progress", Outcome__c="Done"),
    # R7 (North N4): outcome filled a day and an hour later, after the deadline: missed.
    "r7a": call("r7a", R[7], at(18, 9), NORTH[3], "created", Status="Completed", Description="N"),
    "r7b": call(
        "r7b", R[7], at(19, 10), NORTH[3], Status="Completed", Description="N", Outcome__c="Won"
    ),
    # Week 48. R5 (North N3): outcome filled 6 h later: met after the prompt.
    "r5a": call("r5a", R[5], at(23, 9), NORTH[2], "created", Status="Completed", Description="N"),
    "r5b": call(
        "r5b", R[5], at(23, 15), NORTH[2], Status="Completed", Description="N", Outcome__c="Won"
    ),
    # R6 (North N1): notes missing since 24 Nov 08:00; open until 25 Nov 08:00.
    "r6a": call("r6a", R[6], at(24, 8), NORTH[0], "created", Status="Completed", Outcome__c="X"),
    # Opportunities: the LeadSource default is applied on creation.
    # O1 (N1): a person changes it to Web: overridden.
    "o1a": opp("o1a", OPPS[1], at(16, 9), NORTH[0], NORTH[0], "created"),
    "o1b": opp("o1b", OPPS[1], at(16, 10), NORTH[0], NORTH[0], LeadSource="Web"),
    # O2 (N2): the integration user changes it (not a person), a person saves it as it is.
    "o2a": opp("o2a", OPPS[2], at(17, 9), NORTH[1], NORTH[1], "created"),
    "o2b": opp("o2b", OPPS[2], at(17, 9, 1), NORTH[1], INTEGRATION, LeadSource="Partner"),
    "o2c": opp("o2c", OPPS[2], at(17, 9, 2), NORTH[1], NORTH[1], LeadSource="Phone"),
    # O3 (Tiny Desk T2), week 48: kept.
    "o3a": opp("o3a", OPPS[3], at(23, 9), TINY[1], TINY[1], "created"),
}  # fmt: skip

# How they arrive: out of order (r1c before r1b, r7b before r7a), duplicated within a delivery
# and across deliveries, and the last delivery made twice.
DELIVERIES = [
    ["o1a", "r1a", "r1c", "r2a", "r3a", "r3a"],
    ["r1b", "o1b", "r4a", "r4b", "r7b", "o2a", "o2b", "o2c"],
    ["r7a", "r1b", "r5a", "r5b", "r6a", "o3a"],
    ["r7a", "r1b", "r5a", "r5b", "r6a", "o3a"],
]

AS_OF_A = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)  # the end of week 47
AS_OF_B = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)  # in week 48: R6 still open


@dataclass
class World:
    runtime: Runtime
    crm: FakeCrm
    url: str
    token: str
    secret: str
    env: dict[str, str]  # LASTMILE_* for the CLI

    @property
    def settings(self) -> Settings:
        return self.runtime.settings

    def post(self, events: list[dict]) -> requests.Response:
        body = json.dumps(events)
        msg_id = "msg_" + secrets.token_hex(8)
        now = datetime.now(UTC)
        headers = {
            "content-type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": Webhook(self.secret).sign(msg_id, now, body),
        }
        return requests.post(f"{self.url}/webhooks/events", data=body, headers=headers, timeout=10)

    def get(self, path: str, token: str | None = None, **params: str) -> requests.Response:
        headers = {"Authorization": f"Bearer {token or self.token}"}
        return requests.get(f"{self.url}{path}", params=params, headers=headers, timeout=10)

    def deliver(self, deliveries: list[list[str]] = DELIVERIES) -> None:
        for names in deliveries:
            answer = self.post([E[n] for n in names])
            assert answer.status_code < 300, answer.text
            assert self.runtime.dispatcher.drain(15), "the worker did not finish"
        counts = self.runtime.store.counts()
        assert counts.get("done") == len(E) and not counts.get("dead"), counts


@contextmanager
def world(folder: Path, **more: Any) -> Iterator[World]:
    """The scenario's service, running, with nothing delivered yet."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "rules").mkdir(exist_ok=True)
    (folder / "rules" / "scenario.yaml").write_text(RULES, encoding="utf-8")
    (folder / "teams.yaml").write_text(TEAMS, encoding="utf-8")
    token = secrets.token_urlsafe(16)
    secret = "whsec_" + base64.b64encode(os.urandom(24)).decode()
    env = {
        "LASTMILE_DATABASE_URL": f"sqlite:///{folder / 'lastmile.db'}",
        "LASTMILE_RULES": str(folder / "rules"),
        "LASTMILE_TEAMS": str(folder / "teams.yaml"),
        "LASTMILE_INTEGRATION_USER_ID": INTEGRATION,
        "LASTMILE_ADMIN_TOKEN": token,
        "LASTMILE_WEBHOOK_SECRET": secret,
    }
    values = {k.removeprefix("LASTMILE_").lower(): v for k, v in env.items()}
    settings = Settings(**values, **more, _env_file=None)
    # The CRM's clock stays before every event, so no write-back is refused as a conflict.
    crm = FakeCrm(Clock(datetime(2026, 1, 1, tzinfo=UTC)))
    for ev in E.values():
        crm.seed(ev["object"], ev["record_id"], datetime(2026, 1, 1, tzinfo=UTC))
    runtime = Runtime.build(settings, connector=crm).start()
    app = create_app(
        settings,
        runtime.store,
        blueprints=(ops_blueprint(runtime), api_blueprint(runtime)),
        dispatch=runtime.dispatch,
    )
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield World(runtime, crm, f"http://127.0.0.1:{server.server_port}", token, secret, env)
    finally:
        server.shutdown()
        thread.join(5)
        runtime.stop()
        runtime.store.close()


def row(rule: str, occasions: int, first: int, after: int, missed: int, withdrawn: int,
        open_: int, compliance: float | None, median: float | None, p90: float | None,
        missing: dict[str, int]) -> dict[str, Any]:  # fmt: skip
    """A row of the measurement contract, written out by hand."""
    return {
        "rule": rule,
        "occasions": occasions,
        "met_first_time": first,
        "met_after_prompt": after,
        "missed": missed,
        "withdrawn": withdrawn,
        "open": open_,
        "compliance": compliance,
        "time_to_comply_s": None if median is None else {"median": median, "p90": p90},
        "fields_missing": missing,
        "fields_placeholder": dict.fromkeys(missing, 0),  # nobody typed a placeholder
        "suppressed": 0,  # no prompt budget was full
    }


def rules_row(figures: dict[str, Any], mode: str = "live") -> dict[str, Any]:
    """A rules row of the contract: the rule's mode after its name."""
    return {"rule": figures["rule"], "mode": mode, **figures}


def later(moment: datetime, **kw: float) -> datetime:
    return moment + timedelta(**kw)
