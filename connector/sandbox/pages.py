"""Record pages for people: the list of objects and records, a record with its prompt and related
tasks (updated in place while open: the page polls a digest of what it shows), and edit/new forms
whose save is a person's save."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from flask import Blueprint, Response, abort, jsonify, redirect, render_template, request, url_for

from .errors import SalesforceError
from .org import Org
from .related import RecordView, field_labels, record_view, title
from .schema import ObjectSpec
from .store import Store


class PagesSandbox(Protocol):
    """What the record pages need of the sandbox (`sandbox.Sandbox` has it)."""

    org: Org
    sales_user_id: str

    @property
    def store(self) -> Store: ...

    @property
    def org_id(self) -> str: ...

    def save_as(
        self,
        user_id: str,
        object: str,
        fields: Mapping[str, object],
        record_id: str | None = None,
    ) -> str: ...

    def labels(self, object_name: str) -> Mapping[str, str]: ...


PROMPT_FIELD = "Lastmile_Prompt__c"
# The page layout, the live-update script and the not-found page; the HubSpot sandbox's record
# pages use them too.
TEMPLATES = Path(__file__).with_name("templates")
_HIDDEN = {"Id", "Name"}  # shown in the heading, not as a row


def _editable(spec: ObjectSpec, creating: bool) -> list:
    """Fields a person types in (Lastmile's own fields are written by Lastmile)."""
    return [
        f
        for f in spec.fields
        if (f.createable if creating else f.updateable) and not f.name.startswith("Lastmile_")
    ]


def live_page(html: str) -> Response:
    """A record page: never cached, as it changes while it is open."""
    return Response(html, headers={"Cache-Control": "no-store"})


def live_version(version: str) -> Response:
    """The digest a record page polls for (live.html)."""
    reply = jsonify(version=version)
    reply.headers["Cache-Control"] = "no-store"
    return reply


def pages(sb: PagesSandbox) -> Blueprint:
    bp = Blueprint("pages", __name__, template_folder="templates")

    def spec_or_404(object_name: str) -> ObjectSpec:
        spec = sb.org.schema.object(object_name)
        if spec is None:
            abort(404)
        return spec

    def record_or_404(spec: ObjectSpec, record_id: str) -> dict:
        try:
            return sb.org.get(spec.name, record_id)
        except SalesforceError:
            abort(404)

    @bp.get("/")
    def index() -> str:
        objects = []
        for spec in sb.org.schema.objects:
            records = sb.store.records(spec.name)
            rows = [(r["Id"], title(spec, r), r.get("LastModifiedDate")) for r in records[-25:]]
            objects.append((spec, len(records), list(reversed(rows))))
        return render_template("index.html", objects=objects, org_id=sb.org_id)

    def shown(spec: ObjectSpec, record_id: str) -> RecordView:
        record = record_or_404(spec, record_id)
        return record_view(sb.store, sb.org.schema, spec, record, sb.labels(spec.name))

    @bp.get("/records/<object_name>/<record_id>")
    def view(object_name: str, record_id: str) -> Response:
        spec = spec_or_404(object_name)
        page = shown(spec, record_id)
        fields = [f for f in spec.fields if f.name not in _HIDDEN and f.name != PROMPT_FIELD]
        html = render_template(
            "record.html",
            spec=spec,
            view=page,
            record=page.record,
            title=title(spec, page.record),
            fields=fields,
            prompt=page.record.get(PROMPT_FIELD),
        )
        return live_page(html)

    @bp.get("/records/<object_name>/<record_id>/version")
    def version(object_name: str, record_id: str) -> Response:
        """The digest of what the record's page shows: the open page polls it (a few hundred
        bytes, no rendering) and fetches itself again only when it changed."""
        return live_version(shown(spec_or_404(object_name), record_id).version)

    def form(spec: ObjectSpec, record: dict | None, error: str | None = None, status: int = 200):
        creating = record is None
        return (
            render_template(
                "edit.html",
                spec=spec,
                record=record or {},
                creating=creating,
                fields=_editable(spec, creating),
                labels=field_labels(spec, sb.labels(spec.name)),
                error=error,
                user_id=sb.sales_user_id,
            ),
            status,
        )

    def submitted(spec: ObjectSpec, creating: bool) -> dict[str, object]:
        values: dict[str, object] = {}
        for field in _editable(spec, creating):
            if field.type == "boolean":
                values[field.name] = field.name in request.form
            elif field.name in request.form:
                values[field.name] = request.form[field.name].strip()
        return values

    @bp.route("/records/<object_name>/new", methods=["GET", "POST"])
    def new(object_name: str) -> object:
        spec = spec_or_404(object_name)
        if request.method == "GET":
            return form(spec, None)
        values = {k: v for k, v in submitted(spec, True).items() if v not in ("", False)}
        try:
            record_id = sb.save_as(sb.sales_user_id, spec.name, values)
        except SalesforceError as exc:
            return form(spec, None, f"{exc.code}: {exc.message}", 400)
        return redirect(url_for("pages.view", object_name=spec.name, record_id=record_id), 303)

    @bp.route("/records/<object_name>/<record_id>/edit", methods=["GET", "POST"])
    def edit(object_name: str, record_id: str) -> object:
        spec = spec_or_404(object_name)
        record = record_or_404(spec, record_id)
        if request.method == "GET":
            return form(spec, record)
        try:
            sb.save_as(sb.sales_user_id, spec.name, submitted(spec, False), record["Id"])
        except SalesforceError as exc:
            return form(
                spec, {**record, **request.form.to_dict()}, f"{exc.code}: {exc.message}", 400
            )
        return redirect(url_for("pages.view", object_name=spec.name, record_id=record["Id"]), 303)

    @bp.app_errorhandler(404)
    def missing(_: Exception) -> tuple[str, int]:
        return render_template("missing.html"), 404

    return bp
