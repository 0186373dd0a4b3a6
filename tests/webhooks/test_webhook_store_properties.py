"""Whatever text an event carries (lone surrogates, NUL and other control characters, times
beyond any calendar, ids that are none), both endpoints answer 2xx or 4xx, never 5xx, on
SQLite and on PostgreSQL; a 4xx stores nothing, and what a 2xx stored reads back."""

from __future__ import annotations

import json
from xml.sax.saxutils import escape

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from store_support import inbox, store, store_or_problem, stored
from webhook_support import notification, outbound_message, post_events, post_soap

__all__ = ["inbox", "store", "store_or_problem"]  # fixtures: the receiver on a real store

EXAMPLES = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

TIMES = [
    "9999-12-31T23:59:59-14:00",
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59.999999Z",
    "0001-01-01T00:00:00Z",
    "1699-12-31T23:59:59Z",
    "4000-12-31T00:00:01Z",
    "2026-02-30T10:00:00Z",
    "2026-11-24T24:00:00Z",
    "2026-11-24T10:00:00+24:00",
    "2026-11-24T10:00:00",
    "2026-11-24T10:00:00.000Z",
    "2026-11-24",
]
IDS = [
    "0067Q00000Jk9sPQAR",
    "0067Q00000Jk9sP",
    "00T' OR '1'='1",
    "../../../services/data",
    "0067Q00000Jk9sPQA\x00",
    "0067Q00000Jk9sPQ\ud800",
    "",
]
POISON = ["\x00", "\ud800", "\udfff", "a\x00b", "\x1b[2J", "\u2028", "\ufeff", "\x7f", "\r\n"]

# Any code point, surrogates and control characters included.
any_text = st.text(st.characters(exclude_categories=()), max_size=20)
text = any_text | st.sampled_from(TIMES + POISON + IDS)
ids = st.sampled_from(IDS) | any_text
values = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | text
names = st.sampled_from(["Subject", "OwnerId", "CreatedDate", "Description"]) | any_text


def _check(response, before: int, store) -> None:
    assert response.status_code < 500, response.get_data(as_text=True)[:500]
    if response.status_code >= 400:
        assert stored(store) == before


@EXAMPLES
@given(
    event_id=st.sampled_from(["evt-1", "evt-2"]) | any_text,
    record_id=ids,
    actor=st.none() | ids,
    occurred_at=st.sampled_from(TIMES) | any_text,
    fields=st.dictionaries(names, values, max_size=4),
    changed=st.none() | st.lists(text, max_size=2),
)
def test_any_json_event_is_2xx_or_4xx_and_a_4xx_stores_nothing(
    client, store, secret, event_id, record_id, actor, occurred_at, fields, changed
):
    event = {
        "id": event_id,
        "object": "Task",
        "record_id": record_id,
        "kind": "updated",
        "occurred_at": occurred_at,
        "actor": actor,
        "fields": fields,
        "changed": changed,
    }
    before = stored(store)
    response = post_events(client, json.dumps(event), secret)  # lone surrogates as \ud800
    _check(response, before, store)
    if response.status_code == 202:
        for accepted in response.json["events"]:
            assert store.get(accepted["inbox_id"]).event.id == accepted["id"]


def _element(name: str, value: str | None) -> str:
    if value is None:
        return f'<sf:{name} xsi:nil="true"/>'
    return f"<sf:{name}>{escape(value)}</sf:{name}>"


@EXAMPLES
@given(
    notification_id=st.sampled_from(["04l7Q00000Kc1AcQAJ", "04l7Q00000Kc1AdQAJ"]) | any_text,
    record_id=ids,
    system=st.dictionaries(
        st.sampled_from(["LastModifiedDate", "CreatedDate", "LastModifiedById", "OwnerId"]),
        st.none() | st.sampled_from(TIMES + IDS) | any_text,
    ),
    others=st.dictionaries(
        st.from_regex(r"[A-Z][A-Za-z0-9_]{0,12}", fullmatch=True), st.none() | text, max_size=3
    ),
)
def test_any_outbound_message_is_2xx_or_4xx_and_a_4xx_stores_nothing(
    client, store, notification_id, record_id, system, others
):
    fields = {"Id": record_id, **system, **others}
    body = outbound_message(
        notification(
            escape(notification_id),
            "Task",
            "".join(_element(name, value) for name, value in fields.items()),
        )
    )
    before = stored(store)
    # Text XML cannot carry (NUL, lone surrogates) makes the message malformed: a 400 too.
    response = post_soap(client, body.encode("utf-8", "surrogatepass"))
    _check(response, before, store)
    if response.status_code == 200:  # stored now or before (a redelivery): it reads back
        assert any(row.event.id.startswith("sfom:") for row in store.list_events(limit=200))
