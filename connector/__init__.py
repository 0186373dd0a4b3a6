"""Talking to CRMs: the connector protocol (`connector.base`), the Salesforce connector
(`connector.salesforce`) and the sandbox CRM (`connector.sandbox`)."""

from lastmile.connector.base import (
    ApiUsage,
    AuthError,
    Connector,
    ConnectorError,
    CrmError,
    CrmProblem,
    LimitExceeded,
    NotFound,
    RecordState,
    TaskWrite,
    TransientError,
    WriteBack,
    WriteResult,
)

__all__ = [
    "ApiUsage",
    "AuthError",
    "Connector",
    "ConnectorError",
    "CrmError",
    "CrmProblem",
    "LimitExceeded",
    "NotFound",
    "RecordState",
    "TaskWrite",
    "TransientError",
    "WriteBack",
    "WriteResult",
]
