"""Turning WriteBacks into as few Salesforce calls as possible.

- a WriteBack with tasks: ONE Composite call (allOrNone) carrying the conditional record PATCH
  (`If-Unmodified-Since` in the subrequest's headers) and one upsert per task on the task key;
- a conditional WriteBack without tasks: one PATCH with `If-Unmodified-Since`;
- unconditional WriteBacks without tasks: sObject Collections PATCH, 200 records a call;
- an empty WriteBack: no call.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import quote

from lastmile.connector.base import (
    CrmError,
    CrmProblem,
    InvalidRequest,
    TaskWrite,
    WriteBack,
    WriteResult,
)
from lastmile.connector.salesforce.client import Client, has_transient_code, problems_from

COLLECTION_SIZE = 200  # Salesforce's limit for sObject Collections
COMPOSITE_SIZE = 25  # Salesforce's limit of subrequests in one Composite call
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,79}")
_ID = re.compile(r"[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?")
_RECORD_REF = "record"


def check_name(name: str, what: str = "field") -> str:
    """An object or field API name, refused (InvalidRequest) before it reaches a URL or query."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidRequest(f"{name!r} is not a Salesforce {what} name (letters, digits, _)")
    return name


def check_id(record_id: str) -> str:
    """A 15- or 18-character record id, refused (InvalidRequest) before it reaches a URL."""
    if not isinstance(record_id, str) or not _ID.fullmatch(record_id):
        # the id came with the event: not quoted, like any value the event carries
        raise InvalidRequest("the record id is not a 15 or 18 character Salesforce id")
    return record_id


def http_date(moment: datetime) -> str:
    """An HTTP-date (RFC 9110) in GMT; Salesforce compares it at one-second resolution."""
    if moment.tzinfo is None:
        raise ValueError("if_unmodified_since needs a time zone")
    return format_datetime(moment.astimezone(UTC).replace(microsecond=0), usegmt=True)


class Writer:
    """Applies WriteBacks through one Client."""

    def __init__(self, client: Client, *, task_key_field: str = "Lastmile_Key__c") -> None:
        self._client = client
        self._key_field = check_name(task_key_field)

    def apply(self, writes: Sequence[WriteBack]) -> list[WriteResult]:
        results: dict[int, WriteResult] = {}
        collectable: list[int] = []
        for index, write in enumerate(writes):
            problem = _invalid(write)
            if problem is not None:
                results[index] = WriteResult(write.record_id, "failed", problems=(problem,))
            elif write.empty:
                results[index] = WriteResult(write.record_id, "nothing")
            elif write.tasks:
                results[index] = self._composite(write)
            elif write.if_unmodified_since is not None:
                results[index] = self._patch(write)
            else:
                collectable.append(index)
        if len(collectable) == 1:
            results[collectable[0]] = self._patch(writes[collectable[0]])
        else:
            for chunk in _chunks(collectable, writes):
                results.update(self._collection(chunk, writes))
        return [results[index] for index in range(len(writes))]

    # -- one record, one PATCH ----------------------------------------------------------------

    def _patch(self, write: WriteBack) -> WriteResult:
        headers = {}
        if write.if_unmodified_since is not None:
            headers["If-Unmodified-Since"] = http_date(write.if_unmodified_since)
        try:
            self._client.call(
                "update",
                "PATCH",
                f"sobjects/{write.object}/{write.record_id}",
                write=True,
                object=write.object,
                record_id=write.record_id,
                json=dict(write.fields),
                headers=headers,
            )
        except CrmError as error:
            return _refused(write, error.problems)
        return WriteResult(write.record_id, "applied")

    # -- one record and its tasks, one Composite call -----------------------------------------

    def _composite(self, write: WriteBack) -> WriteResult:
        # Without record fields there is nothing to make conditional: the task upserts go alone
        # (they are idempotent on their key).
        subrequests: list[dict[str, Any]] = []
        if write.fields:
            record: dict[str, Any] = {
                "method": "PATCH",
                "url": self._client.data_path(f"sobjects/{write.object}/{write.record_id}"),
                "referenceId": _RECORD_REF,
                "body": dict(write.fields),
            }
            if write.if_unmodified_since is not None:
                record["httpHeaders"] = {
                    "If-Unmodified-Since": http_date(write.if_unmodified_since)
                }
            subrequests.append(record)
        for number, task in enumerate(write.tasks):
            key = quote(task.key, safe="")
            subrequests.append(
                {
                    "method": "PATCH",
                    "url": self._client.data_path(f"sobjects/Task/{self._key_field}/{key}"),
                    "referenceId": f"task{number}",
                    "body": task_body(task),
                }
            )
        try:
            body = self._client.call(
                "composite",
                "POST",
                "composite",
                write=True,
                object=write.object,
                record_id=write.record_id,
                json={"allOrNone": True, "compositeRequest": subrequests},
                retry_if=has_transient_code,
            )
        except CrmError as error:
            return _refused(write, error.problems)
        answers = {
            answer.get("referenceId"): answer
            for answer in (body or {}).get("compositeResponse", [])
            if isinstance(answer, dict)
        }
        record_answer = answers.get(_RECORD_REF, {})
        if record_answer.get("httpStatusCode") == 412:
            return WriteResult(write.record_id, "conflict")
        problems = tuple(
            problem
            for answer in answers.values()
            if int(answer.get("httpStatusCode") or 0) >= 300
            for problem in problems_from(answer.get("body"), answer.get("httpStatusCode"))
            if problem.code != "PROCESSING_HALTED"  # the others' rollback, not a cause
        )
        if problems or len(answers) != len(subrequests):
            missing = CrmProblem("INCOMPLETE_ANSWER", "Composite answered without every part")
            return WriteResult(write.record_id, "failed", problems=problems or (missing,))
        task_ids = {}
        for number, task in enumerate(write.tasks):
            answer_body = answers[f"task{number}"].get("body")
            if isinstance(answer_body, dict) and answer_body.get("id"):
                task_ids[task.key] = str(answer_body["id"])
        return WriteResult(write.record_id, "applied", task_ids=task_ids)

    # -- many records, sObject Collections ----------------------------------------------------

    def _collection(self, chunk: list[int], writes: Sequence[WriteBack]) -> dict[int, WriteResult]:
        records = [
            {"attributes": {"type": writes[i].object}, "id": writes[i].record_id}
            | dict(writes[i].fields)
            for i in chunk
        ]
        try:
            body = self._client.call(
                "collection",
                "PATCH",
                "composite/sobjects",
                write=True,
                object=writes[chunk[0]].object,
                json={"allOrNone": False, "records": records},
                retry_if=has_transient_code,
            )
        except CrmError as error:
            return {i: _refused(writes[i], error.problems) for i in chunk}
        answers = body if isinstance(body, list) else []
        results = {}
        for position, index in enumerate(chunk):
            write = writes[index]
            answer = answers[position] if position < len(answers) else None
            if isinstance(answer, dict) and answer.get("success"):
                results[index] = WriteResult(write.record_id, "applied")
            elif isinstance(answer, dict):
                problems = problems_from(answer.get("errors") or answer, 400)
                results[index] = WriteResult(write.record_id, "failed", problems=problems)
            else:
                missing = CrmProblem("INCOMPLETE_ANSWER", "no result for this record")
                results[index] = WriteResult(write.record_id, "failed", problems=(missing,))
        return results


