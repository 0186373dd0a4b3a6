"""Helpers for the dashboard tests: a real Runtime over SQLite with the in-memory CRM, the example
rules and a teams file; a scripted week of client calls POSTed signed to `/webhooks/events`; a
real HTTP server for the browser; and a report dict of the measurement contract's shape."""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
from flask import Flask
from flask.testing import FlaskClient
from standardwebhooks import Webhook

ROOT = Path(__file__).resolve().parents[2]
from fakes import INTEGRATION, Clock, FakeCrm  # noqa: E402  (tests/fakes.py)

from lastmile.runtime import Runtime  # noqa: E402
from lastmile.serving import ServingThread  # noqa: E402
from lastmile.settings import Settings  # noqa: E402

ADMIN_TOKEN = "dash-admin-token-9f3c1e"
SECRET = "whsec_" + base64.b64encode(b"dashboard-tests-secret-bytes").decode()
BIG_TEAM = "Advisers North"
SMALL_TEAM = "Zeta Duo Desk"  # 2 people, under the minimum of 5: never shown by name
NORTH = [f"0057Q00000N{n:04d}QAJ" for n in range(1, 6)]  # 18 characters each
DUO = ["0057Q00000D0001QAJ", "0057Q00000D0002QAJ"]
NOBODY = "0057Q00000X0001QAJ"  # in no team: `other`
AS_OF = datetime(2026, 11, 28, tzinfo=UTC)  # after every deadline of the scenario
START = datetime(2026, 11, 17, 9, 0, tzinfo=UTC)  # Tuesday of ISO week 2026-W47


