"""Turning WriteBacks into as few HubSpot calls as possible, 100 inputs a call:

1. the writes that carry `if_unmodified_since`: one batch read of `hs_lastmodifieddate`; a record
   changed after that time is a conflict and nothing of its WriteBack is written;
2. record properties: one batch update per object type;
3. follow-up tasks: one batch upsert on the unique task key (`lastmile_key`), so a task written
   twice is one task; then one batch association of the tasks with their records.

The race that remains: HubSpot has no conditional update, so a person who saves the record
between step 1 and step 2 (one round trip, typically well under a second) can have a default
overwritten. Defaults only fill empty properties, and the person's own change arrives as a
webhook of its own and is evaluated again, but the value they typed in that window is lost.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from lastmile.connector.base import (
    CrmError,
    CrmProblem,
    InvalidRequest,
    TaskWrite,
    WriteBack,
    WriteResult,
    triage,
)
from lastmile.connector.hubspot.client import Client
from lastmile.connector.hubspot.names import ID, check_id, check_name, crm_name, parse_time

BATCH_SIZE = 100  # HubSpot's limit of inputs in one batch call
LAST_MODIFIED = "hs_lastmodifieddate"
_PRIORITY = {"high": "HIGH", "normal": "MEDIUM", "medium": "MEDIUM", "low": "LOW"}


def chunks(items: Sequence[Any], size: int = BATCH_SIZE) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def as_property(value: Any) -> str:
    """A field value as HubSpot takes it: text ("" clears), booleans as true/false."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class Writer:
    """Applies WriteBacks through one Client."""

    def __init__(self, client: Client, *, task_key_property: str = "lastmile_key") -> None:
        self._client = client
        self._key = check_name(task_key_property)

    def apply(self, writes: Sequence[WriteBack]) -> list[WriteResult]:
        results, live = triage(writes, _invalid)
        for index, result in self._conflicts(writes, live).items():
            results[index] = result
        live = [i for i in live if i not in results]
        for index, result in self._update(writes, [i for i in live if writes[i].fields]).items():
            results[index] = result
        live = [i for i in live if i not in results]
        task_ids = self._tasks(writes, [i for i in live if writes[i].tasks])
        for index in live:
            write = writes[index]
            ids = {t.key: task_ids[t.key] for t in write.tasks if t.key in task_ids}
            results[index] = WriteResult(write.record_id, "applied", task_ids=ids)
        return [results[i] for i in range(len(writes))]

    # -- 1. the conditional check ---------------------------------------------------------------

    def _conflicts(self, writes: Sequence[WriteBack], live: list[int]) -> dict[int, WriteResult]:
        found: dict[int, WriteResult] = {}
        guarded = [i for i in live if writes[i].if_unmodified_since is not None]
        for object_type, indexes in _by_object(writes, guarded):
            ids = sorted({writes[i].record_id for i in indexes})
            modified: dict[str, datetime | None] = {}
            for part in chunks(ids):
                body = {
                    "inputs": [{"id": record_id} for record_id in part],
                    "properties": [LAST_MODIFIED],
                    "propertiesWithHistory": [],
                }
                api = self._client.api.crm.objects.batch_api
                data = self._client.call("check", api.read_with_http_info, object_type, body)
                for record in data.results or []:
                    props = record.properties or {}
                    modified[str(record.id)] = parse_time(props.get(LAST_MODIFIED)) or parse_time(
                        record.updated_at
                    )
            for index in indexes:
                write = writes[index]
                since = write.if_unmodified_since
                assert since is not None
                if write.record_id not in modified:
                    problem = CrmProblem("OBJECT_NOT_FOUND", "the record does not exist", (), 404)
                    found[index] = WriteResult(write.record_id, "failed", problems=(problem,))
                    continue
                changed = modified[write.record_id]
                if changed is not None and changed > since:
                    found[index] = WriteResult(write.record_id, "conflict")
        return found

    # -- 2. record properties -------------------------------------------------------------------

    def _update(self, writes: Sequence[WriteBack], indexes: list[int]) -> dict[int, WriteResult]:
        """Batch updates; a batch HubSpot refuses is tried record by record, so the refusal
        lands on the record it concerns."""
        failed: dict[int, WriteResult] = {}
        for object_type, group in _by_object(writes, indexes):
            for part in chunks(group):
                try:
                    self._update_call(object_type, [writes[i] for i in part])
                except CrmError as error:
                    if len(part) == 1:
                        failed[part[0]] = WriteResult(
                            writes[part[0]].record_id, "failed", problems=error.problems
                        )
                        continue
                    for index in part:
                        try:
                            self._update_call(object_type, [writes[index]])
                        except CrmError as single:
                            failed[index] = WriteResult(
                                writes[index].record_id, "failed", problems=single.problems
                            )
        return failed

    def _update_call(self, object_type: str, part: Sequence[WriteBack]) -> None:
        body = {
            "inputs": [
                {
                    "id": write.record_id,
                    "properties": {
                        crm_name(name): as_property(value) for name, value in write.fields.items()
                    },
                }
                for write in part
            ]
        }
        api = self._client.api.crm.objects.batch_api
        data = self._client.call("update", api.update_with_http_info, object_type, body, write=True)
        errors = getattr(data, "errors", None) or []
        if errors:  # 207: some records were not updated (deleted meanwhile, say)
            category = str(getattr(errors[0], "category", None) or "BATCH_ERROR")
            status = 404 if category == "OBJECT_NOT_FOUND" else None
            message = f"HubSpot did not update {len(errors)} of the records"
            raise CrmError([CrmProblem(category, message, (), status)])

    # -- 3. tasks -------------------------------------------------------------------------------

    def _tasks(self, writes: Sequence[WriteBack], indexes: list[int]) -> dict[str, str]:
        """Upsert every task on its key and associate it with its record; key -> task id."""
        wanted = [(writes[i], task) for i in indexes for task in writes[i].tasks]
        task_ids: dict[str, str] = {}
        for part in chunks(wanted):
            body = {
                "inputs": [
                    {"idProperty": self._key, "id": task.key, "properties": self._task(task)}
                    for _write, task in part
                ]
            }
            api = self._client.api.crm.objects.batch_api
            data = self._client.call("tasks", api.upsert_with_http_info, "tasks", body, write=True)
            for record in data.results or []:
                key = (record.properties or {}).get(self._key)
                if key:
                    task_ids[str(key)] = str(record.id)
        links: dict[str, list[dict[str, Any]]] = {}
        for write, task in wanted:
            target = task.what_id
            if write.object == "tasks" or not target or not ID.fullmatch(target):
                continue  # a task is not associated with a task
            if task.key in task_ids:
                link = {"from": {"id": task_ids[task.key]}, "to": {"id": target}}
                links.setdefault(write.object, []).append(link)
        for object_type, items in links.items():
            for part in chunks(items):
                api = self._client.api.crm.associations.v4.batch_api
                self._client.call(
                    "associate",
                    api.create_default_with_http_info,
                    "tasks",
                    object_type,
                    {"inputs": list(part)},
                    write=True,
                )
        return task_ids

    def _task(self, task: TaskWrite) -> dict[str, str]:
        # No hs_task_status: an upsert of a task written before must not reopen it.
        props = {
            self._key: task.key,
            "hs_task_subject": task.subject[:255],
            "hs_timestamp": f"{task.due.isoformat()}T00:00:00Z",
            "hs_task_type": "TODO",
        }
        if task.owner and ID.fullmatch(task.owner):
            props["hubspot_owner_id"] = task.owner
        if task.priority and task.priority.lower() in _PRIORITY:
            props["hs_task_priority"] = _PRIORITY[task.priority.lower()]
        if task.description:
            props["hs_task_body"] = task.description
        return props


def _by_object(
    writes: Sequence[WriteBack], indexes: Iterable[int]
) -> Iterator[tuple[str, list[int]]]:
    groups: dict[str, list[int]] = {}
    for index in indexes:
        groups.setdefault(writes[index].object, []).append(index)
    yield from groups.items()


def _invalid(write: WriteBack) -> CrmProblem | None:
    try:
        check_name(write.object, "object")
        check_id(write.record_id)
        for name in write.fields:
            check_name(crm_name(name))
    except InvalidRequest as exc:
        return CrmProblem("INVALID_REQUEST", str(exc))
    return None