def task_body(task: TaskWrite) -> dict[str, Any]:
    """The Task fields of a follow-up; empty values are left out so an upsert of an existing
    task does not clear what a person filled in. The key travels in the upsert URL. Status is
    left to the org's default ("Not Started"), so a replayed upsert never reopens a done task."""
    body: dict[str, Any] = {
        "Subject": task.subject,
        "ActivityDate": task.due.isoformat(),
        "OwnerId": task.owner,
        "WhatId": task.what_id,
        "Priority": task.priority,
        "Description": task.description,
    }
    return {name: value for name, value in body.items() if value is not None}


def _invalid(write: WriteBack) -> CrmProblem | None:
    """A WriteBack that must not reach a URL: refused here, as Salesforce would refuse it."""
    if not isinstance(write.object, str) or not _NAME.fullmatch(write.object):
        return CrmProblem("INVALID_TYPE", f"{write.object!r} is not an object name")
    if not isinstance(write.record_id, str) or not _ID.fullmatch(write.record_id):
        return CrmProblem("MALFORMED_ID", "the record id is not a 15 or 18 character id")
    bad = [name for name in write.fields if not _NAME.fullmatch(str(name))]
    if bad:
        return CrmProblem("INVALID_FIELD", "not field names", fields=tuple(map(str, bad)))
    if len(write.tasks) >= COMPOSITE_SIZE:
        return CrmProblem("LIMIT_EXCEEDED", f"at most {COMPOSITE_SIZE - 1} tasks a WriteBack")
    if any(len(task.key) > 255 or not task.key for task in write.tasks):
        return CrmProblem("STRING_TOO_LONG", "a task key must have 1 to 255 characters")
    return None


def _refused(write: WriteBack, problems: tuple[CrmProblem, ...]) -> WriteResult:
    if any(problem.status == 412 for problem in problems):
        return WriteResult(write.record_id, "conflict")
    return WriteResult(write.record_id, "failed", problems=problems)


def _chunks(indexes: list[int], writes: Sequence[WriteBack]) -> list[list[int]]:
    """Collections of at most 200 records, each record at most once per call (Salesforce
    refuses a duplicate id in one request); a repeated record goes to a later call, in order."""
    chunks: list[list[int]] = []
    current: list[int] = []
    seen: set[str] = set()
    for index in indexes:
        record = writes[index].record_id[:15]
        if len(current) == COLLECTION_SIZE or record in seen:
            chunks.append(current)
            current, seen = [], set()
        current.append(index)
        seen.add(record)
    if current:
        chunks.append(current)
    return chunks
