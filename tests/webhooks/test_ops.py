"""Ops endpoints on the real runtime: liveness, readiness (store, rules, CRM), metrics, and the
inbox behind the admin token."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lastmile"))
from fakes import Clock, FakeCrm
from waiting import wait_for
from webhook_support import ORG_ID, notification, outbound_message

from lastmile.runtime import Runtime
from lastmile.settings import Settings
from lastmile.webhooks.envelopes import ACK

TOKEN = "s3cret-admin-token"
RULES = """
pack: p
rules:
  - id: call-notes
    object: Task
    if: {all: [{Status: Completed}]}
    then: {require: [Description]}
"""


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "p.yaml").write_text(RULES)
    settings = Settings(
        _env_file=None,
        rules=rules,
        database_url=f"sqlite:///{tmp_path / 'lastmile.db'}",
        admin_token=TOKEN,
        salesforce_org_ids=[ORG_ID],
    )
    crm = FakeCrm(Clock())
    rt = Runtime.build(settings, connector=crm)
    rt.rules.reload()  # the rules without the watcher thread or the worker
    yield rt
    rt.store.close()


@pytest.fixture
def client(runtime: Runtime) -> FlaskClient:
    return runtime.app().test_client()


def auth(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def post_call(client: FlaskClient, notification_id: str = "04l7Q00000Kc1AcQAJ") -> None:
    body = outbound_message(
        notification(
            notification_id,
            "Task",
            "<sf:Id>00T7Q00000Ab1CdUAR</sf:Id><sf:Status>Completed</sf:Status>"
            "<sf:Description>private words</sf:Description>"
            "<sf:LastModifiedDate>2026-11-24T10:00:00.000Z</sf:LastModifiedDate>",
        )
    )
    answer = client.post(
        "/webhooks/salesforce", data=body, headers={"Content-Type": "text/xml; charset=utf-8"}
    )
    assert answer.data == ACK


def test_healthz_answers_without_anything_else(client: FlaskClient) -> None:
    assert client.get("/healthz").json == {"status": "ok"}


def test_readyz_reports_the_live_rules_version(runtime: Runtime, client: FlaskClient) -> None:
    answer = client.get("/readyz")
    assert answer.status_code == 200, answer.json
    assert answer.json["ready"] is True
    assert answer.json["rules"]["version"] == runtime.rules().version
    assert answer.json["rules"]["rules"] == 1


def test_readyz_is_503_while_no_rules_are_loaded(tmp_path: Path) -> None:
    settings = Settings(
        _env_file=None,
        rules=tmp_path / "empty",
        database_url=f"sqlite:///{tmp_path / 'lastmile.db'}",
    )
    runtime = Runtime.build(settings, connector=FakeCrm(Clock()))
    runtime.rules.reload()
    answer = runtime.app().test_client().get("/readyz")
    assert answer.status_code == 503
    assert answer.json["problems"]["rules"] == "no rules loaded"
    assert answer.json["rules"]["problems"]  # why: `path:line:col: message`


def crm_once(client: FlaskClient, condition) -> dict:
    """/readyz's `crm` once `condition(crm)` holds."""

    def shown() -> dict | None:
        crm = client.get("/readyz").json["crm"]
        return crm if condition(crm) else None

    return wait_for(shown)


