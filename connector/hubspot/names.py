"""HubSpot's names and values as the connector and the receiver check and convert them: object
types and property names, record ids, times, and the rule format's own names for HubSpot's."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from lastmile.connector.base import InvalidRequest

# The property names Lastmile's rules use for every CRM, and HubSpot's own.
ALIASES = {"OwnerId": "hubspot_owner_id"}
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,99}")
ID = re.compile(r"[0-9]{1,20}")


def check_name(name: str, what: str = "property") -> str:
    """An object type or property name, refused (InvalidRequest) before it reaches a call."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidRequest(f"{name!r} is not a HubSpot {what} name (letters, digits, _)")
    return name


def check_id(record_id: str) -> str:
    """A HubSpot record id (digits), refused (InvalidRequest) before it reaches a call."""
    if not isinstance(record_id, str) or not ID.fullmatch(record_id):
        raise InvalidRequest("the record id is not a HubSpot record id (digits)")
    return record_id


def crm_name(name: str) -> str:
    return ALIASES.get(name, name)


def parse_time(value: Any) -> datetime | None:
    """HubSpot's `2026-11-24T10:00:00.123Z` (or epoch milliseconds) as an aware datetime."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str) or not value:
        return None
    if value.isdigit():
        return datetime.fromtimestamp(int(value) / 1000, UTC)
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
