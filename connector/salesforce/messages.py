"""Salesforce's error messages without the record values they may quote.

An error's `message` is free text, and many quote the value that was refused
(`Owner ID: id value of incorrect type: <the value>`). It reaches logs, `last_error` and the
admin API, which must never show a field value. So a message is kept only when it matches a
template known to hold no value; a known template with a value in it keeps its words and loses
the value; anything else is replaced by `WITHHELD` (the error code and field names stay beside
it, in the problem).
"""

from __future__ import annotations

import re

WITHHELD = "(text withheld: it may quote a value)"
VALUE = "(value withheld)"

_NAME = r"[A-Za-z][A-Za-z0-9_]{0,79}"
_NAMES = rf"{_NAME}(?:, {_NAME})*"
_ID = r"[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?"
_LABEL = r"[^:\n]{1,80}"  # a field's label as the org names it ("Owner ID")

# Whole messages that name only objects, fields, ids and numbers.
_VALUE_FREE = [
    re.compile(pattern)
    for pattern in (
        r"The requested resource does not exist",
        r"Session expired or invalid",
        rf"No such column '{_NAME}' on sobject of type {_NAME}",
        rf"Required fields are missing: \[(?:{_NAMES})?\]",
        rf"Unable to create/update fields: {_NAMES}\. Please check the security settings of "
        r"this field and verify that it is read/write for your profile or permission set\.",
        rf"sObject type '{_NAME}' is not supported\. If you are attempting to use a custom "
        r"object, be sure to append the '__c' after the entity name\. Please reference your "
        r"WSDL or the describe call for the appropriate names\.",
        rf"unable to obtain exclusive access to this record(?: or \d+ records: {_ID}(?:, {_ID})*)?",
        rf"Provided external ID field does not exist or is not accessible: {_NAME}",
        r"The transaction was rolled back since another operation in the same transaction "
        r"failed\.",
        rf"duplicate value found: (?:{_NAME}|<unknown>) duplicates value on record with id: "
        rf"{_ID}",
        rf"insufficient access rights on cross-reference id(?:: {_ID})?",
        r"insufficient access rights on object id",
        r"invalid cross reference id",
        rf"entity type cannot be updated: {_NAME}",
        r"entity is deleted",
        r"Must send a concrete entity type\.",
        r"Id not specified in an update call",
        r"TotalRequests Limit exceeded\.",
        r"The request body must be an object",
    )
]

# Messages with a value in them: `value` is masked, the rest kept.
_WITH_A_VALUE = [
    re.compile(pattern, re.DOTALL)
    for pattern in (
        rf"(?P<head>{_LABEL}: id value of incorrect type: )(?P<value>.*)",
        rf"(?P<head>{_LABEL}: data value too large: )(?P<value>.*)(?P<tail> \(max length=\d+\))",
        # REST says it without the label; Apex and the SOAP API put the label first.
        rf"(?P<head>(?:{_LABEL}: )?bad value for restricted picklist field: )(?P<value>.*)",
        rf"(?P<head>{_LABEL}: invalid email address: )(?P<value>.*)",
        rf"(?P<head>{_LABEL}: value not of required type: )(?P<value>.*)",
        r"(?P<head>Cannot deserialize instance of \w+ from \w+ value )(?P<value>.*)"
        r"(?P<tail> or request may be missing a required field(?: at \[line:\d+, column:\d+\])?)",
    )
]


def without_values(message: str) -> str:
    """`message` as it may be shown and logged: kept, masked, or `WITHHELD`."""
    if any(template.fullmatch(message) for template in _VALUE_FREE):
        return message
    for template in _WITH_A_VALUE:
        found = template.fullmatch(message)
        if found is not None:
            return found["head"] + VALUE + (found.groupdict().get("tail") or "")
    return WITHHELD


def field_names(names: object) -> tuple[str, ...]:
    """The field API names of an error's `fields` list; anything else in it is left out."""
    if not isinstance(names, list | tuple):
        return ()
    return tuple(name for name in names if isinstance(name, str) and re.fullmatch(_NAME, name))
