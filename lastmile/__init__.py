"""Lastmile: the application that wires rules, connectors and webhooks together."""

__version__ = "0.1.0"
