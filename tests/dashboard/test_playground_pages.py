"""The playground page (Flask test client over the scenario's store): a draft rule pack's
problems with line and column, its backtest figures equal to `backtest.run`'s, nothing written,
the limits (draft size, window, event cap, one run at a time) and the sign-in it needs."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from dashboard_support import ADMIN_TOKEN, AS_OF, ROOT, build_runtime, loaded_runtime
from flask import Flask
from flask.testing import FlaskClient
from structlog.testing import capture_logs

from lastmile import backtest
from lastmile.rules import RuleFileError, load_text
from lastmile.runtime import Runtime
from lastmile.store.tables import metadata
from lastmile.webhooks import playground
from lastmile.webhooks.charts import duration, percent

BEARER = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
SINCE = datetime(2026, 11, 16, tzinfo=UTC)
WINDOW = {"from": "2026-11-16", "to": AS_OF.isoformat()}
CALLS = (ROOT / "examples" / "rules" / "client-calls.yaml").read_text(encoding="utf-8")
LIVE_REQUIRE = "require: [Description, Outcome__c, Next_Step__c]"
# Asking for the outcome only: fewer occasions with something missing.
GOOD = CALLS.replace(LIVE_REQUIRE, "require: [Outcome__c]")
BAD = CALLS.replace(LIVE_REQUIRE, "requir: [Description, Outcome__c, Next_Step__c]")
COUNTS = ("occasions", "met_first_time", "met_after_prompt", "missed", "withdrawn", "open")


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Runtime, Flask]]:
    assert LIVE_REQUIRE in CALLS and GOOD != CALLS
    with loaded_runtime(tmp_path_factory.mktemp("playground")) as pair:
        yield pair


@pytest.fixture
def client(loaded: tuple[Runtime, Flask]) -> FlaskClient:
    """A browser signed in through the login form."""
    client = loaded[1].test_client()
    answer = client.post("/dashboard/login", data={"token": ADMIN_TOKEN, "next": "/dashboard"})
    assert answer.status_code == 302
    return client


def form_token(client: FlaskClient) -> str:
    page = client.get("/dashboard/playground").get_data(as_text=True)
    return re.search(r'name="form_token" value="([0-9a-f]+)"', page).group(1)


def run(client: FlaskClient, draft: str, **fields: str) -> tuple[int, str]:
    data = {"form_token": form_token(client), "draft": draft, **WINDOW, **fields}
    answer = client.post("/dashboard/playground", data=data)
    return answer.status_code, answer.get_data(as_text=True)


def textarea(page: str) -> str:
    """The draft as the page's textarea holds it (a browser drops the newline after the tag)."""
    return html.unescape(re.search(r"<textarea[^>]*>\n(.*?)</textarea>", page, re.S).group(1))


class Cells(HTMLParser):
    """The `data-key` cells of each `tr[data-rule]` of the table with the given id."""

    def __init__(self, table: str) -> None:
        super().__init__()
        self.table, self.inside, self.rows = table, False, {}
        self.row: dict[str, str] | None = None
        self.key: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "table":
            self.inside = a.get("id") == self.table
        elif self.inside and tag == "tr" and "data-rule" in a:
            self.row = self.rows.setdefault(a["data-rule"], {})
        elif self.row is not None and tag == "td" and "data-key" in a:
            self.key = a["data-key"]
            self.row[self.key] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "td":
            self.key = None
        elif tag == "table":
            self.inside, self.row = False, None

    def handle_data(self, data: str) -> None:
        if self.key is not None:
            self.row[self.key] += data

    @classmethod
    def of(cls, page: str, table: str) -> dict[str, dict[str, str]]:
        parser = cls(table)
        parser.feed(page)
        return {rule: {k: v.strip() for k, v in row.items()} for rule, row in parser.rows.items()}


def shown(row: dict[str, Any]) -> dict[str, str]:
    ttc = row["time_to_comply_s"]
    return {
        "rule": row["rule"],
        **{key: str(row[key]) for key in COUNTS},
        "compliance": percent(row["compliance"]),
        "median": duration(ttc["median"] if ttc else None),
    }


def row_counts(runtime: Runtime) -> dict[str, int]:
    with runtime.store.reading() as conn:
        return {
            t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
            for t in metadata.sorted_tables
        }


