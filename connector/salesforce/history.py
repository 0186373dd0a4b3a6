"""Reading the past from Salesforce: SOQL whose results come a batch at a time (`done` false and
`nextRecordsUrl`, as simple-salesforce's query and query_more follow them), and the field
history objects (OpportunityFieldHistory, LeadHistory, CaseHistory, <Object>__History) that
hold the earlier values of the fields the org tracks. Reads only."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import structlog

from lastmile.connector.base import ChangedRecords, CrmError, HistoryRow, RecordHistory
from lastmile.connector.salesforce.client import Client
from lastmile.connector.salesforce.writer import check_id, check_name

log = structlog.get_logger("connector.salesforce")

# Fields every backfilled record is read with, besides those the rules read.
SYSTEM_FIELDS = (
    "Id",
    "OwnerId",
    "CreatedDate",
    "CreatedById",
    "LastModifiedDate",
    "LastModifiedById",
    "SystemModstamp",
)
# standard object -> (its field history object, the field naming the record)
HISTORY_OBJECTS = {
    "Account": ("AccountHistory", "AccountId"),
    "Contact": ("ContactHistory", "ContactId"),
    "Lead": ("LeadHistory", "LeadId"),
    "Opportunity": ("OpportunityFieldHistory", "OpportunityId"),
    "Case": ("CaseHistory", "CaseId"),
    "Contract": ("ContractHistory", "ContractId"),
}
IDS_PER_QUERY = 200  # record ids in one history query's IN list: the URL stays short
_DATA_PATH = re.compile(r"^/services/data/v[\d.]+/")


def history_object(object: str) -> tuple[str, str] | None:
    """(history object, its field naming the record) for `object`; None for an object that
    keeps no field history (Task, Event)."""
    if object.endswith("__c"):
        return object.removesuffix("__c") + "__History", "ParentId"
    return HISTORY_OBJECTS.get(object)


def query(client: Client, soql: str, batch_size: int = 2000) -> Iterator[dict[str, Any]]:
    """The answers of one SOQL query, a batch each, following `nextRecordsUrl` until `done`.
    Each call goes through `Client.call` (session renewal, retries, the API limit)."""
    size = min(2000, max(200, batch_size))  # Salesforce's range for the batch size
    body = client.call(
        "query",
        "GET",
        "query/",
        params={"q": soql},
        headers={"Sforce-Query-Options": f"batchSize={size}"},
    )
    while True:
        page = body if isinstance(body, dict) else {}
        yield page
        next_url = page.get("nextRecordsUrl")
        if page.get("done", True) or not isinstance(next_url, str):
            return
        body = client.call("query_more", "GET", _DATA_PATH.sub("", next_url))


def changed_since(
    client: Client,
    object: str,
    fields: Iterable[str],
    since: datetime,
    *,
    after: str | None = None,
    batch_size: int = 2000,
) -> Iterator[ChangedRecords]:
    """The records of `object` modified at or after `since` (ids after `after`), in id order,
    a batch at a time, each with its field history when the org keeps it."""
    check_name(object, "object")
    names = list(dict.fromkeys([*SYSTEM_FIELDS, *(check_name(f) for f in sorted(fields))]))
    where = f"LastModifiedDate >= {_soql_datetime(since)}"
    if after is not None:
        where += f" AND Id > '{check_id(after)}'"
    soql = f"SELECT {', '.join(names)} FROM {object} WHERE {where} ORDER BY Id"
    readable = history_object(object) is not None
    for page in query(client, soql, batch_size):
        records = [_flat(r) for r in page.get("records") or [] if isinstance(r, dict)]
        rows: dict[str, list[HistoryRow]] = {}
        if readable and records:
            found = _history(client, object, [str(r["Id"]) for r in records])
            readable = found is not None
            rows = found or {}
        yield ChangedRecords(
            object=object,
            total=int(page.get("totalSize") or 0),
            records=tuple(
                RecordHistory(object, r, tuple(rows.get(str(r["Id"]), ())), readable)
                for r in records
            ),
        )


def _history(client: Client, object: str, ids: Sequence[str]) -> dict[str, list[HistoryRow]] | None:
    """The field history rows of these records, per record id, oldest first; None when the
    org has no history object for `object` or does not let this user read it (INVALID_TYPE:
    field history tracking is off, or the object is not readable)."""
    found = history_object(object)
    assert found is not None
    history, parent = found
    rows: dict[str, list[HistoryRow]] = {}
    for start in range(0, len(ids), IDS_PER_QUERY):
        chunk = ", ".join(f"'{check_id(i)}'" for i in ids[start : start + IDS_PER_QUERY])
        soql = (
            f"SELECT Id, {parent}, Field, DataType, OldValue, NewValue, CreatedDate, CreatedById "
            f"FROM {history} WHERE {parent} IN ({chunk}) ORDER BY CreatedDate"
        )
        try:
            for page in query(client, soql):
                for raw in page.get("records") or []:
                    row = _row(raw)
                    if row is not None:
                        rows.setdefault(str(raw.get(parent)), []).append(row)
        except CrmError as error:
            if any(p.code == "INVALID_TYPE" for p in error.problems):
                log.warning("salesforce.no_field_history", object=object, history=history)
                return None
            raise
    for record_rows in rows.values():
        record_rows.sort(key=lambda r: (r.at, r.id))
    return rows


def _row(raw: Any) -> HistoryRow | None:
    if not isinstance(raw, dict) or not raw.get("Id") or not raw.get("Field"):
        return None
    try:
        at = datetime.fromisoformat(str(raw.get("CreatedDate")))  # 2026-11-24T10:00:00.000+0000
    except ValueError:
        return None
    return HistoryRow(
        id=str(raw["Id"]),
        field=str(raw["Field"]),
        old=_scalar(raw.get("OldValue")),
        new=_scalar(raw.get("NewValue")),
        at=at,
        actor=raw.get("CreatedById"),
        data_type=raw.get("DataType"),
    )


def _flat(record: dict[str, Any]) -> dict[str, Any]:
    return {k: _scalar(v) for k, v in record.items() if k != "attributes"}


def _scalar(value: Any) -> Any:
    # Compound fields (addresses, geolocations) are not flat field values; leave them out.
    return None if isinstance(value, dict | list) else value


def _soql_datetime(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("since needs a time zone")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
