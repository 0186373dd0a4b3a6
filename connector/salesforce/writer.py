"""Turning WriteBacks into as few Salesforce calls as possible.

One WriteBack alone (a lone event):
- with tasks: ONE Composite call (allOrNone) carrying the conditional record PATCH
  (`If-Unmodified-Since` in the subrequest's headers) and one upsert per task on the task key;
- a conditional one without tasks: one PATCH with `If-Unmodified-Since`;
- an unconditional one without tasks: one PATCH;
- an empty one: no call.

Several WriteBacks (events that arrived together), in two steps:
1. the record updates: conditional ones in Composite calls of 25 subrequests, allOrNone false,
   each PATCH with its own `If-Unmodified-Since` (a 412 refuses that record only);
   unconditional ones in sObject Collections, 200 records a call;
2. the tasks of the WriteBacks whose record update landed (or that had none): upserted on the
   task key in sObject Collections, 200 a call. A record that conflicted or failed gets no task.
A subrequest or task refused with a transient code (a locked row) is sent again, on its own,
after the Client's backoff; what landed is not sent twice.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import quote

from lastmile.connector.base import (
    CrmError,
    CrmProblem,
    InvalidRequest,
    TaskWrite,
    TransientError,
    WriteBack,
    WriteResult,
    triage,
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
        results, live = triage(writes, _invalid)
        for wave in _waves(live, writes):
            if len(wave) == 1:
                results[wave[0]] = self._alone(writes[wave[0]])
            else:
                results.update(self._together(wave, writes))
        return [results[index] for index in range(len(writes))]

    def _alone(self, write: WriteBack) -> WriteResult:
        return self._composite(write) if write.tasks else self._patch(write)

    def _together(self, wave: list[int], writes: Sequence[WriteBack]) -> dict[int, WriteResult]:
        """Several WriteBacks of distinct records: record updates first, then the tasks of
        those whose update landed."""
        done: dict[int, WriteResult] = {}
        conditional = [i for i in wave if writes[i].fields and writes[i].if_unmodified_since]
        plain = [i for i in wave if writes[i].fields and not writes[i].if_unmodified_since]
        for chunk in _slices(conditional, COMPOSITE_SIZE):
            done.update(self._conditional(chunk, writes))
        for chunk in _slices(plain, COLLECTION_SIZE):
            done.update(self._collection(chunk, writes))
        ready = [
            i for i in wave if writes[i].tasks and (i not in done or done[i].status == "applied")
        ]
        task_ids, task_problems = self._upsert_tasks(ready, writes)
        results = {}
        for i in wave:
            record = done.get(i)
            if record is not None and record.status != "applied":
                results[i] = record
            elif task_problems.get(i):
                results[i] = WriteResult(
                    writes[i].record_id,
                    "failed",
                    task_ids=task_ids.get(i, {}),
                    problems=tuple(task_problems[i]),
                )
            else:
                results[i] = WriteResult(
                    writes[i].record_id, "applied", task_ids=task_ids.get(i, {})
                )
        return results

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

    # -- many records with conditions, Composite (allOrNone false) ---------------------------

    def _conditional(self, chunk: list[int], writes: Sequence[WriteBack]) -> dict[int, WriteResult]:
        """Up to 25 conditional record updates in one Composite call, each on its own."""

        def send(parts: list[int]) -> dict[int, tuple[int, Any]]:
            subrequests = []
            for i in parts:
                write = writes[i]
                assert write.if_unmodified_since is not None
                subrequests.append(
                    {
                        "method": "PATCH",
                        "url": self._client.data_path(f"sobjects/{write.object}/{write.record_id}"),
                        "referenceId": f"r{i}",
                        "body": dict(write.fields),
                        "httpHeaders": {
                            "If-Unmodified-Since": http_date(write.if_unmodified_since)
                        },
                    }
                )
            body = self._client.call(
                "composite",
                "POST",
                "composite",
                write=True,
                object=writes[parts[0]].object,
                json={"allOrNone": False, "compositeRequest": subrequests},
            )
            answers = {
                answer.get("referenceId"): answer
                for answer in (body or {}).get("compositeResponse", [])
                if isinstance(answer, dict)
            }
            out = {}
            for i in parts:
                answer = answers.get(f"r{i}")
                if answer is not None:
                    out[i] = (int(answer.get("httpStatusCode") or 0), answer.get("body"))
            return out

        results = {}
        try:
            answers = self._in_rounds(chunk, send)
        except CrmError as error:
            return {i: _refused(writes[i], error.problems) for i in chunk}
        for i in chunk:
            write = writes[i]
            status, body = answers.get(i, (0, None))
            if 200 <= status < 300:
                results[i] = WriteResult(write.record_id, "applied")
            elif status == 412:
                results[i] = WriteResult(write.record_id, "conflict")
            elif status == 0:
                missing = CrmProblem("INCOMPLETE_ANSWER", "Composite answered without this part")
                results[i] = WriteResult(write.record_id, "failed", problems=(missing,))
            else:
                problems = problems_from(body, status)
                results[i] = WriteResult(write.record_id, "failed", problems=problems)
        return results

    # -- tasks of many records, sObject Collections upsert on the task key -----------------

    def _upsert_tasks(
        self, ready: list[int], writes: Sequence[WriteBack]
    ) -> tuple[dict[int, dict[str, str]], dict[int, list[CrmProblem]]]:
        """Upsert the tasks of `ready` (200 a call); their CRM ids and problems by write."""
        items = [(i, task) for i in ready for task in writes[i].tasks]
        ids: dict[int, dict[str, str]] = {}
        problems: dict[int, list[CrmProblem]] = {}
        path = f"composite/sobjects/Task/{self._key_field}"

        def send(parts: list[int]) -> dict[int, tuple[int, Any]]:
            records = [
                {"attributes": {"type": "Task"}, self._key_field: items[n][1].key}
                | task_body(items[n][1])
                for n in parts
            ]
            body = self._client.call(
                "task_upsert",
                "PATCH",
                path,
                write=True,
                object="Task",
                json={"allOrNone": False, "records": records},
            )
            answers = body if isinstance(body, list) else []
            out = {}
            for position, n in enumerate(parts):
                answer = answers[position] if position < len(answers) else None
                if isinstance(answer, dict) and answer.get("success"):
                    out[n] = (200, answer)
                elif isinstance(answer, dict):
                    out[n] = (400, answer.get("errors") or answer)
            return out

        for chunk in _slices(
            list(range(len(items))), COLLECTION_SIZE, key=lambda n: items[n][1].key
        ):
            try:
                answers = self._in_rounds(chunk, send)
            except CrmError as error:
                answers = {n: (400, None) for n in chunk}
                for n in chunk:
                    problems.setdefault(items[n][0], []).extend(error.problems)
                continue
            for n in chunk:
                i, task = items[n]
                status, body = answers.get(n, (0, None))
                if status == 200 and isinstance(body, dict) and body.get("id"):
                    ids.setdefault(i, {})[task.key] = str(body["id"])
                elif status == 0:
                    missing = CrmProblem("INCOMPLETE_ANSWER", "no result for this task")
                    problems.setdefault(i, []).append(missing)
                elif status != 200 and body is not None:
                    problems.setdefault(i, []).extend(problems_from(body, status))
        return ids, problems

    def _in_rounds(
        self, parts: list[int], send: Callable[[list[int]], dict[int, tuple[int, Any]]]
    ) -> dict[int, tuple[int, Any]]:
        """`send` the parts; those refused with a transient code go again (and only those),
        with the Client's backoff, until its attempts are spent: then TransientError."""
        answers: dict[int, tuple[int, Any]] = {}
        todo = parts
        for attempt in range(1, self._client.attempts + 1):
            got = send(todo)
            answers.update(got)
            todo = [n for n in todo if n in got and has_transient_code(got[n][1])]
            if not todo:
                return answers
            if attempt < self._client.attempts:
                self._client.pause_before_retry(attempt)
        raise TransientError(
            f"Salesforce kept refusing {len(todo)} of {len(parts)} writes as locked or "
            "unavailable; try again later"
        )


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


def _waves(indexes: list[int], writes: Sequence[WriteBack]) -> list[list[int]]:
    """The writes in waves, each record at most once a wave (Salesforce refuses one id twice
    in a call, and a record's writes go out in order): the n-th write of a record is in wave n."""
    waves: list[list[int]] = []
    seen: dict[str, int] = {}
    for index in indexes:
        record = writes[index].record_id[:15]
        wave = seen.get(record, -1) + 1
        seen[record] = wave
        if wave == len(waves):
            waves.append([])
        waves[wave].append(index)
    return waves


def _slices(
    indexes: list[int], size: int, key: Callable[[int], str] | None = None
) -> list[list[int]]:
    """`indexes` in slices of at most `size`; with `key`, no key twice in a slice (a later
    slice takes the repeat)."""
    slices: list[list[int]] = []
    current: list[int] = []
    seen: set[str] = set()
    for index in indexes:
        name = key(index) if key is not None else None
        if len(current) == size or (name is not None and name in seen):
            slices.append(current)
            current, seen = [], set()
        current.append(index)
        if name is not None:
            seen.add(name)
    if current:
        slices.append(current)
    return slices
