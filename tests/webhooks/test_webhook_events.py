"""POST /webhooks/events: signed RecordEvent JSON, one or a list, stored all or none."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from webhook_support import event_json, new_secret, post_events, sign


def test_a_signed_event_is_stored_and_answered_with_its_inbox_id(client, inbox, secret, dispatched):
    response = post_events(client, event_json(), secret)

    assert response.status_code == 202
    assert response.json == {
        "received": 1,
        "new": 1,
        "events": [{"id": "evt-1", "inbox_id": 1, "new": True}],
    }
    (event,) = inbox.events
    assert event.source == "crm-flow"
    assert event.object == "Opportunity"
    assert event.occurred_at == datetime(2026, 11, 24, 10, tzinfo=UTC)
    assert event.fields == {"StageName": "Closed Won", "NextStep": None, "Amount": 1200.5}
    assert event.changed == ("StageName",)
    assert dispatched == [[1]]


def test_a_list_is_stored_in_one_call_and_a_resend_is_no_new_event(client, inbox, secret):
    events = [event_json(id=f"evt-{n}", record_id=f"0067Q00000Jk9s{n}QAR") for n in range(3)]
    first = post_events(client, events, secret)
    again = post_events(client, events, secret, msg_id="msg_2")

    assert first.status_code == again.status_code == 202
    assert [e["new"] for e in first.json["events"]] == [True, True, True]
    assert again.json["new"] == 0
    assert [len(call) for call in inbox.calls] == [3, 3]
    assert [e.id for e in inbox.events] == ["evt-0", "evt-1", "evt-2"]


def test_one_invalid_event_in_a_list_refuses_all_and_lists_pydantic_locations(
    client, inbox, secret
):
    events = [
        event_json(id="evt-ok"),
        event_json(id="evt-bad", kind="merged", occurred_at="2026-11-24T10:00:00"),
        "not an object",
        event_json(id="evt-extra", colour="crimson-77", fields={"Nested": {"a": 1}}),
    ]
    response = post_events(client, events, secret)

    assert response.status_code == 400
    assert response.json["error"] == "invalid_event"
    locations = [problem["loc"] for problem in response.json["problems"]]
    assert [1, "kind"] in locations
    assert [1, "occurred_at"] in locations
    assert [2] in locations
    assert [3, "colour"] in locations
    assert any(loc[:3] == [3, "fields", "Nested"] for loc in locations)
    assert "crimson-77" not in response.get_data(as_text=True)  # locations, not the values sent
    assert inbox.calls == []


def test_a_single_invalid_event_has_locations_without_an_index(client, inbox, secret):
    response = post_events(client, event_json(object="Bad Name", record_id=""), secret)
    assert response.status_code == 400
    assert sorted(p["loc"] for p in response.json["problems"]) == [["object"], ["record_id"]]
    assert inbox.calls == []


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ("{", "invalid_json"),
        ('{"id": NaN}', "invalid_json"),
        ("[]", "invalid_body"),
        ("12", "invalid_event"),
        ('{"a": ' + "1" * 5000 + "}", "invalid_json"),
    ],
    ids=["truncated", "nan", "empty-list", "number", "huge-int"],
)
def test_bodies_that_are_no_events_get_400(client, inbox, secret, body, error):
    response = post_events(client, body, secret)
    assert response.status_code == 400
    assert response.json["error"] == error
    assert response.json["message"]
    assert inbox.calls == []


def test_a_body_that_is_not_utf8_gets_400(client, inbox, secret):
    response = client.post(
        "/webhooks/events",
        data=b'{"id": "\xff"}',
        content_type="application/json",
        headers=sign("x", secret),
    )
    assert response.status_code == 400
    assert inbox.calls == []


def test_a_form_body_gets_415(client, inbox, secret):
    body = "id=evt-1"
    response = client.post(
        "/webhooks/events",
        data=body,
        content_type="application/x-www-form-urlencoded",
        headers=sign(body, secret),
    )
    assert response.status_code == 415
    assert response.json["error"] == "unsupported_media_type"
    assert inbox.calls == []


def test_a_cloudevents_style_json_media_type_is_accepted(client, inbox, secret):
    body = json.dumps(event_json())
    response = client.post(
        "/webhooks/events",
        data=body,
        content_type="application/vnd.lastmile+json; charset=utf-8",
        headers=sign(body, secret),
    )
    assert response.status_code == 202


# Signatures ------------------------------------------------------------------------------


def _signed(secret, **options):
    body = json.dumps(event_json())
    return body, sign(body, secret, **options)


def _post(client, body, headers):
    return client.post(
        "/webhooks/events", data=body, content_type="application/json", headers=headers
    )


@pytest.mark.parametrize(
    "damage",
    [
        lambda body, h: (body, {k: v for k, v in h.items() if k != "webhook-signature"}),
        lambda body, h: (body, {k: v for k, v in h.items() if k != "webhook-timestamp"}),
        lambda body, h: (body, {k: v for k, v in h.items() if k != "webhook-id"}),
        lambda body, h: (body.replace("Closed Won", "Closed Lost"), h),
        lambda body, h: (body, {**h, "webhook-id": "msg_other"}),
        lambda body, h: (body, {**h, "webhook-signature": "v1,AAAA"}),
        lambda body, h: (body, {**h, "webhook-signature": "v1"}),
        lambda body, h: (body, {**h, "webhook-signature": "v1,***"}),
        lambda body, h: (body, {**h, "webhook-signature": "v2," + h["webhook-signature"][3:]}),
        lambda body, h: (body, {**h, "webhook-timestamp": "yesterday"}),
        lambda body, h: (body, {**h, "webhook-timestamp": "1e400"}),
    ],
    ids=[
        "no-signature",
        "no-timestamp",
        "no-id",
        "body-changed",
        "id-changed",
        "wrong-signature",
        "no-comma",
        "not-base64",
        "unknown-version",
        "timestamp-text",
        "timestamp-huge",
    ],
)
def test_bad_or_missing_signatures_get_401(client, inbox, secret, damage):
    body, headers = damage(*_signed(secret))
    response = _post(client, body, headers)
    assert response.status_code == 401
    assert response.json["error"] in ("bad_signature", "missing_signature")
    assert inbox.calls == []


def test_a_signature_by_another_secret_gets_401(client, inbox):
    response = _post(client, *_signed(new_secret()))
    assert response.status_code == 401
    assert inbox.calls == []


@pytest.mark.parametrize(
    ("shift", "says"),
    [(timedelta(minutes=-6), "too old"), (timedelta(minutes=6), "too new")],
    ids=["stale", "future"],
)
def test_timestamps_outside_five_minutes_get_401(client, inbox, secret, shift, says):
    response = _post(client, *_signed(secret, at=datetime.now(UTC) + shift))
    assert response.status_code == 401
    assert says in response.json["message"]
    assert inbox.calls == []


def test_a_replay_of_a_once_valid_request_outside_the_tolerance_gets_401(client, inbox, secret):
    sent_at = datetime.now(UTC) - timedelta(minutes=10)
    body, headers = _signed(secret, at=sent_at)  # captured ten minutes ago, sent again now
    assert _post(client, body, headers).status_code == 401
    assert inbox.calls == []


def test_within_the_tolerance_a_request_four_minutes_old_is_accepted(client, inbox, secret):
    response = _post(client, *_signed(secret, at=datetime.now(UTC) - timedelta(minutes=4)))
    assert response.status_code == 202


def test_key_rotation_accepts_either_configured_secret(make_app, inbox):
    old, new = new_secret(), new_secret()
    client = make_app(webhook_secret=f"{old}, {new}").test_client()

    for n, secret in enumerate((old, new)):
        body = json.dumps(event_json(id=f"evt-{n}"))
        assert _post(client, body, sign(body, secret)).status_code == 202
    assert _post(client, *_signed(new_secret())).status_code == 401
    assert len(inbox.events) == 2


def test_a_sender_may_sign_with_several_keys_at_once(client, inbox, secret):
    body = json.dumps(event_json())
    now = datetime.now(UTC)
    ours = sign(body, secret, at=now)["webhook-signature"]
    theirs = sign(body, new_secret(), at=now)["webhook-signature"]
    headers = {**sign(body, secret, at=now), "webhook-signature": f"{theirs} {ours}"}
    assert _post(client, body, headers).status_code == 202


def test_without_a_secret_the_endpoint_refuses_and_says_it_is_not_configured(make_app, inbox):
    client = make_app(webhook_secret=None).test_client()
    response = post_events(client, event_json(), new_secret())
    assert response.status_code == 403
    assert response.json["error"] == "not_configured"
    assert "LASTMILE_WEBHOOK_SECRET" in response.json["message"]
    assert inbox.calls == []


def test_a_secret_that_is_not_base64_fails_when_the_app_is_built(make_app):
    from lastmile.webhooks import BadSettings

    with pytest.raises(BadSettings, match="secret 2 of 2") as caught:
        make_app(webhook_secret="whsec_c2VjcmV0 whsec_abcde")
    assert "abcde" not in str(caught.value)


def test_inbox_failure_is_503_json_and_nothing_dispatched(client, inbox, secret, dispatched):
    inbox.fail = RuntimeError("database is locked")
    response = post_events(client, event_json(), secret)
    assert response.status_code == 503
    assert response.json["error"] == "unavailable"
    assert response.headers["Retry-After"]
    assert dispatched == []