def test_a_bad_draft_shows_its_problems_at_line_and_column(client: FlaskClient) -> None:
    status, page = run(client, BAD)
    assert status == 422
    with pytest.raises(RuleFileError) as caught:
        load_text(BAD, playground.DRAFT_PATH)
    lines = BAD.splitlines()
    [line] = [n for n, text in enumerate(lines, 1) if "requir:" in text]
    column = lines[line - 1].index("requir:") + 1
    assert any((p.line, p.column) == (line, column) for p in caught.value.problems)
    for problem in caught.value.problems:
        where = f"draft.yaml:{problem.line}:{problem.column}"
        assert f'<code class="where">{where}</code>' in page
        assert problem.message in html.unescape(page)
    # The line is quoted, with a caret under the column.
    quoted = f"{line:4d} | {lines[line - 1]}\n     | {' ' * (column - 1)}^"
    assert html.escape(quoted, quote=False) in page
    assert 'id="summary"' not in page  # nothing was replayed
    # The draft comes back as typed: nothing the admin wrote is lost.
    assert textarea(page) == BAD


def test_a_good_draft_shows_the_figures_the_backtest_gives(
    client: FlaskClient, loaded: tuple[Runtime, Flask]
) -> None:
    runtime, _ = loaded
    draft = load_text(GOOD, playground.DRAFT_PATH)
    expected = backtest.run(runtime.store, draft, runtime.settings, AS_OF, SINCE, explain=3)
    answer = expected.to_json(SINCE, AS_OF)
    assert any(row["occasions"] for row in answer["rules"]), "the scenario must give figures"
    before = row_counts(runtime)
    status, page = run(client, GOOD.replace("\n", "\r\n"))  # as a browser sends a textarea
    assert status == 200, page
    assert row_counts(runtime) == before  # nothing written to the store
    assert Cells.of(page, "rules") == {row["rule"]: shown(row) for row in answer["rules"]}
    would = Cells.of(page, "would")
    assert {rule: {k: cells[k] for k in ("prompts", "tasks", "met_later")} for rule, cells in
            would.items()} == {
        row["rule"]: {k: str(row[k]) for k in ("prompts", "tasks", "met_later")}
        for row in answer["backtest"]["rules"]
    }  # fmt: skip
    [essentials] = [r for r in answer["rules"] if r["rule"] == "call-essentials"]
    assert would["call-essentials"]["fields_missing"] == ", ".join(
        f"{field} {n}" for field, n in essentials["fields_missing"].items()
    )
    assert essentials["fields_missing"].keys() <= {"Outcome__c"}
    events = answer["backtest"]["events"]
    assert f'data-events="{events}"' in page and events > 0
    # The traces of the sample events, with each condition marked.
    assert page.count('<section class="trace"') == len(expected.samples) > 0
    for event, decision in expected.samples:
        assert f'data-record="{event.record_id}"' in page
        for trace in decision.trace:
            mark = "✓" if trace.matched else "✗"
            assert re.search(
                rf'data-rule="{trace.rule}" data-matched="{str(trace.matched).lower()}">\s*'
                rf'<span class="mark">{mark}</span> <strong>{trace.rule}</strong>',
                page,
            )
    assert "(value: <code>" in page  # a leaf condition shows the value it saw


def test_nothing_is_saved_or_switched_on(
    client: FlaskClient, loaded: tuple[Runtime, Flask]
) -> None:
    runtime, _ = loaded
    version, before = runtime.rules().version, row_counts(runtime)
    renamed = GOOD.replace("id: call-essentials", "id: call-outcome-only")
    status, _ = run(client, renamed)
    assert status == 200
    assert row_counts(runtime) == before
    assert runtime.rules().version == version and runtime.rules().get("call-outcome-only") is None


def test_no_draft_or_field_value_is_logged(client: FlaskClient) -> None:
    values = ("Spoke about the offer.", "Interested", "Call back")  # in the scenario's events
    with capture_logs() as logs:
        assert run(client, GOOD)[0] == 200
        assert run(client, BAD)[0] == 422
    said = repr(logs)
    assert {entry["event"] for entry in logs} >= {"playground_backtest", "playground_draft_refused"}
    assert not any(value in said for value in values) and "requir:" not in said


