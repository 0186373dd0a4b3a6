"""A default outside a restricted picklist (the admin's rule is wrong): the Salesforce connector
reports the sandbox's refusal as a permanent failure, with Salesforce's code, the field and the
message without the value, after one call; nothing is retried and nothing written."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from lastmile.connector.base import CrmProblem, WriteBack
from lastmile.connector.salesforce.messages import without_values

REFUSED = CrmProblem(
    "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
    "bad value for restricted picklist field: (value withheld)",
    ("StageName",),
    400,
)


def test_a_bad_picklist_default_fails_once_and_is_not_retried(
    connector, opportunity, sandbox, crm, sleeps
):
    record_id = opportunity()
    other = opportunity()
    later = datetime.now(UTC) + timedelta(hours=1)
    calls = sandbox.api_calls

    alone, fine = connector.apply(
        [
            WriteBack(
                "Opportunity", record_id, {"StageName": "Closed Wonn"}, if_unmodified_since=later
            ),
            WriteBack("Opportunity", other, {"NextStep": "Call back"}),
        ]
    )

    assert (alone.status, alone.problems) == ("failed", (REFUSED,))
    assert fine.status == "applied"
    assert sleeps == []  # no backoff: a 400 is not retried
    assert sandbox.api_calls - calls <= 2  # one call per write-back, at most
    assert crm.Opportunity.get(record_id)["StageName"] == "Prospecting"
    assert crm.Opportunity.get(other)["NextStep"] == "Call back"


def test_salesforces_message_keeps_its_words_and_loses_the_value() -> None:
    # REST says it without the field's label; Apex and the SOAP API put the label first.
    for message in (
        "bad value for restricted picklist field: Closed Wonn",
        "Stage: bad value for restricted picklist field: Closed Wonn",
    ):
        masked = without_values(message)
        assert masked.endswith("bad value for restricted picklist field: (value withheld)")
        assert "Wonn" not in masked
