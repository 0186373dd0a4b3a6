"""The two WSGI apps `ingest_bench.py` compares (each served in its own process)."""

from __future__ import annotations

import os

from flask import Flask, Response

ACK = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">'
    '<soapenv:Body><notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound">'
    "<Ack>true</Ack></notificationsResponse></soapenv:Body></soapenv:Envelope>"
)


def _bare() -> Flask:
    app = Flask("bare")

    @app.post("/webhooks/salesforce")
    def ack() -> Response:
        return Response(ACK, content_type="text/xml; charset=utf-8")

    return app


def _lastmile() -> Flask:
    """The receiver's intake path: parse, check the org and the session, store in the inbox,
    Ack (no worker). The session is checked by a stand-in for the CRM; its verdict is cached
    as the real one is, so the figures include the check."""
    from lastmile.logs import configure_logging
    from lastmile.settings import Settings
    from lastmile.store import Store
    from lastmile.webhooks import create_app

    settings = Settings()
    configure_logging(settings.log_level, cache=True)
    store = Store.from_settings(settings)
    store.upgrade()
    session, org = os.environ["BENCH_SESSION_ID"], settings.salesforce_org_ids[0]
    return create_app(
        settings,
        store,
        sessions=lambda sid: (org, "005000000000001AAA") if sid == session else None,
    )


def __getattr__(name: str) -> Flask:  # build only the app asked for
    if name == "bare":
        return _bare()
    if name == "lastmile":
        return _lastmile()
    raise AttributeError(name)
