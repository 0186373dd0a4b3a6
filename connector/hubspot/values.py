"""HubSpot's property values, which it sends as text, read by each property's type so rules see
them as they see Salesforce's: a number as an int or a float, a checkbox as a boolean, a date as
`2026-12-01`, a datetime as Salesforce's REST API writes one (`2026-12-01T10:00:00.000+0000`,
in UTC); enumerations and text stay text, and "" (how HubSpot says empty) is None.

Types are named in describe's words (`double`, `boolean`, `date`, `datetime`, `picklist`,
`string`: what `HubSpotConnector.describe` answers), so the connector, the receiver (through
`lastmile.field_types`) and `rules check` read one vocabulary. This module imports nothing of
hubspot-api-client: the receiver uses it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta

import structlog

from lastmile.rules.records import FieldValue

log = structlog.get_logger("connector.hubspot")

_KINDS = {"number": "double", "bool": "boolean", "date": "date", "datetime": "datetime"}
_NUMBER = re.compile(r"-?[0-9]+(?P<fraction>\.[0-9]+)?(?P<exponent>[eE][+-]?[0-9]+)?")
_EPOCH_MS = re.compile(r"-?[0-9]{1,15}")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def kind_of(hubspot_type: str | None, field_type: str | None = None) -> str:
    """A HubSpot property's type (`number`, `bool`, `enumeration`, ...; its `fieldType` for a
    checkbox) in describe's words."""
    if field_type == "booleancheckbox":  # also an `enumeration` of true/false in older accounts
        return "boolean"
    if hubspot_type == "enumeration":
        return "picklist"
    return _KINDS.get(hubspot_type or "", "string")


def typed(name: str, value: object, kind: str | None) -> FieldValue:
    """One property's value as rules see it, by its type (`kind_of`; None: unknown, text).

    A value that does not fit its type stays text, and is logged by the property's name only."""
    if value is None:
        return None
    if isinstance(value, bool):  # never from HubSpot, which sends text; read as it would send
        text = "true" if value else "false"
    else:
        text = value if isinstance(value, str) else str(value)
    if text == "":
        return None
    reader = _READERS.get(kind or "")
    if reader is None:
        return text
    converted = reader(text)
    if converted is None:
        log.warning("hubspot.value_untyped", property=name, type=kind)
        return text
    return converted


def typed_fields(
    values: Mapping[str, object], kinds: Mapping[str, str] | None
) -> dict[str, FieldValue]:
    """`typed` for each of a record's properties; `kinds` by property name (None: all text)."""
    kinds = kinds or {}
    return {name: typed(name, value, kinds.get(name)) for name, value in values.items()}


def rest_datetime(moment: datetime) -> str:
    """A datetime as Salesforce's REST API writes one (what rules see for Salesforce too)."""
    utc = moment.astimezone(UTC)
    return f"{utc.year:04d}-{utc:%m-%dT%H:%M:%S}.{utc.microsecond // 1000:03d}+0000"


def _number(text: str) -> int | float | None:
    found = _NUMBER.fullmatch(text)
    if found is None:
        return None
    if found["fraction"] is None and found["exponent"] is None and len(text) <= 19:
        return int(text)
    number = float(text)
    return number if math.isfinite(number) else None


def _boolean(text: str) -> bool | None:
    return {"true": True, "false": False}.get(text.lower())


def _moment(text: str) -> datetime | None:
    """HubSpot's `2026-12-01T10:00:00.123Z` (the API) or epoch milliseconds (webhooks)."""
    try:
        if _EPOCH_MS.fullmatch(text):
            return _EPOCH + timedelta(milliseconds=int(text))
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        return moment.astimezone(UTC) if moment.tzinfo is not None else None
    except (ValueError, OverflowError):
        return None


def _datetime(text: str) -> str | None:
    moment = _moment(text)
    return rest_datetime(moment) if moment is not None else None


def _date(text: str) -> str | None:
    """HubSpot's `2026-12-01` (the API), or midnight UTC of that day as epoch milliseconds
    (webhooks) or as a datetime."""
    if len(text) == 10 and not _EPOCH_MS.fullmatch(text):
        try:
            return date.fromisoformat(text).isoformat()
        except ValueError:
            return None
    moment = _moment(text)
    return moment.date().isoformat() if moment is not None else None


_READERS = {
    "double": _number,
    "boolean": _boolean,
    "date": _date,
    "datetime": _datetime,
}
