"""Record pages for people in the HubSpot sandbox: the object types with their latest records,
and a record with its properties, its prompt (`lastmile_prompt`), the records associated with it
and its tasks. An open page updates in place (it polls a digest of what it shows), with the
layout and script of the Salesforce sandbox's record pages."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from flask import Blueprint, Response, abort, render_template
from jinja2 import ChoiceLoader, FileSystemLoader

from lastmile.connector.sandbox.pages import TEMPLATES, live_page, live_version
from lastmile.connector.sandbox.related import Link, digest

from .portal import (
    SINGULAR,
    TYPE_IDS,
    Portal,
    PortalError,
    Record,
    hubspot_time,
    object_type,
)

PROMPT_PROPERTY = "lastmile_prompt"
KEY_PROPERTY = "lastmile_key"  # set on the tasks Lastmile wrote (its follow-ups)
_TITLE = {
    "contacts": ("firstname", "lastname"),
    "companies": ("name",),
    "deals": ("dealname",),
    "tickets": ("subject",),
    "tasks": ("hs_task_subject",),
}
_HIDDEN = frozenset({"hs_object_id", PROMPT_PROPERTY})  # the id and prompt stand apart


def label(object_name: str) -> str:
    """`Deal`, `Contact`, ... as HubSpot's pages say."""
    return SINGULAR.get(object_name, "task").capitalize()


def title(object_name: str, record: Record) -> str:
    """What a person calls the record: its name (a contact's first and last), else its id."""
    parts = [record.properties.get(name) for name in _TITLE[object_name]]
    return " ".join(p for p in parts if p) or record.id


@dataclass(frozen=True)
class Row:
    name: str
    label: str
    value: str | None


@dataclass(frozen=True)
class TaskRow:
    id: str
    subject: str
    status: str | None
    due: str | None
    priority: str | None


@dataclass(frozen=True)
class RecordPage:
    """Everything a record's page shows, and the digest the open page polls for."""

    object: str
    id: str
    label: str
    title: str
    prompt: str | None
    rows: tuple[Row, ...]
    associated: tuple[Link, ...]  # records of other types associated with this one
    follow_ups: tuple[TaskRow, ...]  # associated tasks Lastmile wrote
    tasks: tuple[TaskRow, ...]  # the other associated tasks
    version: str


def record_page(portal: Portal, object_name: str, record_id: str) -> RecordPage:
    """The page of one record; PortalError (404) when there is none."""
    with portal.lock:  # one consistent view while other threads write
        record = portal.get(object_name, record_id)
        defs = portal.definitions[object_name]
        rows = tuple(
            Row(name, d.label, record.properties.get(name))
            for name, d in defs.items()
            if name not in _HIDDEN
        )
        associated: list[Link] = []
        follow_ups: list[TaskRow] = []
        tasks: list[TaskRow] = []
        for other in TYPE_IDS:
            if other == object_name:
                continue
            for other_id in portal.associated(object_name, record.id, other):
                found = portal.get(other, other_id)
                if other != "tasks":
                    associated.append(Link(other, found.id, title(other, found)))
                    continue
                task = TaskRow(
                    found.id,
                    title("tasks", found),
                    found.properties.get("hs_task_status"),
                    (found.properties.get("hs_timestamp") or "")[:10] or None,
                    found.properties.get("hs_task_priority"),
                )
                (follow_ups if found.properties.get(KEY_PROPERTY) else tasks).append(task)
        heading, prompt = title(object_name, record), record.properties.get(PROMPT_PROPERTY)
        shown = (heading, prompt, rows, associated, follow_ups, tasks)
        return RecordPage(
            object_name,
            record.id,
            label(object_name),
            heading,
            prompt,
            rows,
            tuple(associated),
            tuple(follow_ups),
            tuple(tasks),
            version=digest(shown),
        )


def pages(portal: Portal) -> Blueprint:
    """The blueprint: `/` (the object types and their latest records) and
    `/records/<type>/<id>` (a record's page; `/version`: its digest)."""
    bp = Blueprint("pages", __name__)
    # its own templates first, then the Salesforce sandbox's layout, script and not-found page
    here = Path(__file__).with_name("templates")
    bp.jinja_loader = ChoiceLoader([FileSystemLoader(here), FileSystemLoader(TEMPLATES)])

    def page_or_404(object_name: str, record_id: str) -> RecordPage:
        try:
            return record_page(portal, object_type(object_name), record_id)
        except PortalError:
            abort(404)

    @bp.get("/")
    def index() -> str:
        objects = []
        with portal.lock:
            for name in TYPE_IDS:
                records = sorted(portal.live(name), key=lambda r: int(r.id))
                rows = [
                    (r.id, title(name, r), hubspot_time(r.updated)) for r in reversed(records[-25:])
                ]
                objects.append((name, len(records), rows))
        return render_template("hubspot_index.html", objects=objects)

    @bp.get("/records/<object_name>/<record_id>")
    def view(object_name: str, record_id: str) -> Response:
        page = page_or_404(object_name, record_id)
        return live_page(render_template("hubspot_record.html", page=page))

    @bp.get("/records/<object_name>/<record_id>/version")
    def version(object_name: str, record_id: str) -> Response:
        return live_version(page_or_404(object_name, record_id).version)

    @bp.errorhandler(404)
    def missing(_: Exception) -> tuple[str, int]:
        return render_template("missing.html"), 404

    return bp
