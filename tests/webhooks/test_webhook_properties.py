"""Whatever arrives, the receiver answers without a 5xx, and stores nothing it refused."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from webhook_support import (
    CALL_TASK,
    NEW_OPPORTUNITY,
    MemoryInbox,
    event_json,
    new_secret,
    outbound_message,
    sign,
)

from lastmile.settings import Settings
from lastmile.webhooks import create_app

SECRET = new_secret()
INBOX = MemoryInbox()
CLIENT = create_app(
    Settings(salesforce_org_ids=["00D7Q000004SaLeUAK"], webhook_secret=SECRET), INBOX
).test_client()
SAMPLE = outbound_message(CALL_TASK, NEW_OPPORTUNITY)
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


def _check(response, stored_before: int) -> None:
    assert response.status_code < 500, response.data[:300]
    if response.status_code >= 400:
        assert len(INBOX.rows) == stored_before


def _soap(body: bytes, content_type: str = "text/xml; charset=utf-8") -> None:
    before = len(INBOX.rows)
    _check(CLIENT.post("/webhooks/salesforce", data=body, content_type=content_type), before)


def _events(body: bytes, headers: dict[str, str]) -> None:
    before = len(INBOX.rows)
    response = CLIENT.post(
        "/webhooks/events", data=body, content_type="application/json", headers=headers
    )
    _check(response, before)


@FAST
@given(st.binary(max_size=2_000), st.sampled_from(["text/xml", "application/json", "", "a/b"]))
def test_random_bytes_to_the_salesforce_endpoint(body, content_type):
    _soap(body, content_type)


@FAST
@given(st.integers(0, len(SAMPLE)), st.integers(0, 200), st.text(max_size=60))
def test_a_damaged_outbound_message(start, length, insert):
    _soap((SAMPLE[:start] + insert + SAMPLE[start + length :]).encode("utf-8", "surrogatepass"))


@FAST
@given(st.binary(max_size=2_000), st.booleans())
def test_random_bytes_to_the_events_endpoint_signed_or_not(body, signed):
    headers = {"webhook-id": "m", "webhook-timestamp": "1", "webhook-signature": "v1,x"}
    try:
        text = body.decode()
    except UnicodeDecodeError:
        signed = False
    _events(body, sign(text, SECRET) if signed else headers)


@FAST
@given(json_values)
def test_any_signed_json_value(value):
    text = json.dumps(value)
    _events(text.encode(), sign(text, SECRET))


@FAST
@given(
    st.dictionaries(st.sampled_from(sorted(event_json())), json_values, min_size=1, max_size=4),
    st.booleans(),
)
def test_signed_events_with_random_parts(overrides, as_list):
    event = {**event_json(), **overrides}
    text = json.dumps([event] if as_list else event)
    _events(text.encode(), sign(text, SECRET))


@FAST
@given(st.text(alphabet='[]{}",:\\ 1a', max_size=3_000))
def test_signed_bracket_soup(text):
    _events(text.encode(), sign(text, SECRET))
