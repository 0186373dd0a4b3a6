"""HubSpot end to end: `lastmile hubspot setup`, then `lastmile serve` (gunicorn, its own
process, a config file of the lines the HubSpot sandbox prints) receives the sandbox's signed
webhook batches, and the example pack's default, prompt and follow-up task land in the sandbox;
`lastmile report` measures it; a bad signature is 401 and stores nothing; a rule on a number and
a date matches values that arrive as text (typed by their properties' types). Both as a private
app (an access token) and as a public app (OAuth, with access tokens that expire within a
second)."""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from hubspot_support import LARGE_DEALS
from launch import LASTMILE, clean_env, free_port, lastmile_serve, write_config
from waiting import wait_for

from lastmile.connector.hubspot_sandbox import HubSpotSandbox
from lastmile.connector.hubspot_sandbox.sandbox import SALES_OWNER_ID

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "admin-" + secrets.token_hex(8)


@dataclass
class Served:
    url: str
    sandbox: HubSpotSandbox
    config: Path
    env: dict[str, str]

    def events(self) -> list[dict]:
        answer = requests.get(
            self.url + "/api/events?limit=1000",
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=10,
        )
        return answer.json()["events"]

    def idle(self) -> bool:
        """Every webhook delivered and every event processed."""
        if self.sandbox.webhooks.pending:
            return False
        return all(e["status"] in ("done", "dead") for e in self.events())

    def run(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [LASTMILE, *args, "--config", str(self.config)],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )


@pytest.fixture(scope="module", params=["private app", "public app"])
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    oauth = request.param == "public app"
    base = tmp_path_factory.mktemp("hubspot-serve")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    sandbox = HubSpotSandbox(
        base / "sandbox",
        webhook_url=url + "/webhooks/hubspot",
        retry_s=0.2,
        token_lifetime_s=1,  # a public app's access tokens expire while the test runs
    )
    sandbox.start()
    rules = base / "rules"
    rules.mkdir()
    shutil.copy(ROOT / "examples" / "hubspot" / "deals.yaml", rules / "deals.yaml")
    (rules / "large-deals.yaml").write_text(LARGE_DEALS)
    config = write_config(base, sandbox.settings(oauth=oauth), TOKEN)
    env = clean_env()
    setup = subprocess.run(
        [LASTMILE, "hubspot", "setup", "--config", str(config)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert setup.returncode == 0, setup.stderr
    assert setup.stdout.split() == [
        "deals.lastmile_prompt:",
        "created",
        "tasks.lastmile_key:",
        "created",
    ]
    try:
        # a loaded machine: gunicorn, the migrations, the rules
        with lastmile_serve(config, port, cwd=base, ready_within=60):
            yield Served(url, sandbox, config, env)
    finally:
        sandbox.stop()


def test_a_won_deal_gets_its_prompt_and_task_and_is_measured(served: Served) -> None:
    sandbox = served.sandbox
    deal = sandbox.save_as_user(
        "deals",
        {
            "dealname": "Acme renewal",
            "dealstage": "contractsent",
            "hubspot_owner_id": SALES_OWNER_ID,
        },
    ).id
    # new-deal-type: a deal created without a type is new business.
    wait_for(
        lambda: sandbox.portal.get("deals", deal).properties.get("dealtype") == "newbusiness", 60
    )
    wait_for(served.idle, 60)

    sandbox.save_as_user("deals", {"dealstage": "closedwon"}, record_id=deal)
    prompt = wait_for(lambda: sandbox.portal.get("deals", deal).properties.get("lastmile_prompt"))
    assert prompt == "Deal won: fill in Closed won reason and Next step."
    (task,) = wait_for(lambda: sandbox.tasks_of("deals", deal))
    assert task.properties["hs_task_subject"] == "Schedule the kick-off: Acme renewal"
    assert task.properties["hubspot_owner_id"] == SALES_OWNER_ID
    assert task.properties["hs_task_priority"] == "HIGH"
    assert task.properties["lastmile_key"].startswith(f"kick-off-after-close:{deal}:")

    # The owner fills in what was asked: the prompt is cleared, no second task.
    done = {"closed_won_reason": "Best price", "hs_next_step": "Kick-off on Monday"}
    sandbox.save_as_user("deals", done, record_id=deal)
    wait_for(lambda: not sandbox.portal.get("deals", deal).properties.get("lastmile_prompt"))
    wait_for(served.idle)
    assert len(sandbox.tasks_of("deals", deal)) == 1
    # Lastmile's own writes came back as webhooks too, and caused no writes.
    assert all(e["status"] == "done" for e in served.events())

    report = served.run("report", "--json")
    assert report.returncode == 0, report.stderr
    figures = json.loads(report.stdout)
    (won,) = [r for r in figures["rules"] if r["rule"] == "closed-won-essentials"]
    assert (won["occasions"], won["met_after_prompt"], won["missed"]) == (1, 1, 0)
    assert won["fields_missing"] == {"closed_won_reason": 1, "hs_next_step": 1}
    (default,) = [d for d in figures["defaults"] if d["rule"] == "new-deal-type"]
    assert (default["field"], default["applied"]) == ("dealtype", 1)
    if "LASTMILE_HUBSPOT_REFRESH_TOKEN" in served.config.read_text():
        # setup's token, then the receiver's, refreshed as they ran out
        assert len(sandbox.oauth.issued) >= 3
    else:
        assert sandbox.oauth.issued == []


def test_a_bad_signature_is_401_and_stores_nothing(served: Served) -> None:
    before = len(served.events())
    body = json.dumps(
        [
            {
                "eventId": 1,
                "subscriptionType": "deal.creation",
                "objectId": 1,
                "occurredAt": int(time.time() * 1000),
            }
        ]
    )
    answer = requests.post(
        served.url + "/webhooks/hubspot",
        data=body,
        headers={
            "Content-Type": "application/json",
            "X-HubSpot-Request-Timestamp": str(int(time.time() * 1000)),
            "X-HubSpot-Signature-v3": "bm90IGEgc2lnbmF0dXJl",
        },
        timeout=10,
    )
    assert answer.status_code == 401
    assert len(served.events()) == before


def test_a_number_and_a_date_arriving_as_text_are_compared_as_such(served: Served) -> None:
    sandbox = served.sandbox

    def types_known() -> bool:
        ready = requests.get(served.url + "/readyz", timeout=10).json()
        return "deals" in ready["values"]["objects"]

    wait_for(types_known, 60)  # fetched through the properties API when the service starts
    values = {"dealstage": "contractsent", "closedate": "2026-12-01T00:00:00Z"}
    large = sandbox.save_as_user("deals", {**values, "dealname": "Large", "amount": "1500.00"}).id
    small = sandbox.save_as_user("deals", {**values, "dealname": "Small", "amount": "900"}).id
    description = wait_for(lambda: sandbox.portal.get("deals", large).properties.get("description"))
    assert description == "Large deal closing this year"
    wait_for(served.idle, 60)
    assert sandbox.portal.get("deals", small).properties.get("description") is None
