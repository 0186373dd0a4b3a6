"""The sandbox org's people (created with the org) and the demo records `seed_demo` adds: the
Dutch advice firm of the example rule packs, with the same user ids as examples/events."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

from .ids import to18
from .org import Org, initial_value
from .store import Store

# A person saving a new record: (user id, object, fields) -> record id (`Sandbox.save_as`).
SaveAs = Callable[[str, str, dict], str]

INTEGRATION_USER_ID = to18("0057Q00000A0LmZ")
SALES_USER_ID = "0057Q00000A1bCdQAJ"  # the adviser in the example events
USERS = (
    (INTEGRATION_USER_ID, "Lastmile", "Integration", "integration@lastmile.sandbox"),
    (SALES_USER_ID, "Sanne", "de Vries", "sanne.devries@advies.sandbox"),
    ("0057Q00000A1bXyQAJ", "Daan", "Bakker", "daan.bakker@advies.sandbox"),
    ("0057Q00000A3kLmQAJ", "Fatima", "El Amrani", "compliance@advies.sandbox"),
    ("0057Q00000A0zZzQAJ", "Expat", "Desk", "expat.desk@advies.sandbox"),
)


def seed_users(org: Org) -> None:
    """Create the org's users with fixed ids (an org comes with its people)."""
    spec = org.spec("User")
    now = org.now()
    with org.store.transaction():
        for user_id, first, last, username in USERS:
            if org.store.record(user_id):
                continue
            record = {field.name: initial_value(field) for field in spec.fields}
            record.update(
                Id=user_id,
                FirstName=first,
                LastName=last,
                Name=f"{first} {last}",
                Username=username,
                Email=username,
                Alias=(first[0] + last[:4]).lower(),
                CreatedDate=now,
                CreatedById=INTEGRATION_USER_ID,
                LastModifiedDate=now,
                LastModifiedById=INTEGRATION_USER_ID,
                SystemModstamp=now,
            )
            org.store.insert("User", user_id, record)


def seed_demo(store: Store, today: date, save_as: SaveAs) -> dict[str, str]:
    """Add the demo records once (the sales users save them); names -> ids."""
    existing = store.meta("demo-records")
    if existing:
        return dict(item.split("=", 1) for item in existing.split(";"))
    adviser, other = SALES_USER_ID, "0057Q00000A1bXyQAJ"
    ids: dict[str, str] = {}

    def save(key: str, user: str, object_name: str, fields: dict) -> str:
        ids[key] = save_as(user, object_name, fields)
        return ids[key]

    jansen = save(
        "account_jansen",
        adviser,
        "Account",
        {"Name": "Fam. Jansen", "Type": "Client", "BillingCity": "Utrecht"},
    )
    visser = save(
        "account_visser",
        other,
        "Account",
        {"Name": "Dhr. Visser", "Type": "Client", "BillingCity": "Amersfoort"},
    )
    bakker = save("account_bakker", other, "Account", {"Name": "Mevr. Bakker", "Type": "Prospect"})
    peter = save(
        "contact_jansen",
        adviser,
        "Contact",
        {
            "FirstName": "Peter",
            "LastName": "Jansen",
            "AccountId": jansen,
            "Phone": "+31 30 123 4567",
        },
    )
    henk = save(
        "contact_visser",
        other,
        "Contact",
        {"FirstName": "Henk", "LastName": "Visser", "AccountId": visser},
    )
    opportunity = save(
        "opportunity",
        adviser,
        "Opportunity",
        {
            "Name": "Hypotheek fam. Jansen",
            "AccountId": jansen,
            "StageName": "Prospecting",
            "CloseDate": (today + timedelta(days=60)).isoformat(),
            "Product__c": "Mortgage",
        },
    )
    save(
        "lead",
        "0057Q00000A0zZzQAJ",
        "Lead",
        {
            "FirstName": "Lena",
            "LastName": "Schmidt",
            "Company": "Private client",
            "Country": "Germany",
            "LeadSource": "Web",
            "Rating": "Warm",
            "Estimated_Mortgage__c": 620000,
        },
    )
    dossier = save(
        "case",
        other,
        "Case",
        {
            "Subject": "Pensioenadvies dhr. Visser",
            "Status": "Intake",
            "Origin": "Phone",
            "AccountId": visser,
            "ContactId": henk,
            "Dossier_Number__c": "HYP-2026-00043",
        },
    )
    save(
        "task_call_jansen",
        adviser,
        "Task",
        {
            "Subject": "Hypotheekgesprek fam. Jansen",
            "Type": "Call",
            "TaskSubtype": "Call",
            "Status": "Not Started",
            "ActivityDate": today.isoformat(),
            "WhatId": opportunity,
            "WhoId": peter,
        },
    )
    save(
        "task_call_visser",
        other,
        "Task",
        {
            "Subject": "Intakegesprek dhr. Visser",
            "Type": "Call",
            "TaskSubtype": "Call",
            "Status": "In Progress",
            "ActivityDate": today.isoformat(),
            "WhatId": dossier,
            "WhoId": henk,
        },
    )
    save(
        "task_call_bakker",
        other,
        "Task",
        {
            "Subject": "Terugbellen mevr. Bakker",
            "Type": "Call",
            "TaskSubtype": "Call",
            "Status": "Not Started",
            "ActivityDate": (today + timedelta(days=1)).isoformat(),
            "WhatId": bakker,
        },
    )
    store.set_meta("demo-records", ";".join(f"{k}={v}" for k, v in ids.items()))
    return ids
