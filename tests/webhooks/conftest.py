"""Fixtures for the webhook tests (the helpers live in webhook_support.py)."""

from webhook_support import client, dispatched, inbox, make_app, secret

__all__ = ["client", "dispatched", "inbox", "make_app", "secret"]
