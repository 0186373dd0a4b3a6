"""The receiver over real HTTP on loopback, as Salesforce and a signing sender reach it."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import pytest
import requests
from webhook_support import CALL_TASK, NEW_OPPORTUNITY, event_json, outbound_message, sign
from werkzeug.serving import make_server


@pytest.fixture
def base_url(make_app) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, make_app(), threaded=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(5)


def test_an_outbound_message_over_http_is_acked_after_it_is_stored(base_url, inbox):
    response = requests.post(
        f"{base_url}/webhooks/salesforce",
        data=outbound_message(CALL_TASK, NEW_OPPORTUNITY).encode(),
        headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'},
        timeout=10,
    )
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/xml; charset=utf-8"
    assert b"<Ack>true</Ack>" in response.content
    assert response.headers["X-Request-Id"]
    assert [e.id for e in inbox.events] == ["sfom:04l7Q00000Kc1AaQAJ", "sfom:04l7Q00000Kc1AbQAJ"]


def test_a_signed_event_over_http(base_url, inbox, secret):
    body = json.dumps(event_json())
    response = requests.post(
        f"{base_url}/webhooks/events",
        data=body,
        headers={"Content-Type": "application/json", **sign(body, secret)},
        timeout=10,
    )
    assert response.status_code == 202
    assert response.json()["new"] == 1


def test_a_chunked_body_over_the_limit_is_413_over_http(base_url, inbox):
    def chunks():  # 3 MB in 64 KB chunks, no Content-Length: Transfer-Encoding chunked
        for _ in range(48):
            yield b"<" * 65_536

    response = requests.post(
        f"{base_url}/webhooks/salesforce",
        data=chunks(),
        headers={"Content-Type": "text/xml"},
        timeout=10,
    )
    assert response.status_code == 413
    assert b"soapenv:Fault" in response.content
    assert inbox.calls == []
