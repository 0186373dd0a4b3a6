"""The SOAP 1.1 envelopes the receiver answers Salesforce with: the `notificationsResponse` Ack
and Faults."""

from __future__ import annotations

import re
from xml.sax.saxutils import escape

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
OUTBOUND = "http://soap.sforce.com/2005/09/outbound"
CONTENT_TYPE = "text/xml; charset=utf-8"

ACK = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    f'<soapenv:Envelope xmlns:soapenv="{SOAP_ENV}">'
    "<soapenv:Body>"
    f'<notificationsResponse xmlns="{OUTBOUND}"><Ack>true</Ack></notificationsResponse>'
    "</soapenv:Body>"
    "</soapenv:Envelope>"
).encode()

# Characters XML 1.0 cannot carry, removed from fault strings.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def fault(message: str, *, client: bool = True) -> bytes:
    """A SOAP 1.1 Fault envelope: faultcode Client (the sender's mistake) or Server."""
    code = "soapenv:Client" if client else "soapenv:Server"
    text = escape(_NOT_XML.sub("", message))
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<soapenv:Envelope xmlns:soapenv="{SOAP_ENV}">'
        "<soapenv:Body><soapenv:Fault>"
        f"<faultcode>{code}</faultcode><faultstring>{text}</faultstring>"
        "</soapenv:Fault></soapenv:Body>"
        "</soapenv:Envelope>"
    ).encode()
