"""Helpers for the sandbox CRM's tests: an HTTPS session trusting the sandbox, a quick-retrying
Sandbox, and a tiny HTTP receiver for Outbound Messages."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests

from lastmile.connector.sandbox import Sandbox

ACK = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">'
    "<soapenv:Body>"
    '<notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound">'
    "<Ack>true</Ack></notificationsResponse></soapenv:Body></soapenv:Envelope>"
)


def trusting(sb: Sandbox) -> requests.Session:
    """A session that trusts the sandbox's CA. trust_env off: REQUESTS_CA_BUNDLE in the
    environment would otherwise override `verify` (a known requests behaviour)."""
    http = requests.Session()
    http.verify = str(sb.ca_bundle)
    http.trust_env = False
    return http


def start(data_dir: Path, **options) -> Sandbox:
    """A started Sandbox whose Outbound Message retries come quickly."""
    options.setdefault("outbound_retry_s", 0.05)
    options.setdefault("outbound_retry_cap_s", 0.2)
    return Sandbox(data_dir, **options).start()


class Receiver:
    """An HTTP endpoint that records Outbound Messages and acks them (after `refuse` refusals)."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.headers: list[dict[str, str]] = []
        self.refuse = 0
        self.received = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver.received:
                    receiver.bodies.append(body)
                    receiver.headers.append(dict(self.headers))
                    refused = receiver.refuse > 0
                    receiver.refuse -= 1 if refused else 0
                    receiver.received.notify_all()
                status, text = (500, "busy") if refused else (200, ACK)
                self.send_response(status)
                self.send_header("Content-Type", "text/xml; charset=utf-8")
                self.end_headers()
                self.wfile.write(text.encode())

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/webhooks/salesforce"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def wait_for(self, count: int, timeout: float = 5.0) -> list[bytes]:
        """The messages received, once there are `count` (or the timeout passed)."""
        with self.received:
            self.received.wait_for(lambda: len(self.bodies) >= count, timeout)
            return list(self.bodies)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