def teams_file(folder: Path) -> Path:
    path = folder / "teams.yaml"
    lines = ["teams:", f"  {BIG_TEAM}:"] + [f"    - {u}" for u in NORTH]
    lines += [f"  {SMALL_TEAM}:"] + [f"    - {u}" for u in DUO]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def settings_for(folder: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "rules": ROOT / "examples" / "rules",
        "database_url": f"sqlite:///{folder / 'lastmile.db'}",
        "webhook_secret": SECRET,
        "admin_token": ADMIN_TOKEN,
        "integration_user_id": INTEGRATION,
        "teams": teams_file(folder),
        "max_attempts": 3,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


def build_runtime(folder: Path, **overrides: Any) -> tuple[Runtime, FakeCrm]:
    crm = FakeCrm(Clock())
    return Runtime.build(settings_for(folder, **overrides), connector=crm), crm


def app_of(runtime: Runtime) -> Flask:
    """The service's app, as `lastmile serve` builds it (the dashboard included)."""
    app = runtime.app()
    assert "dashboard" in app.blueprints
    return app


# -- the scenario: client calls (Task, call-essentials: Description, Outcome__c, Next_Step__c) --

_FULL = {"Description": "Spoke about the offer.", "Outcome__c": "Call back", "Next_Step__c": "Call"}


def _call(owner: str, subject: str) -> dict[str, Any]:
    return {
        "Type": "Call",
        "Status": "Not Started",
        "Subject": subject,
        "OwnerId": owner,
        "WhatId": "0067Q00000Jk9sPQAR",
        "Description": None,
        "Outcome__c": None,
        "Next_Step__c": None,
    }


def scenario() -> list[dict[str, Any]]:
    """RecordEvent JSON of five calls over two ISO weeks: met first time, met after a prompt
    (twice), missed (the small team's), and one by an owner in no team; with a duplicate."""
    events: list[dict[str, Any]] = []

    def save(eid: str, rid: str, at: datetime, fields: dict[str, Any], changed: list[str]) -> None:
        events.append(
            {
                "id": eid,
                "source": "crm-flow",
                "object": "Task",
                "record_id": rid,
                "kind": "created" if eid.endswith("-0") else "updated",
                "occurred_at": at.isoformat().replace("+00:00", "Z"),
                "actor": fields["OwnerId"],
                "fields": dict(fields),
                "changed": changed,
            }
        )

    plan = [
        # (record, owner, start offset, fields at completion, later fill (hours, fields))
        ("00T7Q00000C0001QAR", NORTH[0], timedelta(0), _FULL, None),
        (
            "00T7Q00000C0002QAR",
            NORTH[1],
            timedelta(hours=2),
            {"Description": "ok"},
            (2, {"Outcome__c": "Interested", "Next_Step__c": "Quote"}),
        ),
        ("00T7Q00000C0003QAR", DUO[0], timedelta(hours=3), {}, None),
        (
            "00T7Q00000C0004QAR",
            NORTH[2],
            timedelta(days=7),
            {"Outcome__c": "Call back"},
            (0.5, {"Description": "Later", "Next_Step__c": "Mail"}),
        ),
        ("00T7Q00000C0005QAR", NOBODY, timedelta(days=7, hours=1), _FULL, None),
    ]
    for i, (rid, owner, offset, done, fill) in enumerate(plan, 1):
        at = START + offset
        fields = _call(owner, f"Call {i}")
        save(f"call-{i}-0", rid, at, fields, ["Status"])
        fields = {**fields, "Status": "Completed", **done}
        save(f"call-{i}-1", rid, at + timedelta(minutes=20), fields, ["Status", *done])
        if fill is not None:
            hours, more = fill
            fields = {**fields, **more}
            save(f"call-{i}-2", rid, at + timedelta(minutes=20, hours=hours), fields, list(more))
    return events


def seed_crm(crm: FakeCrm, events: list[dict[str, Any]]) -> None:
    """The records as they stand in the CRM, saved long before the events."""
    long_ago = datetime(2026, 1, 1, tzinfo=UTC)
    for event in events:
        crm.seed(event["object"], event["record_id"], long_ago, **event["fields"])


def signed(payload: Any, *, msg_id: str) -> tuple[str, dict[str, str]]:
    """The JSON body and its Standard Webhooks headers, signed now."""
    body = json.dumps(payload)
    now = datetime.now(UTC)
    headers = {
        "Content-Type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(SECRET).sign(msg_id, now, body),
    }
    return body, headers


def over_http(base_url: str) -> Callable[[str, dict[str, str]], int]:
    def post(body: str, headers: dict[str, str]) -> int:
        url = f"{base_url}/webhooks/events"
        return requests.post(url, data=body, headers=headers, timeout=10).status_code

    return post


def with_client(client: FlaskClient) -> Callable[[str, dict[str, str]], int]:
    def post(body: str, headers: dict[str, str]) -> int:
        return client.post("/webhooks/events", data=body, headers=headers).status_code

    return post


def deliver(post: Callable[[str, dict[str, str]], int], events: list[dict[str, Any]]) -> None:
    """POST each event, one call completion twice (a redelivery), the last two swapped."""
    ordered = [*events[:-2], events[-1], events[-2], events[1]]
    for n, event in enumerate(ordered):
        status = post(*signed(event, msg_id=f"msg_{n}"))
        assert status in (200, 202), f"event {event['id']} refused with {status}"


def wait_processed(runtime: Runtime, expected: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        counts = runtime.store.counts()
        if counts.get("done", 0) >= expected and not counts.get("pending"):
            return
        time.sleep(0.05)
    raise AssertionError(f"events not processed in {timeout} s: {runtime.store.counts()}")


@contextmanager
def serving(app: Flask) -> Iterator[str]:
    """`app` over real HTTP on a free port; yields its base URL."""
    with ServingThread(app) as server:
        yield server.url


@contextmanager
def loaded_service(folder: Path) -> Iterator[tuple[Runtime, str]]:
    """A started runtime with the scenario put through the real pipeline, served over HTTP."""
    runtime, crm = build_runtime(folder)
    events = scenario()
    seed_crm(crm, events)
    runtime.start()
    try:
        with serving(app_of(runtime)) as url:
            deliver(over_http(url), events)
            wait_processed(runtime, len(events))
            yield runtime, url
    finally:
        runtime.stop()


@contextmanager
def loaded_runtime(folder: Path) -> Iterator[tuple[Runtime, Flask]]:
    """The scenario put through the real pipeline with Flask's test client (no server)."""
    runtime, crm = build_runtime(folder)
    events = scenario()
    seed_crm(crm, events)
    app = app_of(runtime)
    deliver(with_client(app.test_client()), events)
    runtime.start()  # the embedded worker picks up what is pending
    try:
        wait_processed(runtime, len(events))
        yield runtime, app
    finally:
        runtime.stop()


def screenshots_dir(default: Path) -> Path:
    folder = Path(os.environ.get("LASTMILE_SCREENSHOTS") or default)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# -- a report of the contract's shape, for rendering edge cases -----------------------------------


def row(rule: str, **figures: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "rule": rule,
        "occasions": 0,
        "met_first_time": 0,
        "met_after_prompt": 0,
        "missed": 0,
        "withdrawn": 0,
        "open": 0,
        "compliance": None,
        "time_to_comply_s": None,
        "fields_missing": {},
    }
    base.update(figures)
    return base


def sample_report(rule: str = "call-essentials") -> dict[str, Any]:
    """A report in the shape of DESIGN.md's measurement contract (the figures are made up)."""
    main = row(
        rule,
        occasions=12,
        met_first_time=5,
        met_after_prompt=3,
        missed=2,
        withdrawn=1,
        open=1,
        compliance=0.8,
        time_to_comply_s={"median": 3600, "p90": 86400},
        fields_missing={"Description": 2, "Outcome__c": 5},
    )
    return {
        "as_of": "2026-11-20T00:00:00Z",
        "rules": [main],
        "teams": [{**main, "team": BIG_TEAM}],
        "weeks": [
            {**main, "week": "2026-W45", "compliance": 0.5},
            {**main, "week": "2026-W46", "compliance": None},
            {**main, "week": "2026-W47", "compliance": 0.9},
        ],
        "defaults": [
            {
                "rule": "new-opportunity-defaults",
                "field": "LeadSource",
                "applied": 40,
                "overridden": 6,
                "override_rate": 0.15,
            }
        ],
    }
