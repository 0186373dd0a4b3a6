"""The CRM's field types, so that Outbound Message values are read by type (text stays text).

From `LASTMILE_SCHEMA` (a schema file or an SFDX project) when it is set, else from the CRM's
describe, fetched by a thread of its own, never inside a request: the objects the rules use when
the service starts, and an object again, at most once a minute, when a message carries a field
its types do not name. Until an object's types are known its values are read as before (by their
look).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import structlog

from lastmile.rules.crm_schema import CrmSchema

log = structlog.get_logger("lastmile.field_types")

Describe = Callable[[str], Mapping[str, Any]]
REFRESH_EVERY_S = 60.0


class FieldTypes:
    """`types(object, field_names)`: the object's field name -> Salesforce type, or None."""

    def __init__(
        self,
        describe: Describe | None = None,
        schema: CrmSchema | None = None,
        *,
        refresh_every_s: float = REFRESH_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._describe = None if schema is not None else describe  # a schema file is the truth
        self._types: dict[str, dict[str, str]] = {}
        self._labels: dict[str, dict[str, str]] = {}
        if schema is not None:
            for name, obj in schema.objects.items():
                self._types[name] = {f: spec.type for f, spec in obj.fields.items()}
                self._labels[name] = {f: spec.label for f, spec in obj.fields.items() if spec.label}
        self._refresh_every_s, self._clock = refresh_every_s, clock
        self._asked: dict[str, float] = {}
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def __call__(self, object_name: str, field_names: Iterable[str]) -> Mapping[str, str] | None:
        known = self._types.get(object_name)
        if self._describe is not None and (
            known is None or any(name not in known for name in field_names)
        ):
            self._ask(object_name)
        return known

    def labels(self, object_name: str) -> Mapping[str, str]:
        """The CRM's labels of the object's fields, as far as known (prompts name fields so)."""
        return self._labels.get(object_name, {})

    def start(self, objects: Iterable[str] = ()) -> FieldTypes:
        """Fetch the types of `objects` (the rules') in the background, and any asked later."""
        if self._describe is not None and self._thread is None:
            self._thread = threading.Thread(target=self._fetch, name="lastmile-types", daemon=True)
            self._thread.start()
            for name in objects:
                self._ask(name)
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(10)
            self._thread = None

    def state(self) -> dict[str, Any]:
        """For /readyz: whether values are read by type, and for which objects."""
        objects = sorted(self._types)
        return {"typed": bool(objects), "objects": objects}

    def _ask(self, object_name: str) -> None:
        with self._lock:
            now = self._clock()
            last = self._asked.get(object_name)
            if last is not None and now - last < self._refresh_every_s:
                return
            self._asked[object_name] = now
        self._queue.put(object_name)

    def _fetch(self) -> None:
        assert self._describe is not None
        while (name := self._queue.get()) is not None:
            try:
                answer = self._describe(name)
                fields = answer.get("fields") or []
                types = {str(f["name"]): str(f.get("type", "string")) for f in fields}
                labels = {str(f["name"]): str(f["label"]) for f in fields if f.get("label")}
            except Exception as exc:  # the CRM is away, or the object unknown: values untyped
                log.warning("field_types_unknown", object=name, error=type(exc).__name__)
                continue
            if types:
                self._types[name], self._labels[name] = types, labels
                log.info("field_types_known", object=name, fields=len(types))
