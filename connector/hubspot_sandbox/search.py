"""The CRM search endpoint's filtering: filter groups (ORed) of filters (ANDed), sorts, paging."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .portal import PortalError, Record

MAX_LIMIT = 200


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _matches(record: Record, spec: Mapping[str, Any]) -> bool:
    name, operator = spec.get("propertyName"), str(spec.get("operator", "EQ")).upper()
    if not isinstance(name, str):
        raise PortalError(400, "VALIDATION_ERROR", "a filter needs a propertyName")
    have = record.id if name == "hs_object_id" else record.properties.get(name)
    want = spec.get("value")
    if operator == "HAS_PROPERTY":
        return have not in (None, "")
    if operator == "NOT_HAS_PROPERTY":
        return have in (None, "")
    if operator in ("IN", "NOT_IN"):
        values = [str(v).lower() for v in spec.get("values") or []]
        inside = have is not None and have.lower() in values
        return inside if operator == "IN" else not inside
    if operator in ("EQ", "NEQ"):
        same = have is not None and have.lower() == str(want).lower()
        return same if operator == "EQ" else not same
    if operator == "CONTAINS_TOKEN":
        return have is not None and str(want).strip("*").lower() in have.lower()
    if operator in ("GT", "GTE", "LT", "LTE"):
        a, b = _number(have), _number(want)
        left, right = (a, b) if a is not None and b is not None else (have, str(want))
        if left is None:
            return False
        return {
            "GT": left > right,
            "GTE": left >= right,
            "LT": left < right,
            "LTE": left <= right,
        }[operator]  # type: ignore[operator]
    raise PortalError(400, "VALIDATION_ERROR", f"operator {operator} is not supported")


def search(
    records: Iterable[Record], request: Mapping[str, Any]
) -> tuple[list[Record], int, int | None]:
    """(the page of records, the total, the next page's `after` or None)."""
    groups = request.get("filterGroups") or []
    if not isinstance(groups, list):
        raise PortalError(400, "VALIDATION_ERROR", "filterGroups must be a list")
    found = [
        r
        for r in records
        if not groups or any(all(_matches(r, f) for f in g.get("filters") or []) for g in groups)
    ]
    found.sort(key=lambda r: int(r.id))
    for sort in reversed(request.get("sorts") or []):
        name = sort.get("propertyName") if isinstance(sort, dict) else str(sort)
        descending = isinstance(sort, dict) and sort.get("direction") == "DESCENDING"
        found.sort(key=lambda r, n=name: r.properties.get(n) or "", reverse=descending)
    limit = min(int(request.get("limit") or 10), MAX_LIMIT)
    after = int(request.get("after") or 0)
    page = found[after : after + limit]
    following = after + limit if after + limit < len(found) else None
    return page, len(found), following