def test_the_playground_needs_the_admin(loaded: tuple[Runtime, Flask]) -> None:
    runtime, app = loaded
    anonymous = app.test_client()
    answer = anonymous.get("/dashboard/playground")
    assert answer.status_code == 302 and "/dashboard/login" in answer.headers["Location"]
    before = row_counts(runtime)
    answer = anonymous.post("/dashboard/playground", data={"draft": GOOD, **WINDOW})
    assert answer.status_code == 302 and "/dashboard/login" in answer.headers["Location"]
    wrong = {"Authorization": "Bearer not-the-token"}
    answer = anonymous.post("/dashboard/playground", data={"draft": GOOD}, headers=wrong)
    assert answer.status_code == 401 and 'id="summary"' not in answer.get_data(as_text=True)
    # The bearer header cannot come from another site: no form token is needed with it.
    answer = anonymous.post("/dashboard/playground", data={"draft": GOOD, **WINDOW}, headers=BEARER)
    assert answer.status_code == 200 and 'id="summary"' in answer.get_data(as_text=True)
    assert row_counts(runtime) == before


def test_a_session_post_without_the_form_token_is_refused(client: FlaskClient) -> None:
    for token in (None, "0" * 64):
        data = {"draft": GOOD, **WINDOW, **({"form_token": token} if token else {})}
        answer = client.post("/dashboard/playground", data=data)
        assert answer.status_code == 403
        assert 'id="summary"' not in answer.get_data(as_text=True)


def test_the_draft_starts_from_a_live_pack_or_an_example(client: FlaskClient) -> None:
    page = client.get("/dashboard/playground?start=rule:call-essentials").get_data(as_text=True)
    assert textarea(page) == CALLS
    leads = (ROOT / "examples" / "rules" / "leads.yaml").read_text(encoding="utf-8")
    page = client.get("/dashboard/playground?start=example:leads").get_data(as_text=True)
    assert textarea(page) == leads
    for start in ("example:../../pyproject", "rule:no-such-rule", "file:/etc/passwd"):
        answer = client.get(f"/dashboard/playground?start={start}")
        assert answer.status_code in (400, 404)
        assert "<textarea" not in answer.get_data(as_text=True)


def test_the_window_is_checked(client: FlaskClient) -> None:
    status, page = run(client, GOOD, **{"from": "2026-11-28", "to": "2026-11-16"})
    assert status == 400 and "From must be before its To" in page
    status, page = run(client, GOOD, **{"from": "last tuesday"})
    assert status == 400 and "is not a time" in html.unescape(page)
    assert textarea(page) == GOOD  # the draft is kept


def test_the_default_window_is_the_last_four_weeks(
    client: FlaskClient, loaded: tuple[Runtime, Flask]
) -> None:
    data = {"form_token": form_token(client), "draft": GOOD}
    page = client.post("/dashboard/playground?as_of=2026-11-28", data=data).get_data(as_text=True)
    assert '<time id="window-from">2026-10-31T00:00:00Z</time>' in page
    assert '<time id="window-to">2026-11-28T00:00:00Z</time>' in page


def test_more_events_than_the_cap_are_refused_before_any_is_replayed(
    client: FlaskClient, loaded: tuple[Runtime, Flask], monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime, _ = loaded
    events = backtest.run(runtime.store, runtime.rules(), runtime.settings, AS_OF, SINCE).events
    monkeypatch.setattr(playground, "MAX_EVENTS", events - 1)
    status, page = run(client, GOOD)
    assert status == 422 and 'id="summary"' not in page
    assert f"more than {events - 1:,} stored events" in page and "lastmile backtest" in page
    monkeypatch.setattr(playground, "MAX_EVENTS", events)
    assert run(client, GOOD)[0] == 200


def test_one_backtest_at_a_time(client: FlaskClient) -> None:
    data = {"form_token": form_token(client), "draft": GOOD}
    with playground._BUSY:  # another request's backtest is running
        answer = client.post("/dashboard/playground", data=data)
    assert answer.status_code == 503
    assert "Another backtest is running" in answer.get_data(as_text=True)
    assert client.post("/dashboard/playground", data=data).status_code == 200


def test_a_draft_larger_than_a_rule_file_is_refused(tmp_path: Path) -> None:
    runtime, _ = build_runtime(tmp_path, max_rule_file_bytes=15_000)
    runtime.rules.reload()
    client = runtime.app().test_client()
    client.post("/dashboard/login", data={"token": ADMIN_TOKEN, "next": "/dashboard"})
    big = GOOD + "#" * 5_000
    status, page = run(client, big)
    size = len(big.encode())
    assert status == 422 and f"the draft is {size} bytes; the limit is 15000" in page
    answer = client.post("/dashboard/playground", data={"draft": "#" * 100_000})
    assert answer.status_code == 413  # refused before the form is read