def test_readyz_is_200_while_the_crm_is_down_and_says_so_in_its_body(
    runtime: Runtime, client: FlaskClient
) -> None:
    runtime.worker.breaker.wait_base = 0.05  # probes come quickly once it is back
    runtime.connector.down = True  # type: ignore[attr-defined]
    # The check runs beside the request: /readyz answers at once, then shows what it found.
    crm = crm_once(client, lambda c: c["paused"])
    answer = client.get("/readyz")
    assert answer.status_code == 200 and answer.json["ready"] is True
    assert crm["ok"] is False and crm["since"] and crm["next_probe"]
    assert crm["error"] == "TransientError"  # the class only, without the token
    detailed = client.get("/readyz", headers=auth()).json["crm"]
    assert detailed["error"] == "TransientError: the CRM could not be reached"
    metrics = client.get("/metrics").get_data(as_text=True)
    assert "lastmile_crm_paused 1.0" in metrics and "lastmile_crm_pauses_total" in metrics
    runtime.connector.down = False  # type: ignore[attr-defined]
    crm = crm_once(client, lambda c: c["ok"])
    assert crm["paused"] is False and crm["error"] is None
    assert "lastmile_crm_paused 0.0" in client.get("/metrics").get_data(as_text=True)


def test_readyz_shows_a_rejected_rules_change_with_paths_only_for_the_admin(
    runtime: Runtime, client: FlaskClient, tmp_path: Path
) -> None:
    live = runtime.rules().version
    (runtime.rules.path / "broken.yaml").write_text(
        "pack: x\nrules:\n  - id: y\n    objekt: Task\n"
    )
    runtime.rules.reload()
    answer = client.get("/readyz")
    assert answer.status_code == 200 and answer.json["ready"] is True
    rules = answer.json["rules"]
    assert rules["version"] == live
    assert rules["rejected"] and all(p.startswith("broken.yaml:") for p in rules["rejected"])
    assert str(tmp_path) not in answer.get_data(as_text=True)
    admin = client.get("/readyz", headers=auth()).json["rules"]["rejected"]
    assert any(p.startswith(str(runtime.rules.path)) for p in admin)


def test_metrics_count_events_and_show_the_inbox(client: FlaskClient) -> None:
    post_call(client)
    text = client.get("/metrics").get_data(as_text=True)
    assert 'lastmile_events_received_total{duplicate="no",source="salesforce"}' in text
    assert 'lastmile_inbox_events{status="pending"} 1.0' in text


@pytest.mark.parametrize("headers", [{}, auth("wrong"), {"Authorization": TOKEN}])
def test_the_inbox_api_refuses_without_the_token(client: FlaskClient, headers: dict) -> None:
    post_call(client)
    assert client.get("/api/events", headers=headers).status_code == 401
    assert client.get("/api/events/1", headers=headers).status_code == 401
    assert client.post("/api/events/1/replay", headers=headers).status_code == 401


def test_the_inbox_api_is_off_without_a_configured_token(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, database_url=f"sqlite:///{tmp_path / 'l.db'}")
    app = Runtime.build(settings, connector=FakeCrm(Clock())).app()
    answer = app.test_client().get("/api/events", headers=auth(""))
    assert answer.status_code == 403
    assert answer.json["error"] == "admin_disabled"


def test_the_inbox_api_lists_shows_and_replays_without_field_values(
    runtime: Runtime, client: FlaskClient
) -> None:
    post_call(client)
    listed = client.get("/api/events", headers=auth())
    assert listed.status_code == 200
    (row,) = listed.json["events"]
    assert row["status"] == "pending" and row["object"] == "Task"
    shown = client.get(f"/api/events/{row['id']}", headers=auth())
    assert shown.status_code == 200
    assert "private words" not in shown.get_data(as_text=True)
    assert "private words" not in listed.get_data(as_text=True)
    assert client.get("/api/events?status=bogus", headers=auth()).status_code == 400
    assert client.get("/api/events/999", headers=auth()).status_code == 404
    # pending is not replayable; processed (done) is
    assert client.post(f"/api/events/{row['id']}/replay", headers=auth()).status_code == 409
    assert runtime.worker.process_event(row["id"]) in ("applied", "nothing")
    dispatched: list[list[int]] = []
    runtime.dispatch = dispatched.append  # type: ignore[method-assign]
    replay = runtime.app().test_client().post(f"/api/events/{row['id']}/replay", headers=auth())
    assert replay.status_code == 202
    assert runtime.store.get_event(row["id"]).row.status == "pending"
