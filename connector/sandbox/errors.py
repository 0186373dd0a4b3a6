"""Errors as Salesforce's REST API reports them: a status and `[{message, errorCode, fields}]`."""

from __future__ import annotations

from collections.abc import Iterable


class SalesforceError(Exception):
    """One REST error: the HTTP status, Salesforce's errorCode, its message and fields."""

    def __init__(self, status: int, code: str, message: str, fields: Iterable[str] = ()) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.fields = list(fields)

    def item(self) -> dict:
        return {"message": self.message, "errorCode": self.code, "fields": self.fields}

    def body(self) -> list[dict]:
        return [self.item()]


def not_found() -> SalesforceError:
    return SalesforceError(404, "NOT_FOUND", "The requested resource does not exist")


def no_such_column(object_name: str, field: str) -> SalesforceError:
    return SalesforceError(
        400, "INVALID_FIELD", f"No such column '{field}' on sobject of type {object_name}", [field]
    )


def bad_json(message: str) -> SalesforceError:
    return SalesforceError(400, "JSON_PARSER_ERROR", message)


def invalid_type(object_name: str) -> SalesforceError:
    return SalesforceError(
        400,
        "INVALID_TYPE",
        f"sObject type '{object_name}' is not supported. If you are attempting to use a custom "
        "object, be sure to append the '__c' after the entity name. Please reference your WSDL "
        "or the describe call for the appropriate names.",
    )


# Salesforce quotes the refused value in these messages; so does the sandbox, so that tests
# see what Lastmile has to keep out of its logs and answers.


def malformed_id(label: str, value: object, field: str | None = None) -> SalesforceError:
    return SalesforceError(
        400,
        "MALFORMED_ID",
        f"{label}: id value of incorrect type: {value}",
        [field] if field else [],
    )


def string_too_long(label: str, value: str, field: str, max_length: int) -> SalesforceError:
    return SalesforceError(
        400,
        "STRING_TOO_LONG",
        f"{label}: data value too large: {value} (max length={max_length})",
        [field],
    )


def bad_picklist_value(value: str, field: str) -> SalesforceError:
    """A value outside a restricted picklist (Salesforce's words, the value quoted)."""
    return SalesforceError(
        400,
        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
        f"bad value for restricted picklist field: {value}",
        [field],
    )
