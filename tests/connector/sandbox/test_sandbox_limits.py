"""The daily API limit and Sforce-Limit-Info, sessions, and the fault switch."""

from __future__ import annotations

import re

import pytest
from sandbox_helpers import start, trusting

LIMIT_INFO = re.compile(r"^api-usage=(\d+)/(\d+)$")


def usage(response) -> tuple[int, int]:
    match = LIMIT_INFO.match(response.headers["Sforce-Limit-Info"])
    assert match, response.headers
    return int(match[1]), int(match[2])


@pytest.fixture
def small(tmp_path):
    sb = start(tmp_path / "small", daily_limit=3)
    http = trusting(sb)
    http.headers["Authorization"] = f"Bearer {sb.session_id}"
    try:
        yield sb, http, f"{sb.instance_url}/services/data/v62.0"
    finally:
        sb.stop()


def test_every_rest_response_carries_sforce_limit_info(sandbox, api):
    base = f"{sandbox.instance_url}/services/data/v62.0"
    responses = [
        api.post(f"{base}/sobjects/Account", json={"Name": "x"}),  # 201
        api.get(f"{base}/query", params={"q": "SELECT Id FROM Account"}),  # 200
        api.get(f"{base}/sobjects/Account/001000000000000AAA"),  # 404
        api.post(f"{base}/sobjects/Account", json={"Nope": 1}),  # 400
        api.get(f"{sandbox.instance_url}/services/data/"),  # versions
        trusting(sandbox).get(f"{base}/limits"),  # 401, no session
    ]
    for response in responses:
        assert usage(response)[1] == 15_000, response.status_code
    assert [usage(r)[0] for r in responses[:4]] == [1, 2, 3, 4]


def test_past_the_limit_calls_get_request_limit_exceeded(small):
    sb, http, base = small
    statuses = [http.get(f"{base}/limits").status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 403, 403]
    refused = http.get(f"{base}/limits")
    assert refused.json() == [
        {"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}
    ]
    assert usage(refused) == (3, 3)
    assert sb.api_calls == 3  # refused calls are not served


def test_a_forced_limit_refuses_at_once(sandbox, api):
    sandbox.faults.set(limit_reached=True)
    response = api.get(f"{sandbox.instance_url}/services/data/v62.0/limits")
    assert response.status_code == 403
    assert response.json()[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"
    assert usage(response) == (15_000, 15_000)
    sandbox.faults.clear()
    assert api.get(f"{sandbox.instance_url}/services/data/v62.0/limits").status_code == 200


def test_api_usage_survives_a_restart(tmp_path):
    sb = start(tmp_path / "crm", daily_limit=10)
    http = trusting(sb)
    http.headers["Authorization"] = f"Bearer {sb.session_id}"
    for _ in range(2):
        http.get(f"{sb.instance_url}/services/data/v62.0/limits")
    sb.stop()
    again = start(tmp_path / "crm", daily_limit=10)
    try:
        http = trusting(again)
        http.headers["Authorization"] = f"Bearer {again.session_id}"
        assert usage(http.get(f"{again.instance_url}/services/data/v62.0/limits")) == (3, 10)
        assert again.api_calls == 1
    finally:
        again.stop()


def test_expired_sessions_get_invalid_session_id(sandbox, api):
    url = f"{sandbox.instance_url}/services/data/v62.0/limits"
    assert api.get(url).status_code == 200
    sandbox.expire_sessions()
    response = api.get(url)
    assert response.status_code == 401
    assert response.json() == [
        {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}
    ]
    wrong = trusting(sandbox).get(url, headers={"Authorization": "Bearer 00Dxx!nonsense"})
    assert wrong.status_code == 401


def test_a_share_of_calls_fails_with_503_repeatably(sandbox, api):
    url = f"{sandbox.instance_url}/services/data/v62.0/limits"

    def run() -> list[int]:
        sandbox.faults.set(fail_share=0.5, seed=7)
        return [api.get(url).status_code for _ in range(20)]

    first, second = run(), run()
    assert first == second and set(first) == {200, 503} and 4 <= first.count(503) <= 16
    failed = next(r for r in [api.get(url) for _ in range(20)] if r.status_code == 503)
    assert failed.json()[0]["errorCode"] == "SERVER_UNAVAILABLE"
    assert "Sforce-Limit-Info" in failed.headers


def test_delays_and_row_locks(sandbox, sf, api):
    sandbox.faults.set(delay_share=1.0, delay_s=0.2)
    response = api.get(f"{sandbox.instance_url}/services/data/v62.0/limits")
    assert response.elapsed.total_seconds() >= 0.2
    sandbox.faults.set(lock_share=1.0)
    response = api.post(
        f"{sandbox.instance_url}/services/data/v62.0/sobjects/Account", json={"Name": "x"}
    )
    assert response.status_code == 400
    assert response.json()[0]["errorCode"] == "UNABLE_TO_LOCK_ROW"
    sandbox.faults.clear()
    assert sf.query("SELECT Id FROM Account")["totalSize"] == 0


def test_the_fault_switch_over_http(sandbox, api):
    admin = trusting(sandbox)
    url = f"{sandbox.instance_url}/sandbox/faults"
    assert admin.post(url, json={"fail_share": 1.0, "seed": 1}).status_code == 200
    assert api.get(f"{sandbox.instance_url}/services/data/v62.0/limits").status_code == 503
    assert admin.post(url, json={"fail_share": 2}).status_code == 400
    assert admin.post(url, json={"nonsense": 1}).status_code == 400
    assert admin.post(url, json={}).json()["fail_share"] == 0.0
    assert api.get(f"{sandbox.instance_url}/services/data/v62.0/limits").status_code == 200
