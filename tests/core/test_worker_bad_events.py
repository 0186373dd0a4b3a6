"""An event the worker finds at fault itself (a record id that is no Salesforce id, stored before
the door checked ids) goes dead at once with its reason: one attempt, no traceback, no retry."""

from __future__ import annotations

from collections.abc import Iterable

import pytest
from fakes import FakeCrm, event
from structlog.testing import capture_logs

from lastmile.connector.base import RecordState
from lastmile.connector.salesforce.writer import check_id, check_name
from lastmile.worker import DEAD, SKIPPED

NEW = {"Name": "Beleggen", "StageName": "Prospecting", "LeadSource": None, "Probability": None}


class CheckingCrm(FakeCrm):
    """The in-memory CRM, checking names and ids before a read as the Salesforce connector does."""

    def read(self, object: str, record_id: str, fields: Iterable[str]) -> RecordState:
        check_name(object, "object")
        check_id(record_id)
        return super().read(object, record_id, fields)


@pytest.mark.parametrize("bad", ["00T' OR '1'='1", "../../../services/data"])
def test_an_event_with_an_invalid_record_id_is_dead_at_once_with_its_reason(
    store, clock, make_worker, bad
):
    crm = CheckingCrm(clock)
    (inbox_id,) = [i for i, _ in store.add([event("e1", kind="created", record_id=bad, **NEW)])]
    worker = make_worker(connector=crm)
    with capture_logs() as logs:
        assert worker.process_event(inbox_id) == DEAD
    row = store.get(inbox_id)
    assert (row.status, row.attempts) == ("dead", 1)
    assert row.last_error == (
        "InvalidRequest: the record id is not a 15 or 18 character Salesforce id"
    )
    assert bad not in row.last_error
    assert [line["event"] for line in logs if line["log_level"] == "error"] == [
        "event parked as dead"
    ]
    assert not any("exc_info" in line for line in logs)  # no traceback
    assert crm.calls == 0  # nothing was sent
    clock.advance(3600)
    assert worker.process_event(inbox_id) == SKIPPED  # never tried again


def test_a_stored_event_this_version_cannot_read_is_dead_at_once(store, clock, make_worker):
    """An event stored by an older version that checked less (here: a kind no longer known)
    is parked with where it is wrong, once, instead of failing every sweep forever."""
    import sqlalchemy as sa

    from lastmile.store.tables import inbox

    (inbox_id,) = [i for i, _ in store.add([event("e1", kind="created", **NEW)])]
    with store.engine.begin() as conn:
        old = conn.execute(sa.select(inbox.c.event).where(inbox.c.id == inbox_id)).scalar()
        conn.execute(
            sa.update(inbox)
            .where(inbox.c.id == inbox_id)
            .values(event=old.replace('"created"', '"undeleted"'))
        )
    worker = make_worker()
    with capture_logs() as logs:
        assert worker.process_event(inbox_id) == DEAD
    row = store.get(inbox_id)
    assert (row.status, row.attempts) == ("dead", 1)
    assert row.last_error.startswith("the stored event is no valid RecordEvent (kind: ")
    assert not any("exc_info" in line for line in logs)
    clock.advance(3600)
    assert worker.process_event(inbox_id) == SKIPPED
