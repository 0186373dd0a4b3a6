"""Outbound Messages as Salesforce sends them: the SOAP envelope (parsed with defusedxml),
batching, retries until the Ack, redelivery, and a queue that survives a restart."""

from __future__ import annotations

import time

import defusedxml.ElementTree as SafeET
from sandbox_helpers import start

SOAP = "{http://schemas.xmlsoap.org/soap/envelope/}"
OM = "{http://soap.sforce.com/2005/09/outbound}"
SF = "{urn:sobject.enterprise.soap.sforce.com}"
XSI = "{http://www.w3.org/2001/XMLSchema-instance}"


def notifications(body: bytes) -> tuple[SafeET.Element, list]:
    root = SafeET.fromstring(body)
    assert root.tag == f"{SOAP}Envelope"
    message = root.find(f"{SOAP}Body/{OM}notifications")
    assert message is not None
    return message, message.findall(f"{OM}Notification")


def fields_of(notification) -> dict[str, str | None]:
    sobject = notification.find(f"{OM}sObject")
    values = {}
    for element in sobject:
        assert element.tag.startswith(SF), element.tag
        nil = element.get(f"{XSI}nil") == "true"
        values[element.tag[len(SF) :]] = None if nil else element.text
    return values


def wait_until(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_a_save_sends_the_soap_envelope_salesforce_sends(sandbox, receiver):
    action_id = sandbox.outbound("Task", receiver.url)
    task_id = sandbox.save_as(
        sandbox.sales_user_id,
        "Task",
        {"Subject": "Hypotheekgesprek <fam. Jansen>", "Type": "Call", "Status": "Completed",
         "CallDurationInSeconds": 1260, "ActivityDate": "2026-01-08"},
    )  # fmt: skip
    body = receiver.wait_for(1)[0]
    headers = {k.lower(): v for k, v in receiver.headers[0].items()}
    assert headers["content-type"] == "text/xml; charset=utf-8"
    assert headers["soapaction"] == '""'
    message, items = notifications(body)
    assert message.find(f"{OM}OrganizationId").text == sandbox.org_id
    assert message.find(f"{OM}ActionId").text == action_id and action_id.startswith("04k")
    # "Send Session ID" ticked: a live session of the org, of the user it is sent as.
    session_id = message.find(f"{OM}SessionId").text
    assert session_id.startswith(f"{sandbox.org_id[:15]}!")
    assert sandbox.store.session_user(session_id) == sandbox.integration_user_id
    org15 = sandbox.org_id[:15]
    assert message.find(f"{OM}EnterpriseUrl").text.endswith(f"/services/Soap/c/62.0/{org15}")
    assert message.find(f"{OM}PartnerUrl").text.endswith(f"/services/Soap/u/62.0/{org15}")
    assert len(items) == 1
    notification_id = items[0].find(f"{OM}Id").text
    assert notification_id.startswith("04l") and len(notification_id) == 18
    assert items[0].find(f"{OM}sObject").get(f"{XSI}type") == "sf:Task"
    values = fields_of(items[0])
    assert next(iter(values)) == "Id" and values["Id"] == task_id
    assert values["Subject"] == "Hypotheekgesprek <fam. Jansen>"
    assert values["CallDurationInSeconds"] == "1260"
    assert values["Outcome__c"] is None and values["Description"] is None
    assert values["LastModifiedById"] == sandbox.sales_user_id
    assert values["CreatedDate"] == values["LastModifiedDate"]
    assert values["CreatedDate"].endswith(".000Z")
    wait_until(lambda: sandbox.outbound_pending() == 0)


def test_chosen_fields_and_api_writes_are_sent_too(sandbox, sf, receiver):
    sandbox.outbound("Opportunity", receiver.url, fields=["stagename", "LastModifiedById"])
    sandbox.outbound("Account", receiver.url, fields=["Name"])
    record_id = sf.Opportunity.create(
        {"Name": "Deal", "StageName": "Prospecting", "CloseDate": "2026-12-31"}
    )["id"]
    values = fields_of(notifications(receiver.wait_for(1)[0])[1][0])
    assert values == {
        "Id": record_id,
        "StageName": "Prospecting",
        "LastModifiedById": sandbox.integration_user_id,
    }
    sf.Lead.create({"LastName": "x", "Company": "y"})  # Lead sends nothing
    sf.Account.create({"Name": "Acme"})
    _, items = notifications(receiver.wait_for(2)[1])
    assert items[0].find(f"{OM}sObject").get(f"{XSI}type") == "sf:Account"


def test_one_transaction_of_records_is_one_message(sandbox, api, receiver):
    sandbox.outbound("Account", receiver.url)
    records = [{"attributes": {"type": "Account"}, "Name": f"A{i}"} for i in range(3)]
    api.post(
        f"{sandbox.instance_url}/services/data/v62.0/composite/sobjects", json={"records": records}
    )
    _, items = notifications(receiver.wait_for(1)[0])
    assert [fields_of(item)["Name"] for item in items] == ["A0", "A1", "A2"]
    assert len({item.find(f"{OM}Id").text for item in items}) == 3


def test_unacknowledged_messages_are_retried_with_the_same_ids(sandbox, receiver):
    receiver.refuse = 2
    sandbox.outbound("Case", receiver.url)
    sandbox.save_as(sandbox.sales_user_id, "Case", {"Subject": "Dossier"})
    bodies = receiver.wait_for(3)
    ids = [notifications(b)[1][0].find(f"{OM}Id").text for b in bodies]
    assert len(bodies) == 3 and len(set(ids)) == 1
    wait_until(lambda: sandbox.outbound_pending() == 0)
    time.sleep(0.3)  # longer than the retry cap: an acknowledged message is not sent again
    assert len(receiver.bodies) == 3


def test_duplicate_share_delivers_a_notification_twice(sandbox, receiver):
    sandbox.faults.set(duplicate_share=1.0, seed=3)
    sandbox.outbound("Lead", receiver.url)
    sandbox.save_as(sandbox.sales_user_id, "Lead", {"LastName": "Schmidt", "Company": "x"})
    bodies = receiver.wait_for(2)
    wait_until(lambda: sandbox.outbound_pending() == 0)
    first, second = (notifications(b)[1][0].find(f"{OM}Id").text for b in bodies[:2])
    assert first == second
    time.sleep(0.3)
    assert len(receiver.bodies) == 2  # twice, not forever


def test_queued_notifications_survive_a_restart(tmp_path, receiver):
    receiver.close()  # nobody listens: deliveries fail and stay queued
    sb = start(tmp_path / "crm")
    sb.outbound("Task", receiver.url)
    task_id = sb.save_as(sb.sales_user_id, "Task", {"Subject": "Bellen"})
    time.sleep(0.1)
    assert sb.outbound_pending() == 1
    sb.stop()

    from sandbox_helpers import Receiver

    listening = Receiver()
    try:
        again = start(tmp_path / "crm")
        try:
            again.outbound("Task", listening.url)  # the admin points the endpoint elsewhere
            assert again.outbound_pending() == 1
            again.save_as(again.sales_user_id, "Task", {"Status": "Completed"}, task_id)
            bodies = listening.wait_for(1)
            wait_until(lambda: again.outbound_pending() == 0 or len(listening.bodies) >= 2)
        finally:
            again.stop()
    finally:
        listening.close()
    delivered = [fields_of(n) for b in listening.bodies for n in notifications(b)[1]]
    assert bodies and {v["Id"] for v in delivered} == {task_id}
