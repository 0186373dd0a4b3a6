"""Write the starting corpus for the harnesses: real inputs each parser accepts.

.venv/bin/python fuzz/seeds.py    # fills fuzz/corpus/{soap,json,rules}
"""

from __future__ import annotations

import shutil
from pathlib import Path

import _harness

CORPUS = Path(__file__).resolve().parent / "corpus"
EXAMPLES = _harness.ROOT / "examples"

SOAP = """<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" \
xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>
<notifications xmlns="http://soap.sforce.com/2005/09/outbound">
<OrganizationId>00D7Q000004SaLeUAK</OrganizationId><SessionId xsi:nil="true"/>
<Notification><Id>04l7Q00000Kc1AaQAJ</Id>
<sObject xsi:type="sf:Task" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">
<sf:Id>00T7Q00000Lm3aBUAR</sf:Id><sf:CallDurationInSeconds>1260</sf:CallDurationInSeconds>
<sf:CreatedDate>2026-01-08T13:00:02.000Z</sf:CreatedDate><sf:IsClosed>true</sf:IsClosed>
<sf:LastModifiedById>0057Q00000A1bCdQAJ</sf:LastModifiedById>
<sf:LastModifiedDate>2026-01-08T13:42:10.000Z</sf:LastModifiedDate>
<sf:Amount>1.0E7</sf:Amount><sf:Outcome__c xsi:nil="true"/><sf:Status>Completed</sf:Status>
</sObject></Notification></notifications></soapenv:Body></soapenv:Envelope>"""


def main() -> None:
    for name in ("soap", "json", "rules"):
        (CORPUS / name).mkdir(parents=True, exist_ok=True)
    (CORPUS / "soap" / "outbound-message.xml").write_text(SOAP)
    for path in sorted((EXAMPLES / "events").glob("*.json")):
        shutil.copy(path, CORPUS / "json" / path.name)
    for path in sorted((EXAMPLES / "rules").rglob("*.yaml")):
        shutil.copy(path, CORPUS / "rules" / path.name)
    print(f"corpus written to {CORPUS}")


if __name__ == "__main__":
    main()
