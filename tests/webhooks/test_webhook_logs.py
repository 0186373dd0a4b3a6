"""Logs: JSON lines, the request id on every line of a request, never a field value."""

from __future__ import annotations

import io
import json
import logging

import pytest
import structlog
from flask import Blueprint
from webhook_support import (
    CALL_TASK,
    event_json,
    notification,
    outbound_message,
    post_events,
    post_soap,
)

from lastmile.logs import configure_logging

SECRET_VALUE = "Geheim-Jansen-4711"


@pytest.fixture
def lines():
    """Log output as parsed JSON lines (read it by calling the fixture's value)."""
    buffer = io.StringIO()
    configure_logging("debug", stream=buffer)
    yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines()]
    structlog.reset_defaults()
    root = logging.getLogger()
    for handler in [h for h in root.handlers if h.name == "lastmile-json"]:
        root.removeHandler(handler)


def _task_with_secret_values() -> str:
    return notification(
        "04l7Q00000Kc1AcQAJ",
        "Task",
        f"""<sf:Id>00T7Q00000Lm3bCUAR</sf:Id>
        <sf:Subject>{SECRET_VALUE}</sf:Subject>
        <sf:Description>{SECRET_VALUE} belt terug</sf:Description>
        <sf:LastModifiedDate>2026-01-09T15:20:00.000Z</sf:LastModifiedDate>""",
    )


def test_every_line_of_a_request_carries_its_request_id(client, lines):
    response = post_soap(client, outbound_message(CALL_TASK, _task_with_secret_values()))
    assert response.status_code == 200
    request_id = response.headers["X-Request-Id"]
    assert len(request_id) == 32

    logged = lines()
    stored = [line for line in logged if line["event"] == "events_stored"]
    assert stored and stored[0]["event_ids"] == [
        "sfom:04l7Q00000Kc1AaQAJ",
        "sfom:04l7Q00000Kc1AcQAJ",
    ]
    assert all(line["request_id"] == request_id for line in logged)
    assert all(line["level"] and line["timestamp"] for line in logged)


def test_a_plain_incoming_request_id_is_kept_and_anything_else_replaced(client, lines):
    kept = post_soap(client, "<a/>", headers={"X-Request-Id": "sf-retry.42"})
    replaced = post_soap(client, "<a/>", headers={"X-Request-Id": "x\u00e9 {evil}"})
    assert kept.headers["X-Request-Id"] == "sf-retry.42"
    assert replaced.headers["X-Request-Id"] != "x\u00e9 {evil}"
    ids = [line["request_id"] for line in lines() if line["event"] == "webhook_refused"]
    assert ids == ["sf-retry.42", replaced.headers["X-Request-Id"]]
    assert "request_id" not in structlog.contextvars.get_contextvars()  # unbound afterwards


def test_no_field_value_reaches_the_logs_accepted_or_refused(client, inbox, secret, lines):
    post_soap(client, outbound_message(_task_with_secret_values()))
    post_soap(client, outbound_message(_task_with_secret_values(), org_id="00D7Q000009ZzZzUAK"))
    post_events(client, event_json(fields={"Subject": SECRET_VALUE}), secret)
    post_events(client, event_json(fields={"Subject": SECRET_VALUE}, kind=SECRET_VALUE), secret)
    post_events(client, event_json(fields={"Subject": SECRET_VALUE}), "whsec_" + "A" * 32)

    output = json.dumps(lines())
    assert len(inbox.events) == 2  # the values did travel: into the inbox, not the logs
    assert SECRET_VALUE not in output
    assert secret not in output
    refused = [line for line in lines() if line["event"] == "webhook_refused"]
    assert [line["status"] for line in refused] == [403, 400, 401]
    assert refused[1]["problems"] == ["kind"]


def test_an_unexpected_error_is_a_logged_500_with_the_request_id(make_app, lines):
    broken = Blueprint("broken", __name__)

    @broken.get("/broken")
    def fail():
        raise KeyError("some-key")

    client = make_app(blueprints=(broken,)).test_client()
    response = client.get("/broken", headers={"X-Request-Id": "req-500"})

    assert response.status_code == 500
    assert response.json["error"] == "internal_error"
    assert "req-500" in response.json["message"]
    (line,) = [line for line in lines() if line["event"] == "unexpected_error"]
    assert line["request_id"] == "req-500"
    assert line["level"] == "error"
    assert "KeyError" in line["exception"]


def test_standard_library_logs_are_json_lines_with_the_request_id_too(make_app, lines):
    noisy = Blueprint("noisy", __name__)

    @noisy.get("/noisy")
    def speak():
        logging.getLogger("some.library").warning("plain %s", "logging")
        return "ok"

    client = make_app(blueprints=(noisy,)).test_client()
    client.get("/noisy", headers={"X-Request-Id": "req-std"})
    (line,) = [line for line in lines() if line.get("logger") == "some.library"]
    assert line["event"] == "plain logging"
    assert line["request_id"] == "req-std"


def test_keys_that_carry_values_are_redacted(lines):
    structlog.get_logger("t").info("oops", fields={"Subject": SECRET_VALUE}, body=SECRET_VALUE)
    (line,) = lines()
    assert line["fields"] == line["body"] == "[redacted]"


def test_the_level_filters_and_an_unknown_level_is_refused(lines):
    configure_logging("warning", stream=io.StringIO())
    with pytest.raises(ValueError, match="unknown log level"):
        configure_logging("chatty")


def test_a_traceback_keeps_its_frames_but_not_a_message_that_may_quote_a_value(lines) -> None:
    buffer = io.StringIO()  # `lines` restores the logging set-up afterwards
    configure_logging("info", stream=buffer)
    log = structlog.get_logger("test")
    try:
        try:
            int("Jansen-Vertrouwelijk")
        except ValueError as exc:
            raise RuntimeError(f"could not read {exc}") from exc
    except RuntimeError:
        log.exception("processing failed")
    logging.getLogger("lib").exception("from the standard library", exc_info=ValueError("Jansen"))
    text = buffer.getvalue()
    assert "Jansen" not in text
    first, second = (json.loads(line) for line in text.splitlines())
    assert "test_webhook_logs.py" in first["exception"]  # the frames are there
    assert "builtins.RuntimeError (message left out" in first["exception"]
    assert second["exception"].endswith("LASTMILE_LOG_LEVEL=debug shows it)")
    configure_logging("debug", stream=buffer)
    log.exception("at debug", exc_info=ValueError("Jansen-debug"))
    assert "Jansen-debug" in buffer.getvalue().splitlines()[-1]
