"""Stock hubspot-api-client against the HubSpot sandbox: create, read, update, search, batch
upsert by a unique property, associate a task with a deal; errors and limits as HubSpot's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests
from hubspot import HubSpot
from hubspot.crm.objects import (
    PublicObjectSearchRequest,
    SimplePublicObjectInput,
    SimplePublicObjectInputForCreate,
)
from hubspot.crm.objects.exceptions import ApiException, NotFoundException, UnauthorizedException
from hubspot.crm.properties import PropertyCreate
from hubspot_support import stock_client

from lastmile.connector.hubspot_sandbox import HubSpotSandbox


def deal(client: HubSpot, **props: str) -> str:
    made = client.crm.objects.basic_api.create(
        "deals", SimplePublicObjectInputForCreate(properties=props)
    )
    return made.id


def test_create_read_update_search(client: HubSpot) -> None:
    deal_id = deal(client, dealname="Initech upgrade", dealstage="contractsent", amount="1200")
    read = client.crm.objects.basic_api.get_by_id(
        "deals", deal_id, properties=["dealname", "dealstage"]
    )
    assert read.properties["dealname"] == "Initech upgrade"
    assert read.properties["dealstage"] == "contractsent"
    before = read.updated_at

    updated = client.crm.objects.basic_api.update(
        "deals", deal_id, SimplePublicObjectInput(properties={"dealstage": "closedwon"})
    )
    assert updated.properties["dealstage"] == "closedwon"
    assert updated.updated_at > before
    again = client.crm.objects.basic_api.get_by_id("deals", deal_id, properties=["dealstage"])
    assert again.properties["hs_lastmodifieddate"].endswith("Z")

    found = client.crm.objects.search_api.do_search(
        "deals",
        PublicObjectSearchRequest(
            filter_groups=[
                {
                    "filters": [
                        {"propertyName": "dealstage", "operator": "EQ", "value": "closedwon"},
                        {"propertyName": "amount", "operator": "GTE", "value": "1000"},
                    ]
                }
            ],
            properties=["dealname"],
        ),
    )
    assert deal_id in [r.id for r in found.results]
    assert found.total == len(found.results)


def test_batch_upsert_by_a_unique_property(client: HubSpot) -> None:
    client.crm.properties.core_api.create(
        "tasks",
        PropertyCreate(
            name="external_key",
            label="External key",
            type="string",
            field_type="text",
            group_name="info",
            has_unique_value=True,
        ),
    )
    body = {
        "inputs": [
            {"idProperty": "external_key", "id": "k-1", "properties": {"hs_task_subject": "A"}},
            {"idProperty": "external_key", "id": "k-2", "properties": {"hs_task_subject": "B"}},
        ]
    }
    first = client.crm.objects.batch_api.upsert("tasks", body)
    assert sorted(r.new for r in first.results) == [True, True]
    body["inputs"][0]["properties"]["hs_task_subject"] = "A2"
    second = client.crm.objects.batch_api.upsert("tasks", body)
    assert [r.new for r in second.results] == [False, False]
    assert {r.id for r in second.results} == {r.id for r in first.results}
    task_a = next(r.id for r in second.results if r.properties["external_key"] == "k-1")
    read = client.crm.objects.basic_api.get_by_id("tasks", task_a, properties=["hs_task_subject"])
    assert read.properties["hs_task_subject"] == "A2"


def test_a_task_associated_with_a_deal(client: HubSpot) -> None:
    deal_id = deal(client, dealname="Hooli", dealstage="qualifiedtobuy")
    task = client.crm.objects.basic_api.create(
        "tasks", SimplePublicObjectInputForCreate(properties={"hs_task_subject": "Call Hooli"})
    )
    client.crm.associations.v4.basic_api.create_default("tasks", task.id, "deals", deal_id)
    page = client.crm.associations.v4.basic_api.get_page("deals", deal_id, "tasks")
    assert [str(r.to_object_id) for r in page.results] == [task.id]
    back = client.crm.associations.v4.basic_api.get_page("tasks", task.id, "deals")
    assert [str(r.to_object_id) for r in back.results] == [deal_id]
    assert back.results[0].association_types[0].type_id == 216  # task to deal


def test_errors_carry_hubspot_s_body(client: HubSpot, sandbox: HubSpotSandbox) -> None:
    with pytest.raises(NotFoundException) as missing:
        client.crm.objects.basic_api.get_by_id("deals", "999999999")
    body = json.loads(missing.value.body)
    assert body["status"] == "error" and body["category"] == "OBJECT_NOT_FOUND"
    assert body["correlationId"] and body["message"]

    with pytest.raises(ApiException) as invalid:
        client.crm.objects.basic_api.create(
            "deals", SimplePublicObjectInputForCreate(properties={"no_such_property": "x"})
        )
    assert invalid.value.status == 400
    body = json.loads(invalid.value.body)
    assert body["category"] == "VALIDATION_ERROR"
    assert body["errors"][0]["context"]["propertyName"] == ["no_such_property"]

    with pytest.raises(UnauthorizedException):
        stock_client(sandbox, token="pat-wrong").crm.objects.basic_api.get_page("deals")


def test_rate_limit_headers_and_429(tmp_path: Path) -> None:
    with HubSpotSandbox(tmp_path, burst_limit=3) as small:
        headers = {"Authorization": f"Bearer {small.access_token}"}
        url = f"{small.base_url}/crm/v3/objects/deals"
        answers = [requests.get(url, headers=headers, verify=small.ca_bundle) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[0].headers["X-HubSpot-RateLimit-Max"] == "3"
    assert answers[2].headers["X-HubSpot-RateLimit-Remaining"] == "0"
    assert int(answers[0].headers["X-HubSpot-RateLimit-Daily-Remaining"]) > 0
    refused = answers[3]
    assert int(refused.headers["Retry-After"]) >= 1
    assert refused.json()["policyName"] == "TEN_SECONDLY_ROLLING"
    assert refused.json()["category"] == "RATE_LIMITS"


def test_malformed_input_is_a_400_with_hubspot_s_body(sandbox: HubSpotSandbox) -> None:
    headers = {"Authorization": f"Bearer {sandbox.access_token}"}
    base = sandbox.base_url
    answers = [
        requests.get(
            f"{base}/crm/v3/objects/deals?limit=many", headers=headers, verify=sandbox.ca_bundle
        ),
        requests.post(
            f"{base}/crm/v3/objects/deals/batch/read",
            json={"inputs": [7]},
            headers=headers,
            verify=sandbox.ca_bundle,
        ),
        requests.post(
            f"{base}/crm/v3/objects/deals/batch/read",
            data="{",
            headers=headers,
            verify=sandbox.ca_bundle,
        ),
        requests.post(
            f"{base}/crm/v3/objects/unicorns/search",
            json={},
            headers=headers,
            verify=sandbox.ca_bundle,
        ),
    ]
    assert [a.status_code for a in answers] == [400, 400, 400, 400]
    assert {a.json()["category"] for a in answers} == {"VALIDATION_ERROR"}
    assert all(a.json()["correlationId"] for a in answers)
