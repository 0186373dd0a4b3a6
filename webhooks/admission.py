"""What intake asks of an event beyond the RecordEvent shape, before anything is stored: text
the store can keep, Salesforce ids where the worker puts ids into CRM calls, and a time
Salesforce can hold. Both webhook endpoints check every event here.

Problems name where they are, never the value found there (they are sent back and logged).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError

from lastmile.rules.records import RecordEvent

# Salesforce's own range for datetimes; also far enough from Python's limits that dates
# worked out from an event (deadlines, due dates) cannot overflow.
EARLIEST = datetime(1700, 1, 1, tzinfo=UTC)
LATEST = datetime(4000, 12, 31, tzinfo=UTC)

_SALESFORCE_ID = re.compile(r"[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?")
# PostgreSQL text holds no NUL, and a lone surrogate cannot be written as UTF-8 or JSON.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable(value: Any) -> Any:
    """Text the store can keep (and anything that is not text)."""
    if isinstance(value, str) and _UNSTORABLE.search(value):
        raise ValueError("a NUL character or a lone surrogate cannot be stored")
    return value


def salesforce_id(value: str) -> str:
    """A 15- or 18-character Salesforce id."""
    if not _SALESFORCE_ID.fullmatch(value):
        raise ValueError("not a Salesforce id (15 or 18 letters and digits)")
    return value


def salesforce_time(value: datetime) -> datetime:
    """A time within Salesforce's range (1700-01-01 to 4000-12-31, UTC)."""
    if not EARLIEST <= value <= LATEST:
        raise ValueError("outside the dates Salesforce holds (1700-01-01 to 4000-12-31)")
    return value


Text = Annotated[str, AfterValidator(storable)]
Value = Annotated[Any, AfterValidator(storable)]
SalesforceId = Annotated[str, AfterValidator(salesforce_id)]


class _Checked(BaseModel):
    """The ids and time of a RecordEvent (`owner` is `fields["OwnerId"]`)."""

    model_config = ConfigDict(extra="ignore")

    record_id: SalesforceId
    actor: SalesforceId | None
    occurred_at: Annotated[datetime, AfterValidator(salesforce_time)]
    owner: SalesforceId | None


class _Texts(BaseModel):
    """The rest of a RecordEvent's text, checked one by one when some text cannot be kept."""

    model_config = ConfigDict(extra="ignore")

    id: Text
    source: Text
    fields: dict[Text, Value]
    changed: tuple[Text, ...] | None


def problems(event: RecordEvent) -> list[dict[str, Any]]:
    """Why `event` may not be stored: `{"loc": (...), "message": ...}` each, locations as in
    the RecordEvent (the owner at `("fields", "OwnerId")`); empty when it may."""
    found = _errors(_Checked, {**dict(event), "owner": event.fields.get("OwnerId")})
    # One search over all the text first: the checks that say where run only when it finds
    # something (a few times cheaper for the events that are fine).
    texts = [event.id, event.source, *event.fields, *(event.changed or ())]
    texts += [value for value in event.fields.values() if isinstance(value, str)]
    if _UNSTORABLE.search("\n".join(texts)):
        found += _errors(_Texts, dict(event))
    return found


def _errors(model: type[BaseModel], data: dict[str, Any]) -> list[dict[str, Any]]:
    try:
        model.model_validate(data)
    except ValidationError as exc:
        return [
            {
                "loc": ("fields", "OwnerId") if err["loc"] == ("owner",) else err["loc"],
                "message": err["msg"],
            }
            for err in exc.errors(include_input=False, include_url=False)
        ]
    return []
