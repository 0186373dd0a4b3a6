"""Who gets in (the admin token as a bearer header or through the login form), what a refused
request sees, and that no page ever names a team under the minimum size (Flask test client)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from dashboard_support import (
    ADMIN_TOKEN,
    BIG_TEAM,
    SMALL_TEAM,
    app_of,
    build_runtime,
    loaded_runtime,
)
from flask import Flask

from lastmile.runtime import Runtime

PAGES = (
    "/dashboard",
    "/dashboard/rules/call-essentials",
    "/dashboard/friction",
    "/dashboard/digest",
)
BEARER = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def ready_app(folder: Path, **overrides: object) -> tuple[Runtime, Flask]:
    runtime, _ = build_runtime(folder, **overrides)
    runtime.rules.reload()  # loaded once, without the watcher thread
    return runtime, app_of(runtime)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Flask:
    """One app for the tests that change nothing in it (each uses its own client)."""
    return ready_app(tmp_path_factory.mktemp("dashboard-auth"))[1]


def log_in(client, token: str = ADMIN_TOKEN, next: str = "/dashboard"):
    return client.post("/dashboard/login", data={"token": token, "next": next})


@pytest.mark.parametrize("path", PAGES)
def test_a_browser_without_a_session_is_sent_to_the_login_form(app: Flask, path: str) -> None:
    answer = app.test_client().get(path + "?as_of=2026-11-28")
    assert answer.status_code == 302
    assert answer.headers["Location"].startswith("/dashboard/login?next=")
    assert "2026-11-28" in answer.headers["Location"]  # back to the same page afterwards


@pytest.mark.parametrize("path", PAGES)
def test_the_bearer_token_opens_every_page(app: Flask, path: str) -> None:
    answer = app.test_client().get(path, headers=BEARER)
    assert answer.status_code == 200
    assert answer.content_type.startswith("text/html")


@pytest.mark.parametrize("header", [f"Bearer {ADMIN_TOKEN}x", "Bearer ", f"Basic {ADMIN_TOKEN}"])
def test_a_wrong_authorization_header_is_refused_not_redirected(app: Flask, header: str) -> None:
    answer = app.test_client().get("/dashboard", headers={"Authorization": header})
    assert answer.status_code == 401
    assert "not the admin token" in answer.text


def test_the_login_form_sets_a_signed_httponly_lax_cookie_that_opens_the_pages(app: Flask) -> None:
    client = app.test_client()
    form = client.get("/dashboard/login")
    assert form.status_code == 200
    assert 'name="token"' in form.text and 'type="password"' in form.text
    answer = log_in(client, next="/dashboard/friction?as_of=2026-11-28")
    assert answer.status_code == 302
    assert answer.headers["Location"] == "/dashboard/friction?as_of=2026-11-28"
    cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert ADMIN_TOKEN not in cookie  # the cookie is signed, not encrypted: no token in it
    for path in PAGES:
        assert client.get(path).status_code == 200


def test_a_wrong_token_in_the_form_is_refused_and_lets_nobody_in(app: Flask) -> None:
    client = app.test_client()
    answer = log_in(client, token="guess")
    assert answer.status_code == 401
    assert "not the admin token" in answer.text
    assert "Set-Cookie" not in answer.headers
    assert client.get("/dashboard").status_code == 302


def test_a_forged_session_cookie_is_not_a_session(app: Flask) -> None:
    client = app.test_client()
    client.set_cookie("session", "eyJsYXN0bWlsZV9kYXNoYm9hcmQiOiJ4In0.forged.signature")
    assert client.get("/dashboard").status_code == 302


def test_a_session_ends_when_the_token_changes(tmp_path: Path) -> None:
    runtime, app = ready_app(tmp_path)
    client = app.test_client()
    log_in(client)
    assert client.get("/dashboard").status_code == 200
    runtime.settings.admin_token = type(runtime.settings.admin_token)("a-new-token")
    assert client.get("/dashboard").status_code == 302


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/dashboard", "/api/events", "javascript:x"]
)
def test_login_never_redirects_outside_the_dashboard(app: Flask, target: str) -> None:
    answer = log_in(app.test_client(), next=target)
    assert answer.status_code == 302
    assert answer.headers["Location"] == "/dashboard"


def test_without_an_admin_token_the_dashboard_says_so_and_refuses(tmp_path: Path) -> None:
    client = ready_app(tmp_path, admin_token=None)[1].test_client()
    for path in (*PAGES, "/dashboard/login"):
        answer = client.get(path)
        assert answer.status_code == 403
        assert "LASTMILE_ADMIN_TOKEN" in answer.text
    answer = client.post("/dashboard/login", data={"token": ""})
    assert answer.status_code == 403
    assert client.get("/dashboard", headers={"Authorization": "Bearer "}).status_code == 403


def test_the_app_gets_a_secret_key_when_it_has_none(app: Flask) -> None:
    assert isinstance(app.secret_key, bytes) and len(app.secret_key) >= 32


def test_a_bad_as_of_or_day_is_a_clear_400(app: Flask) -> None:
    client = app.test_client()
    answer = client.get("/dashboard?as_of=yesterday-ish", headers=BEARER)
    assert answer.status_code == 400
    assert "ISO 8601" in answer.text
    answer = client.get("/dashboard/digest?team=other&day=31-12-2026", headers=BEARER)
    assert answer.status_code == 400
    assert "day must be a date" in answer.text


def test_before_the_rules_load_the_pages_say_so(tmp_path: Path) -> None:
    runtime, _ = build_runtime(tmp_path)
    answer = app_of(runtime).test_client().get("/dashboard", headers=BEARER)
    assert answer.status_code == 503
    assert "No rules are loaded yet" in answer.text


def test_an_unknown_rule_is_a_404_page(app: Flask) -> None:
    answer = app.test_client().get("/dashboard/rules/no-such-rule", headers=BEARER)
    assert answer.status_code == 404
    assert "no rule by that name" in answer.text


# -- privacy, with the scenario's figures through the real pipeline ------------------------------


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Runtime, Flask]]:
    with loaded_runtime(tmp_path_factory.mktemp("dashboard-privacy")) as pair:
        yield pair


def every_page(runtime: Runtime) -> list[str]:
    rules = [rule.id for rule in runtime.rules().rules]
    as_ofs = ("", "?as_of=2026-11-18", "?as_of=2026-11-28")
    pages = [p + a for p in ("/dashboard", "/dashboard/friction") for a in as_ofs]
    pages += [f"/dashboard/rules/{rule}?as_of=2026-11-28" for rule in rules]
    for team in (BIG_TEAM, "other", SMALL_TEAM, SMALL_TEAM.lower(), "nobody"):
        for day in ("2026-11-18", "2026-11-25"):
            pages.append(f"/dashboard/digest?as_of=2026-11-28&team={team}&day={day}")
    return [*pages, "/dashboard/digest", "/dashboard/login", "/dashboard/nothing-here"]


def test_no_page_names_the_small_team(loaded: tuple[Runtime, Flask]) -> None:
    runtime, app = loaded
    client = app.test_client()
    seen_big = False
    for page in every_page(runtime):
        answer = client.get(page, headers=BEARER)
        assert answer.status_code in (200, 404), page
        assert SMALL_TEAM.lower() not in answer.text.lower(), page
        assert "Zeta" not in answer.text, page
        seen_big |= BIG_TEAM in answer.text
    assert seen_big  # the pages do name teams: the big one


def test_asking_for_the_small_team_answers_like_an_unknown_team(
    loaded: tuple[Runtime, Flask],
) -> None:
    _, app = loaded
    client = app.test_client()
    small = client.get(f"/dashboard/digest?team={SMALL_TEAM}&day=2026-11-18", headers=BEARER)
    unknown = client.get("/dashboard/digest?team=Nobody+Here&day=2026-11-18", headers=BEARER)
    assert small.status_code == unknown.status_code == 404
    assert strip_ids(small.text) == strip_ids(unknown.text)


def test_the_team_picker_offers_the_teams_the_figures_name_and_other(
    loaded: tuple[Runtime, Flask],
) -> None:
    _, app = loaded
    page = app.test_client().get("/dashboard/digest?as_of=2026-11-28", headers=BEARER).text
    assert re.findall(r'<option value="([^"]*)"', page) == [BIG_TEAM, "other"]


def test_no_page_shows_a_person(loaded: tuple[Runtime, Flask]) -> None:
    runtime, app = loaded
    client = app.test_client()
    for page in every_page(runtime):
        text = client.get(page, headers=BEARER).text
        assert not re.search(r"005[0-9A-Za-z]{12}", text), page  # no user id, 15 or 18 chars


def strip_ids(html: str) -> str:
    return re.sub(r"[0-9a-f]{32}", "", html)
