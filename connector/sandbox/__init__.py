"""The sandbox CRM: a local server speaking the part of Salesforce's REST API Lastmile uses."""

from .errors import SalesforceError
from .sandbox import Sandbox

__all__ = ["SalesforceError", "Sandbox"]
