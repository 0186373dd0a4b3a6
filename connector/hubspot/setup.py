"""The custom properties Lastmile writes in HubSpot, created once by `lastmile hubspot setup`:
the prompt property on each object type the rules cover, and the unique task key on tasks (the
key batch upserts go by, so a task is written once however often it is asked for)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from lastmile.connector.base import CrmError
from lastmile.connector.hubspot import HubSpotConnector
from lastmile.connector.hubspot.names import check_name

GROUP = "lastmile"


@dataclass(frozen=True)
class Outcome:
    object: str
    property: str
    status: str  # "created", "exists", or "wrong": exists but not as Lastmile needs it


def _prompt(name: str) -> dict:
    return {
        "name": name,
        "label": "Lastmile prompt",
        "description": "What the record still needs, written by Lastmile; cleared when done.",
        "groupName": GROUP,
        "type": "string",
        "fieldType": "textarea",
    }


def _key(name: str) -> dict:
    return {
        "name": name,
        "label": "Lastmile key",
        "description": "Lastmile's key of a follow-up task (rule, record, event): one task each.",
        "groupName": GROUP,
        "type": "string",
        "fieldType": "text",
        "hasUniqueValue": True,
    }


def ensure_properties(connector: HubSpotConnector, objects: Iterable[str]) -> list[Outcome]:
    """Create what is missing; say what was there. Raises CrmError (e.g. a scope missing)."""
    wanted = [(check_name(o, "object"), _prompt(connector.prompt_property)) for o in objects]
    wanted.append(("tasks", _key(connector.task_key_property)))
    return [_ensure(connector, object_type, spec) for object_type, spec in wanted]


def _ensure(connector: HubSpotConnector, object_type: str, spec: dict) -> Outcome:
    client = connector.client
    core = client.api.crm.properties.core_api
    name = spec["name"]
    try:
        found = client.call("property", core.get_by_name_with_http_info, object_type, name)
    except CrmError as error:
        if not any(p.status == 404 for p in error.problems):
            raise
    else:
        unique = bool(getattr(found, "has_unique_value", False))
        fits = found.type == "string" and (unique or not spec.get("hasUniqueValue"))
        return Outcome(object_type, name, "exists" if fits else "wrong")
    groups = client.api.crm.properties.groups_api
    group = {"name": GROUP, "label": "Lastmile", "displayOrder": -1}
    try:
        client.call("group", groups.create_with_http_info, object_type, group, write=True)
    except CrmError as error:
        if not any(p.status == 409 for p in error.problems):
            raise
    client.call("create property", core.create_with_http_info, object_type, spec, write=True)
    return Outcome(object_type, name, "created")
