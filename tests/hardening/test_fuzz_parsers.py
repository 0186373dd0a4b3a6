"""Property tests of the three parsers that read what outsiders write: whatever the input, the
SOAP parser, the JSON path and the rule-file loader refuse it only with their documented errors
(`Refused` subclasses; `RuleFileError`), and what they accept is well formed.

The coverage-guided side of the same properties is in `fuzz/` (atheris)."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime
from pathlib import Path
from xml.sax.saxutils import escape

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lastmile.rules.errors import RuleFileError
from lastmile.rules.loader import load_text
from lastmile.rules.records import RecordEvent
from lastmile.webhooks.errors import InvalidBody, Refused
from lastmile.webhooks.events import _parse_json, parse_events
from lastmile.webhooks.limits import check_json_depth
from lastmile.webhooks.soap import parse_message, to_events

ROOT = Path(__file__).resolve().parents[2]
PACKS = sorted((ROOT / "examples" / "rules").glob("*.yaml"))
RECEIVED = datetime(2026, 1, 1, tzinfo=UTC)
QUICK = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Text an XML 1.0 document can carry (no control characters, no lone surrogates).
xml_text = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufffe\uffff"),
    max_size=30,
)
field_names = st.from_regex(r"[A-Z][A-Za-z0-9_]{0,20}", fullmatch=True)


def soap(notifications: list[tuple[str, str, dict[str, str | None]]]) -> bytes:
    """An Outbound Message with (notification id, sObject type, {field: text or nil})."""
    parts = []
    for notification_id, sobject, fields in notifications:
        values = "".join(
            f'<sf:{name} xsi:nil="true"/>'
            if value is None
            else f"<sf:{name}>{escape(value)}</sf:{name}>"
            for name, value in fields.items()
        )
        parts.append(
            f"<Notification><Id>{escape(notification_id)}</Id>"
            f'<sObject xsi:type="sf:{sobject}" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">'
            f"{values}</sObject></Notification>"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>'
        '<notifications xmlns="http://soap.sforce.com/2005/09/outbound">'
        f"<OrganizationId>00D7Q000004SaLeUAK</OrganizationId>{''.join(parts)}"
        "</notifications></soapenv:Body></soapenv:Envelope>"
    ).encode()


def parse_soap(body: bytes) -> list[RecordEvent]:
    return to_events(parse_message(body, max_notifications=100), received_at=RECEIVED)


notification = st.tuples(
    xml_text,
    st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,30}", fullmatch=True) | xml_text,
    st.dictionaries(field_names, st.none() | xml_text, max_size=6).map(
        lambda f: {"Id": "00T7Q00000Lm3aBUAR", **f}
    )
    | st.dictionaries(field_names, st.none() | xml_text, max_size=6),
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(notification, min_size=1, max_size=4))
def test_any_outbound_message_gives_events_or_a_documented_refusal(notifications):
    try:
        events = parse_soap(soap(notifications))
    except Refused:
        return
    assert len(events) == len(notifications)
    for event, (_, _, fields) in zip(events, notifications, strict=True):
        assert event.id.startswith("sfom:")
        assert set(event.fields) <= set(fields)
        # a nil field is None, whatever else it is
        assert all(event.fields[name] is None for name, v in fields.items() if v is None)


@QUICK
@given(st.binary(max_size=3_000))
def test_any_bytes_to_the_soap_parser(body):
    with pytest.raises(Refused):  # no bytes of this size make a valid Outbound Message
        parse_soap(b"<?xml version='1.0'?><x>" + body)


@QUICK
@given(st.integers(0, 1_000), st.integers(0, 80), st.binary(max_size=40))
def test_a_damaged_envelope_at_the_parser(start, length, insert):
    body = soap([("04l7Q00000Kc1AaQAJ", "Task", {"Id": "00T7Q00000Lm3aBUAR", "N": "1.0E7"})])
    damaged = body[:start] + insert + body[start + length :]
    with contextlib.suppress(Refused):
        parse_soap(damaged)


def reference_depth(value: object) -> int:
    """Nesting depth of parsed JSON, for comparison with the one-pass scanner."""
    if isinstance(value, list):
        return 1 + max((reference_depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((reference_depth(v) for v in value.values()), default=0)
    return 0


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet='[]{}"\\ a', max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(alphabet='[]{}"\\a', max_size=4), inner, max_size=3)
    ),
    max_leaves=40,
)


@QUICK
@given(json_values, st.integers(0, 8))
def test_the_depth_scanner_agrees_with_the_parsed_depth(value, limit):
    text = json.dumps(value)
    if reference_depth(value) > limit:
        with pytest.raises(InvalidBody, match="nested deeper"):
            check_json_depth(text, limit)
    else:
        check_json_depth(text, limit)


@QUICK
@given(st.text(max_size=2_000))
def test_any_text_on_the_json_path(text):
    try:
        check_json_depth(text, 32)
        events = parse_events(_parse_json(text))
    except Refused:
        return
    assert events and all(isinstance(e, RecordEvent) for e in events)


EVENT_KEYS = ["id", "source", "object", "record_id", "kind", "occurred_at", "actor", "fields"]
leaf = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)


@QUICK
@given(st.lists(st.dictionaries(st.sampled_from(EVENT_KEYS), json_values | leaf), max_size=3))
def test_any_json_events_validate_or_are_refused_with_locations(items):
    try:
        events = parse_events(items)
    except Refused as exc:
        for problem in exc.problems:
            assert isinstance(problem["loc"][0], int)  # which event in the list
        return
    # accepted events survive a JSON round trip unchanged (what the inbox stores)
    for event in events:
        assert RecordEvent.model_validate_json(event.model_dump_json()) == event


@QUICK
@given(st.text(max_size=400))
def test_any_text_as_a_rule_file(text):
    try:
        load_text(text, "any.yaml")
    except RuleFileError as exc:
        assert exc.problems and all(p.path == "any.yaml" for p in exc.problems)


# Loading a whole pack takes ~0.2 s (durable_rules compiles it): few examples, any pack.
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_damaged_example_pack(data):
    pack = data.draw(st.sampled_from(PACKS))
    text = pack.read_text()
    start = data.draw(st.integers(0, len(text)))
    length = data.draw(st.integers(0, 60))
    insert = data.draw(st.text(alphabet=" :-[]{}!&*|>\n#'\"0aZ\t", max_size=12))
    damaged = text[:start] + insert + text[start + length :]
    lines = len(damaged.splitlines()) + 1  # YAML breaks lines at \r too
    try:
        load_text(damaged, pack.name)
    except RuleFileError as exc:
        for problem in exc.problems:
            assert 0 <= problem.line <= lines, str(problem)
