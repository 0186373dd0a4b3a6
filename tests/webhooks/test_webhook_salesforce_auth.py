"""Who may send Outbound Messages: an allowed organisation AND a proven sender, by a live
SessionId of that organisation (asked of the CRM, the verdict kept for a while) or by a secret
token in the URL. Anything else gets a SOAP fault and leaves nothing behind."""

from __future__ import annotations

import pytest
from fakes import SESSION_ID
from test_webhook_salesforce import fault_of
from webhook_support import CALL_TASK, ORG_ID, OTHER_ORG_ID, outbound_message, post_soap

from lastmile.webhooks.salesforce import same_org
from lastmile.webhooks.sessions import SessionCheck


class Crm:
    """A stand-in for the CRM's userinfo: counts lookups, knows some sessions, or is down."""

    def __init__(self, sessions: dict[str, tuple[str, str]], down: bool = False) -> None:
        self.sessions, self.down, self.lookups = sessions, down, 0

    def __call__(self, session_id: str) -> tuple[str, str] | None:
        self.lookups += 1
        if self.down:
            raise ConnectionError("the CRM is unreachable")
        return self.sessions.get(session_id)


LIVE = {SESSION_ID: (ORG_ID, "0057Q00000A0LmZQAV"), "other-org-session": (OTHER_ORG_ID, "005")}


def test_a_message_without_a_session_id_is_401_and_stored_nowhere(make_app, inbox) -> None:
    answer = post_soap(make_app().test_client(), outbound_message(CALL_TASK, session_id=None))
    assert answer.status_code == 401
    code, text = fault_of(answer)
    assert code == "soapenv:Client" and "Send Session ID" in text
    assert inbox.events == []


def test_a_made_up_session_of_an_allowed_org_is_403_and_stored_nowhere(make_app, inbox) -> None:
    crm = Crm(LIVE)
    client = make_app(sessions=crm).test_client()
    forged = outbound_message(CALL_TASK, session_id=f"{ORG_ID[:15]}!AQ4AQforged")
    answer = post_soap(client, forged)
    assert answer.status_code == 403
    assert fault_of(answer)[0] == "soapenv:Client"
    assert inbox.events == []
    post_soap(client, forged)
    assert crm.lookups == 1  # a refused session is remembered: no CRM call per forged message


def test_a_live_session_of_another_org_does_not_vouch_for_this_one(make_app, inbox) -> None:
    client = make_app(sessions=Crm(LIVE)).test_client()
    answer = post_soap(client, outbound_message(CALL_TASK, session_id="other-org-session"))
    assert answer.status_code == 403
    assert inbox.events == []


def test_a_live_session_is_checked_once_for_a_burst_of_messages(make_app, inbox) -> None:
    crm = Crm(LIVE)
    client = make_app(sessions=crm).test_client()
    for _ in range(20):
        assert post_soap(client, outbound_message(CALL_TASK)).status_code == 200
    assert crm.lookups == 1
    assert len(inbox.calls) == 20  # each stored (the same notification: one event, kept once)


def test_when_the_crm_cannot_be_asked_the_sender_retries_later(make_app, inbox) -> None:
    answer = post_soap(
        make_app(sessions=Crm(LIVE, down=True)).test_client(), outbound_message(CALL_TASK)
    )
    assert answer.status_code == 503 and answer.headers["Retry-After"]
    assert fault_of(answer)[0] == "soapenv:Server"
    assert inbox.events == []


def test_the_verdict_expires(make_app) -> None:
    now = [0.0]
    crm = Crm(LIVE)
    check = SessionCheck(crm, live_for_s=600, refused_for_s=60, timer=lambda: now[0])
    assert check.owner(SESSION_ID) is not None and check.owner("forged") is None
    now[0] = 61
    check.owner(SESSION_ID), check.owner("forged")
    assert crm.lookups == 3  # the refusal was asked again, the live session not yet
    now[0] = 601
    check.owner(SESSION_ID)
    assert crm.lookups == 4


def test_the_token_url_takes_messages_without_a_session(make_app, inbox) -> None:
    client = make_app(salesforce_outbound_tokens="old-token,new-token").test_client()
    message = outbound_message(CALL_TASK, session_id=None)
    for token in ("old-token", "new-token"):  # two at once: a rotation without downtime
        answer = post_soap(client, message, path=f"/webhooks/salesforce/{token}")
        assert answer.status_code == 200
    assert len(inbox.calls) == 2


@pytest.mark.parametrize("tokens", ["", "new-token"])
def test_a_wrong_token_is_403_and_stored_nowhere(make_app, inbox, tokens: str) -> None:
    client = make_app(salesforce_outbound_tokens=tokens).test_client()
    answer = post_soap(client, outbound_message(CALL_TASK), path="/webhooks/salesforce/guess")
    assert answer.status_code == 403
    assert inbox.events == []


def test_the_token_url_still_needs_an_allowed_org(make_app, inbox) -> None:
    client = make_app(salesforce_outbound_tokens="t0ken").test_client()
    message = outbound_message(CALL_TASK, org_id=OTHER_ORG_ID, session_id=None)
    assert post_soap(client, message, path="/webhooks/salesforce/t0ken").status_code == 403
    assert inbox.events == []


def test_org_ids_compare_all_18_characters_when_both_have_18() -> None:
    assert same_org(ORG_ID, ORG_ID) and same_org(ORG_ID[:15], ORG_ID)
    assert same_org(ORG_ID, ORG_ID[:15])
    assert not same_org(ORG_ID, ORG_ID[:15] + "ZZZ")  # the old check took any 3-char suffix
    assert not same_org(ORG_ID[:14], ORG_ID)


def test_a_message_whose_18_character_org_id_differs_in_its_suffix_is_refused(make_app, inbox):
    message = outbound_message(CALL_TASK, org_id=ORG_ID[:15] + "ZZZ")
    assert post_soap(make_app().test_client(), message).status_code == 403
    assert inbox.events == []
