"""The dashboard's session and page protection: a Secure cookie over HTTPS (directly or through a
trusted proxy), a logout, a Content-Security-Policy without inline script or style, and no
framing (Flask test client)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from dashboard_support import ADMIN_TOKEN, app_of, build_runtime
from flask import Flask

from lastmile.runtime import Runtime

BEARER = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def ready(folder: Path, **overrides: object) -> tuple[Runtime, Flask]:
    runtime, _ = build_runtime(folder, **overrides)
    runtime.rules.reload()
    return runtime, app_of(runtime)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Flask:
    return ready(tmp_path_factory.mktemp("dashboard-session"))[1]


def _login(client, base_url: str = "http://localhost", headers: dict | None = None):
    return client.post(
        "/dashboard/login",
        data={"token": ADMIN_TOKEN, "next": "/dashboard"},
        base_url=base_url,
        headers=headers or {},
    )


def _session_cookie(answer) -> str:
    (cookie,) = [v for k, v in answer.headers.items() if k == "Set-Cookie"]
    return cookie


def test_over_http_the_cookie_is_httponly_and_lax_but_not_secure(app: Flask) -> None:
    cookie = _session_cookie(_login(app.test_client()))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie


def test_over_https_the_cookie_is_secure(app: Flask) -> None:
    cookie = _session_cookie(_login(app.test_client(), base_url="https://localhost"))
    assert "; Secure" in cookie


def test_behind_a_trusted_proxy_that_saw_https_the_cookie_is_secure(tmp_path: Path) -> None:
    _, proxied = ready(tmp_path, trusted_proxies=1)
    answer = _login(proxied.test_client(), headers={"X-Forwarded-Proto": "https"})
    assert "; Secure" in _session_cookie(answer)


def test_an_untrusted_forwarded_proto_does_not_make_it_secure(app: Flask) -> None:
    answer = _login(app.test_client(), headers={"X-Forwarded-Proto": "https"})
    assert "Secure" not in _session_cookie(answer)


def test_logout_ends_the_session(app: Flask) -> None:
    client = app.test_client()
    _login(client)
    assert client.get("/dashboard").status_code == 200
    page = client.get("/dashboard").get_data(as_text=True)
    assert 'action="/dashboard/logout"' in page
    answer = client.post("/dashboard/logout")
    assert answer.status_code == 302 and answer.headers["Location"] == "/dashboard/login"
    assert client.get("/dashboard").status_code == 302  # back to the login form


@pytest.mark.parametrize("path", ["/dashboard", "/dashboard/friction", "/dashboard/login"])
def test_pages_carry_a_strict_policy_and_refuse_framing(app: Flask, path: str) -> None:
    answer = app.test_client().get(path, headers=BEARER)
    assert answer.status_code == 200
    policy = answer.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
    assert "script-src" not in policy and "unsafe-inline" not in policy
    assert answer.headers["X-Frame-Options"] == "DENY"
    page = answer.get_data(as_text=True)
    assert not re.search(r"<script|<style|\sstyle=|\son[a-z]+=", page)


def test_the_style_sheet_is_served_without_the_token(app: Flask) -> None:
    answer = app.test_client().get("/dashboard/static/dashboard.css")
    assert answer.status_code == 200 and answer.content_type.startswith("text/css")
    assert "font-family" in answer.get_data(as_text=True)
